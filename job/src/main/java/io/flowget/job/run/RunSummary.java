package io.flowget.job.run;

import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;

import java.util.List;
import java.util.Locale;

/**
 * The totals of a finished {@code flowget run} and its one summary line: requests by terminal status, bytes of the
 * files stored, and the time split into start-up (until the job ran) and steady state (until the last result).
 * The command's exit status follows from {@link #failed()} ({@code io.flowget.job.cli.ExitCodes#of}).
 *
 * <p>An immutable value; built once by {@link LocalRun} at the end of a run, readable from any thread.
 *
 * @param bytes bytes of the files stored by OK results (NOT_MODIFIED files were already there)
 * @param seconds from the start of the run to now
 * @param startupSeconds from the start of the run until the job was first seen running
 * @param steadySeconds from then until the last result arrived
 * @param firstResultSeconds from the start of the run until the first result was visible (committed); 0 if none
 * @param slowest the slowest requests and why ({@link #slowest(List, int)}), empty when there were none
 */
public record RunSummary(
        int requests,
        int ok,
        int notModified,
        int failed,
        long bytes,
        double seconds,
        double startupSeconds,
        double steadySeconds,
        double firstResultSeconds,
        String slowest) {

    /** How many of the slowest requests the summary names. */
    static final int SLOWEST = 3;

    /**
     * Counts {@code results} and closes the clock now.
     *
     * @param startedNanos {@link System#nanoTime()} at the start of the run
     * @param runningNanos when the job was first seen running; 0 if never (then: now)
     * @param doneNanos when the last result arrived; 0 if none (then: now)
     * @param firstNanos when the first result arrived; 0 if none
     */
    static RunSummary of(
            List<FetchResult> results, long startedNanos, long runningNanos, long doneNanos, long firstNanos) {
        int ok = 0;
        int nm = 0;
        int failed = 0;
        long bytes = 0;
        for (FetchResult r : results) {
            if (r.status == ResultStatus.OK) {
                ok++;
            } else if (r.status == ResultStatus.NOT_MODIFIED) {
                nm++;
            } else {
                failed++;
            }
            if (r.bytes != null && r.status == ResultStatus.OK) {
                bytes += r.bytes;
            }
        }
        long end = System.nanoTime();
        long running = runningNanos == 0 ? end : runningNanos;
        long last = doneNanos == 0 ? end : doneNanos;
        return new RunSummary(
                results.size(),
                ok,
                nm,
                failed,
                bytes,
                (end - startedNanos) / 1e9,
                (running - startedNanos) / 1e9,
                Math.max(0, last - running) / 1e9,
                firstNanos == 0 ? 0 : (firstNanos - startedNanos) / 1e9,
                slowest(results, SLOWEST));
    }

    /**
     * The {@code n} requests that took longest (their {@code elapsed_ms}) and why, e.g. {@code slowest: line-7
     * 92.4 s FAILED timeout: no progress for 60s over 2 attempts (last: no data for 30s); line-3 12.0 s OK, 3
     * attempts}; empty when no result has a time.
     */
    static String slowest(List<FetchResult> results, int n) {
        List<FetchResult> timed = new java.util.ArrayList<>();
        for (FetchResult r : results) {
            if (r.elapsedMs != null) {
                timed.add(r);
            }
        }
        timed.sort(java.util.Comparator.comparingLong((FetchResult r) -> r.elapsedMs).reversed());
        StringBuilder sb = new StringBuilder();
        for (FetchResult r : timed.subList(0, Math.min(n, timed.size()))) {
            sb.append(sb.length() == 0 ? "slowest: " : "; ")
                    .append(r.id)
                    .append(' ')
                    .append(String.format(Locale.ROOT, "%.1f s ", r.elapsedMs / 1000.0))
                    .append(r.status)
                    .append(r.error != null ? " " + r.error : "")
                    .append(r.attempts != null && r.attempts > 1 ? ", " + r.attempts + " attempts" : "");
        }
        return sb.toString();
    }

    /** Files per second once the job was running: the per-file cost without JVM/broker/cluster start. */
    public double steadyFilesPerSecond() {
        return steadySeconds > 0 ? requests / steadySeconds : 0;
    }

    public double steadyMbPerSecond() {
        return steadySeconds > 0 ? bytes / 1048576.0 / steadySeconds : 0;
    }

    /**
     * The summary line the command prints at the end (without line break), e.g. {@code flowget: 3 requests: 2 OK,
     * 0 NOT_MODIFIED, 1 FAILED; 1.5 MiB in 9.3 s (0 files/s, 0.2 MiB/s) startup_s=6.10 steady_files_per_s=0.9
     * steady_mb_per_s=0.5 first_result_s=7.2}; scripts and the README benchmarks read its fields.
     */
    public String line() {
        double rate = seconds > 0 ? requests / seconds : 0;
        return String.format(
                Locale.ROOT,
                "flowget: %d requests: %d OK, %d NOT_MODIFIED, %d FAILED; %.1f MiB in %.1f s (%.0f files/s, %.1f MiB/s)"
                        + " startup_s=%.2f steady_files_per_s=%.1f steady_mb_per_s=%.1f first_result_s=%.2f",
                requests,
                ok,
                notModified,
                failed,
                bytes / 1048576.0,
                seconds,
                rate,
                bytes / 1048576.0 / Math.max(seconds, 1e-3),
                startupSeconds,
                steadyFilesPerSecond(),
                steadyMbPerSecond(),
                firstResultSeconds);
    }
}
