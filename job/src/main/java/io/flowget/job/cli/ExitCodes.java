package io.flowget.job.cli;

import io.flowget.job.run.RunSummary;

/**
 * The exit statuses of {@code flowget run}, {@code demo}, {@code job} and {@code diff} (CONTRACT.md): 0 every request
 * OK or NOT_MODIFIED, 2 at least one FAILED, 64 usage error, 70 internal error. {@code flowget canary} has its own
 * verdict statuses ({@code Canary.EXIT_PASS}/{@code EXIT_FAIL}) beside 64 and 70; {@code flowget daemon} adds 1 (no
 * daemon) and {@link #DAEMON_BUSY}.
 *
 * <p>Constants only; thread-safe.
 */
public final class ExitCodes {
    /** Every request OK or NOT_MODIFIED (or, for the long-running commands, a normal end). */
    public static final int OK = 0;
    /** At least one request FAILED. */
    public static final int FAILED = 2;
    /** Bad flags or an unreadable input file ({@link UsageException}). */
    public static final int USAGE = 64;
    /** Anything else that went wrong. */
    public static final int INTERNAL = 70;
    /**
     * {@code flowget daemon stop} only: the daemon's current run did not end within {@code --wait-for-run}, so the
     * daemon was not stopped and goes on serving (sysexits' EX_TEMPFAIL: try again later).
     */
    public static final int DAEMON_BUSY = 75;
    /**
     * Between the launcher and its small client JVM only (never a user's status): the daemon the launcher saw did not
     * answer, run the command again with the full JVM.
     */
    public static final int RERUN_COLD = 111;

    private ExitCodes() {}

    /** The status of a finished run: {@link #FAILED} when any request failed, else {@link #OK}. */
    public static int of(RunSummary summary) {
        return summary.failed() > 0 ? FAILED : OK;
    }
}
