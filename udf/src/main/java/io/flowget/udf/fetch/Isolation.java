package io.flowget.udf.fetch;

import io.flowget.udf.model.FetchRequest;

import org.apache.flink.util.function.ThrowingRunnable;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Request isolation (issue 12, the charter's "one request's trouble is one request's result"): runs every mail and
 * timer ({@link #survive}) and every step of one request's handling ({@link #isolated}) so that an exception ends
 * at most that request — FAILED {@code internal error: <class>: <message>}, logged once with its id and URL,
 * counted in {@code internalErrors} — and the operator goes on. Only a broken runtime
 * ({@link InternalErrors#brokenRuntime}) is rethrown and fails the task. It decides and logs; the request is ended
 * through the {@link Ending}s the operator passes in ({@link RequestEnds}: setting the key, emitting, dropping state).
 *
 * <p>Not thread-safe: task thread only (the operator's mails, timers and {@code processElement}).
 */
final class Isolation {
    private static final Logger LOG = LoggerFactory.getLogger(FetchOperator.class);

    /** How the operator ends a request that hit an internal error (task thread, any current key). */
    @FunctionalInterface
    interface Ending {
        void end(Scheduler.Host h, Scheduler.Active act, Integer httpStatus, String reason) throws Exception;
    }

    private final FetchMetrics metrics;
    private final Ending fail;
    private final Ending abandon;

    /**
     * {@code fail} is the usual FAILED end (staging file discarded, result emitted, state and timers dropped);
     * {@code abandon} the by-hand end when {@code fail} itself broke (attempts, permits and state dropped, result
     * emitted).
     */
    Isolation(FetchMetrics metrics, Ending fail, Ending abandon) {
        this.metrics = metrics;
        this.fail = fail;
        this.abandon = abandon;
    }

    /**
     * The last net under every mail and timer: an exception that no request's {@link #isolated} step claimed is
     * logged and the operator goes on; only a broken runtime is rethrown.
     */
    void survive(String what, ThrowingRunnable<? extends Exception> work) throws Exception {
        try {
            work.run();
        } catch (Exception e) {
            if (InternalErrors.brokenRuntime(e)) {
                throw e;
            }
            metrics.internalError();
            LOG.error("Internal error in {}; the operator goes on", what, e);
        }
    }

    /**
     * Runs one step of one request's handling. Whatever it throws is that request's trouble: the request ends
     * FAILED with {@code internal error: <class>: <message>}, its attempts, permits and state are dropped, and the
     * operator goes on. Only a broken runtime is rethrown.
     */
    void isolated(Scheduler.Host h, Scheduler.Active act, ThrowingRunnable<? extends Exception> step)
            throws Exception {
        try {
            step.run();
        } catch (Exception e) {
            if (InternalErrors.brokenRuntime(e)) {
                throw e;
            }
            internalError(h, act, e);
        }
    }

    /** Ends the request of {@code act} FAILED after internal error {@code e} (logged once, with id and URL). */
    private void internalError(Scheduler.Host h, Scheduler.Active act, Exception e) throws Exception {
        metrics.internalError();
        FetchRequest req = act.d.request;
        LOG.warn("Internal error on request {} ({}); it ends FAILED, the operator goes on", req.id, req.url, e);
        String reason = InternalErrors.reason(e);
        try {
            fail.end(h, act, act.d.lastHttpStatus, reason);
        } catch (Exception again) {
            if (InternalErrors.brokenRuntime(again)) {
                throw again;
            }
            // The failure path itself broke (e.g. the staging file cannot be named): drop what is left by hand.
            LOG.warn("Ending request {} without its usual clean-up", req.id, again);
            abandon.end(h, act, act.d.lastHttpStatus, reason);
        }
    }
}
