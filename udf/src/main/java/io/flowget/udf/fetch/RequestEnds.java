package io.flowget.udf.fetch;

import io.flowget.udf.http.Attempt;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;

import java.util.ArrayList;
import java.util.function.Consumer;

/**
 * How a request leaves the operator, once: {@link #terminal} emits its one result and drops everything it held (its
 * deadline timers, attempts and their permits, its {@code active} entry, its host's state when the host is then
 * idle); {@link #fail} is the FAILED end (staging file and hashing state dropped first); {@link #failKeyed} and
 * {@link #abandon} are {@link Isolation}'s two {@link Isolation.Ending}s; {@link #expiredInQueue} ends a request
 * whose deadline came while it was still queued. The operator decides which end; the results leave through the
 * {@code emit} it passes in (its output).
 *
 * <p>Not thread-safe: task thread only, with the request's host as the current key (set by {@link #failKeyed}).
 */
final class RequestEnds {
    private final Scheduler scheduler;
    private final FetchState state;
    private final Deadlines deadlines;
    private final StagingFiles files;
    private final FetchMetrics metrics;
    private final Consumer<FetchResult> emit;
    private final Consumer<String> setKey;
    /** The operator's note that this subtask has no work left (its totals logged). */
    private final Runnable drained;

    RequestEnds(
            Scheduler scheduler,
            FetchState state,
            Deadlines deadlines,
            StagingFiles files,
            FetchMetrics metrics,
            Consumer<FetchResult> emit,
            Consumer<String> setKey,
            Runnable drained) {
        this.scheduler = scheduler;
        this.state = state;
        this.deadlines = deadlines;
        this.files = files;
        this.metrics = metrics;
        this.emit = emit;
        this.setKey = setKey;
        this.drained = drained;
    }

    /** Ends the request FAILED: its staging file and hashing state dropped, its result emitted. */
    void fail(Scheduler.Host h, Scheduler.Active act, Integer httpStatus, String reason) throws Exception {
        files.drop(files.of(h, act));
        FetchResult r = Results.failed(act.d, httpStatus, reason);
        metrics.failed(reason);
        terminal(h, act, r);
    }

    /** {@link #fail} for {@link Isolation}, which may call it under another current key. */
    void failKeyed(Scheduler.Host h, Scheduler.Active act, Integer httpStatus, String reason) throws Exception {
        setKey.accept(h.host);
        fail(h, act, httpStatus, reason);
    }

    /** The by-hand end of {@link Isolation} when {@link #fail} itself broke: no staging clean-up, no timers. */
    void abandon(Scheduler.Host h, Scheduler.Active act, Integer httpStatus, String reason) throws Exception {
        cancelAttempts(h, act);
        scheduler.remove(h, act);
        state.removeActive(act.seq);
        emit.accept(Results.failed(act.d, httpStatus, reason));
        if (scheduler.dropIfIdle(h)) {
            state.forgetHost(h.host);
        }
    }

    /** Emits the one result of a request and drops its state; clears the host's state when it is idle. */
    void terminal(Scheduler.Host h, Scheduler.Active act, FetchResult r) throws Exception {
        deadlines.ended(act);
        cancelAttempts(h, act);
        scheduler.remove(h, act);
        state.removeActive(act.seq);
        emit.accept(r);
        if (scheduler.dropIfIdle(h)) {
            state.forgetHost(h.host);
            if (!scheduler.hasWork()) {
                drained.run();
            }
        }
    }

    /**
     * The deadline of queued request {@code seq} came before it left the queue: it is taken out and ends FAILED.
     * False when it is no longer queued.
     */
    boolean expiredInQueue(long seq) throws Exception {
        FetchRequest req = state.takeQueued(seq);
        if (req == null) {
            return false;
        }
        FetchResult r = Results.failed(new Download(req, System.currentTimeMillis()), null, Deadlines.expiredInQueue());
        metrics.failed(r.error);
        emit.accept(r);
        return true;
    }

    /** Cancels the download's attempts in flight ({@code superseded}) and releases their permits. */
    void cancelAttempts(Scheduler.Host h, Scheduler.Active act) {
        for (Attempt a : new ArrayList<>(act.attempts)) {
            a.cancel("superseded");
            scheduler.release(h, act, a);
        }
    }
}
