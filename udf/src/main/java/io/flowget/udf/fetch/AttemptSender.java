package io.flowget.udf.fetch;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;

/**
 * The thread that hands attempts to the HTTP client (issue 16, "the task thread only decides"): HttpClient's
 * {@code execute()} — request routing, the connection lease from the pool, the exchange set-up, and for an uncached
 * name the DNS lookup — costs tens of microseconds per request, which the Fetch task thread spent on every attempt.
 * {@link AttemptRequests} builds the request and its consumer on the task thread and sends them here; the outcome
 * still comes back through the operator's mailbox. One thread per operator instance, so sends keep their order;
 * a send never waits for anything but the client's own locks (the operator's DNS gate sends only cached names).
 *
 * <p>Thread-safe: the task thread submits, the sender thread runs; {@link #close} (task thread, at operator close)
 * drops sends not yet run, whose requests are still in keyed state.
 */
final class AttemptSender implements AutoCloseable {
    private final ExecutorService thread;

    AttemptSender(int subtask) {
        thread = Executors.newSingleThreadExecutor(Sweeper.daemon("flowget-send-" + subtask));
    }

    /** Runs {@code send} on the sender thread; false when the sender is closed (the operator is shutting down). */
    boolean submit(Runnable send) {
        try {
            thread.execute(send);
            return true;
        } catch (RejectedExecutionException closed) {
            return false;
        }
    }

    @Override
    public void close() {
        thread.shutdownNow();
    }
}
