package io.flowget.udf.fetch;

import io.flowget.udf.http.Attempt;
import io.flowget.udf.model.FetchRequest;

/**
 * The two wall-clock bounds of a request, kept as processing-time timers of the timer service
 * {@value #TIMER_SERVICE} (keyed by host, namespaced by the request's sequence number): its {@code deadline} and
 * its no-progress budget ({@code flowget.fetch.no-progress-budget}). It decides when a timer is registered, moved
 * or deleted, keeps the no-progress clock of each download, and says what a firing timer means
 * ({@link #expired}); the operator owns the timer service and registers and deletes through the {@link Timers} it
 * passes in (the only class that touches timers), and applies the result. The service name is in savepoints.
 *
 * <p>Not thread-safe: task thread only; every call has the request's host as the current key.
 */
final class Deadlines {
    /** The timer service of deadlines and no-progress budgets; its timers are in savepoints: never rename. */
    static final String TIMER_SERVICE = "fetch-deadlines";
    /**
     * A failed attempt that went this long without progress starts the download's no-progress clock, which then
     * also runs while it waits for its next attempt (fast failures, like a 500 or a 503 with Retry-After, do not).
     */
    static final long STALL_CLOCK_MILLIS = 1_000;

    /** The operator's side: the timer service {@value #TIMER_SERVICE}, for the current key. */
    interface Timers {
        void register(long seq, long at);

        void delete(long seq, long at);
    }

    private final long noProgressBudgetMillis;
    private final Timers timers;

    Deadlines(long noProgressBudgetMillis, Timers timers) {
        this.noProgressBudgetMillis = noProgressBudgetMillis;
        this.timers = timers;
    }

    /**
     * A request was queued as {@code seq}: a deadline is a timer, so the request fails when it passes, wherever it
     * waits. Processing time is the wall clock in a job, the clock of request deadlines.
     */
    void admitted(long seq, FetchRequest req) {
        if (req.deadline != null) {
            timers.register(seq, req.deadline);
        }
    }

    /** The request of {@code act} ended: its deadline and budget timers go. */
    void ended(Scheduler.Active act) {
        if (act.d.request.deadline != null) {
            timers.delete(act.seq, act.d.request.deadline);
        }
        deleteBudgetTimer(act);
    }

    /** The download made progress (a chunk stored): its no-progress budget starts afresh. */
    void progressed(Scheduler.Active act) {
        act.stalledMillis = 0;
        act.stallSince = 0;
        deleteBudgetTimer(act);
    }

    /**
     * Attempt {@code a} ended without progress: its stalled time counts against the budget, and a stall of
     * {@value #STALL_CLOCK_MILLIS} ms or more starts the clock that also runs while the next attempt waits.
     */
    void stalled(Scheduler.Active act, Attempt a, long wallNow) {
        long stalled = a.stalledMillis(wallNow);
        act.stalledMillis += stalled;
        if (act.stallSince == 0 && stalled >= STALL_CLOCK_MILLIS) {
            act.stallSince = a.progressMark; // from here on, waiting for the next attempt counts too
        }
    }

    /** How long the download has gone without progress, as the retry rules weigh it. */
    static long noProgressMillis(Scheduler.Active act, long wallNow) {
        return Math.max(act.stalledMillis, act.stallSince > 0 ? wallNow - act.stallSince : 0);
    }

    /**
     * The download waits for a retry: once its clock runs, the budget runs on while it waits (backoff, a paused or
     * busy host), and a timer at the budget's end ends it in time.
     */
    void armBudget(Scheduler.Active act) {
        if (act.stallSince > 0 && noProgressBudgetMillis > 0) {
            long at = act.stallSince + noProgressBudgetMillis;
            if (act.budgetTimerAt != at) {
                deleteBudgetTimer(act);
                timers.register(act.seq, at);
                act.budgetTimerAt = at;
            }
        }
    }

    /**
     * A timer of the download's sequence number fired at {@code at}: the FAILED end it means — the no-progress
     * budget ran out while it waited for (or ran) its next attempt, or its deadline passed, wherever it waits — or
     * null for a timer that no longer applies.
     */
    static Decision.Fail expired(Scheduler.Active act, long at) {
        Download d = act.d;
        if (act.budgetTimerAt == at && act.stallSince > 0) {
            return new Decision.Fail(
                    d.lastHttpStatus, OutcomeRules.noProgress(at - act.stallSince, d.attempts, d.lastError));
        }
        if (d.request.deadline != null && d.request.deadline == at) {
            return new Decision.Fail(d.lastHttpStatus, OutcomeRules.deadlineExceeded(d));
        }
        return null;
    }

    /** The FAILED reason of a request whose deadline passed while it was still queued. */
    static String expiredInQueue() {
        return "deadline exceeded";
    }

    private void deleteBudgetTimer(Scheduler.Active act) {
        if (act.budgetTimerAt > 0) {
            timers.delete(act.seq, act.budgetTimerAt);
            act.budgetTimerAt = 0;
        }
    }
}
