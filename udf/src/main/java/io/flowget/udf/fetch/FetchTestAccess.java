package io.flowget.udf.fetch;

import io.flowget.udf.storage.OutputStore;

/**
 * What tests may read of a running {@link FetchOperator} (its only test hooks, {@link FetchOperator#forTests}):
 * counts of the scheduler, keyed state, output store, politeness and hasher, and one write, {@link #flushHostState}.
 * A view, never kept: it reads the operator's parts as they are when it is made.
 *
 * <p>Not thread-safe: task thread (in the harness, the test's thread between its calls into the operator).
 */
final class FetchTestAccess {
    private final Scheduler scheduler;
    private final FetchState state;
    private final OutputStore store;
    private final HostPoliteness politeness;
    private final Finalizer finalizer;

    FetchTestAccess(
            Scheduler scheduler, FetchState state, OutputStore store, HostPoliteness politeness, Finalizer finalizer) {
        this.scheduler = scheduler;
        this.state = state;
        this.store = store;
        this.politeness = politeness;
        this.finalizer = finalizer;
    }

    /** Files whose results are emitted and whose renames into place have not ended yet. */
    int pendingPublishes() {
        return store.pendingPublishes();
    }

    /** Writes the hosts' politeness state that is held behind, as the next snapshot would. */
    void flushHostState() {
        politeness.flush();
    }

    /** Attempts in flight to hosts that had not answered when they were sent. */
    int unprovenInFlight() {
        return scheduler.unprovenInFlight();
    }

    /** BLAKE3 blocks of finished chunked digests: {hashed by their chunks, read from the file}. */
    long[] blake3Blocks() {
        return finalizer.blake3Blocks();
    }

    /** Requests in flight right now. */
    int inFlightCount() {
        return scheduler.inFlight().size();
    }

    /** Hosts that have any entry in any of the operator's keyed states; zero when all work is done. */
    long hostsWithState() throws Exception {
        return state.hostsWithState();
    }

    /** In-memory host entries (scheduler hosts plus cached queue cursors); zero when all work is done. */
    int hostsInMemory() {
        return scheduler.hostCount() + state.cachedHosts();
    }

    /** Requests queued, downloads ready to issue work, and retries waiting (also the backpressure measure). */
    long backlog() {
        return scheduler.backlog();
    }
}
