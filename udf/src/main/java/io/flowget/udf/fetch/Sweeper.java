package io.flowget.udf.fetch;

import io.flowget.udf.http.Attempt;

import java.time.Duration;
import java.util.Collection;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;

/**
 * The fetch operator's heartbeat: every {@value #SWEEP_MILLIS} ms a daemon thread asks the operator to post one
 * sweep mail (never more than one waiting), in which the operator enforces attempt timeouts
 * ({@link #enforceTimeouts}), promotes due retries and refreshes metrics. Processing-time timers would do for the
 * retries, but they stop firing once a bounded input has ended, and {@code finish()} must keep moving.
 *
 * <p>Thread-safe: the timer thread calls {@code post}; the operator calls {@link #swept} from the mail.
 */
final class Sweeper implements AutoCloseable {
    static final long SWEEP_MILLIS = 200;

    private final ScheduledExecutorService timer;
    private final AtomicBoolean pending = new AtomicBoolean();

    /** Starts the heartbeat; {@code post} posts the sweep mail and returns false if the mailbox refused it. */
    Sweeper(int subtask, BooleanSupplier post) {
        timer = Executors.newSingleThreadScheduledExecutor(daemon("flowget-sweeper-" + subtask));
        timer.scheduleWithFixedDelay(
                () -> {
                    if (pending.compareAndSet(false, true) && !post.getAsBoolean()) {
                        pending.set(false);
                    }
                },
                SWEEP_MILLIS,
                SWEEP_MILLIS,
                TimeUnit.MILLISECONDS);
    }

    /** The sweep mail ran: the next tick may post another. */
    void swept() {
        pending.set(false);
    }

    /**
     * Cancels attempts past their deadline (the whole-attempt timeout or the request's own deadline), without
     * response headers within the response timeout, or whose body crawls ({@link LowSpeedGuard}); their outcomes
     * come back as failures with the reason.
     */
    static void enforceTimeouts(
            Collection<Attempt> inFlight,
            long nowMillis,
            long requestTimeoutMillis,
            long responseTimeoutMillis,
            LowSpeedGuard lowSpeed) {
        for (Attempt a : inFlight) {
            if (nowMillis >= a.deadlineAt) {
                a.cancel(
                        a.deadlineAt - a.startedAt >= requestTimeoutMillis
                                ? "timeout: attempt exceeded " + Failures.seconds(Duration.ofMillis(requestTimeoutMillis))
                                : "deadline exceeded");
            } else if (!a.headersReceived && nowMillis - a.hopStartedAt >= responseTimeoutMillis) {
                a.cancel(
                        "timeout: no response headers within "
                                + Failures.seconds(Duration.ofMillis(responseTimeoutMillis)));
            } else if (a.cancelReason == null && lowSpeed.check(a, nowMillis)) {
                a.cancel(lowSpeed.reason());
            }
        }
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }

    static ThreadFactory daemon(String name) {
        return r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        };
    }
}
