package io.flowget.job.run;

import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.PrintStream;
import java.util.Locale;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * The progress line of {@code flowget run}: requests done/total, failures, bytes and rates, and — once the job
 * runs — why the rest waits: requests in flight, requests waiting (queued, ready, or waiting for a retry), and
 * hosts paused (Retry-After), throttled (adaptive limit below its maximum) or with an open circuit, summed over the
 * fetch subtasks ({@link FetchGauges}). For example:
 *
 * <pre>
 * 120/500 done, 3 failed, 12.0 MiB, 40 files/s, 4.0 MiB/s; 16 in flight, 364 waiting; hosts: 1 paused, 2 throttled, 0 circuit open
 * </pre>
 *
 * <p>{@link Mode#LIVE} (stdout is a terminal) redraws the line in place at most every half second;
 * {@link Mode#PERIODIC} (stdout is not a terminal) logs it every {@value #PERIODIC_SECONDS} s at INFO, i.e. on
 * stderr, so stdout keeps only the summary; {@link Mode#OFF} ({@code --quiet}) prints nothing. The command prints
 * the summary line at the end either way.
 *
 * <p>Not thread-safe: used by the run's thread only.
 */
final class Progress {
    private static final Logger LOG = LoggerFactory.getLogger(Progress.class);
    private static final long LIVE_EVERY_NANOS = 500_000_000L;
    static final int PERIODIC_SECONDS = 10;

    /** Where and how often the line is shown. */
    enum Mode {
        LIVE,
        PERIODIC,
        OFF
    }

    private final int total;
    private final Mode mode;
    private final PrintStream out;
    private final Consumer<String> periodic;
    private final Supplier<Optional<FetchGauges.Totals>> gauges;
    private final long start = System.nanoTime();
    private long lastPrint;
    private int done;
    private int failed;
    private long bytes;

    Progress(int total, Mode mode, PrintStream out, Supplier<Optional<FetchGauges.Totals>> gauges) {
        this(total, mode, out, gauges, line -> LOG.info("progress: {}", line));
    }

    /** @param periodic where {@link Mode#PERIODIC} lines go (the log by default) */
    Progress(
            int total,
            Mode mode,
            PrintStream out,
            Supplier<Optional<FetchGauges.Totals>> gauges,
            Consumer<String> periodic) {
        this.total = total;
        this.mode = mode;
        this.out = out;
        this.gauges = gauges;
        this.periodic = periodic;
        this.lastPrint = start;
    }

    void add(FetchResult r) {
        done++;
        if (r.status == ResultStatus.FAILED) {
            failed++;
        }
        if (r.bytes != null) {
            bytes += r.bytes;
        }
    }

    void maybePrint(boolean last) {
        if (mode == Mode.OFF) {
            return;
        }
        long now = System.nanoTime();
        long every = mode == Mode.LIVE ? LIVE_EVERY_NANOS : PERIODIC_SECONDS * 1_000_000_000L;
        if (!last && now - lastPrint < every) {
            return;
        }
        lastPrint = now;
        if (mode == Mode.PERIODIC) {
            if (!last) { // the summary line follows at the end
                periodic.accept(line(now, gauges.get()));
            }
            return;
        }
        out.print("\r\033[K" + line(now, last ? Optional.empty() : gauges.get()));
        if (last) {
            out.println();
        }
        out.flush();
    }

    /** The line at {@code nowNanos}; the waiting part only when the gauges are known. */
    String line(long nowNanos, Optional<FetchGauges.Totals> waiting) {
        double secs = Math.max(1e-3, (nowNanos - start) / 1e9);
        String line =
                String.format(
                        Locale.ROOT,
                        "%d/%d done, %d failed, %s, %.0f files/s, %s/s",
                        done,
                        total,
                        failed,
                        Sizes.human(bytes),
                        done / secs,
                        Sizes.human((long) (bytes / secs)));
        return waiting.map(w -> line + waiting(w)).orElse(line);
    }

    /** The waiting part of the line. */
    static String waiting(FetchGauges.Totals w) {
        return String.format(
                Locale.ROOT,
                "; %d in flight, %d waiting; hosts: %d paused, %d throttled, %d circuit open",
                w.inFlight(),
                w.waiting(),
                w.paused(),
                w.throttled(),
                w.circuitOpen());
    }
}
