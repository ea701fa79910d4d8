package io.flowget.udf.http;

import org.apache.flink.annotation.Internal;

import org.apache.hc.client5.http.impl.async.CloseableHttpAsyncClient;
import org.apache.hc.core5.io.CloseMode;

import javax.annotation.concurrent.ThreadSafe;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * The pooled budget of large I/O buffers for large bodies: a second shared HTTP client whose HTTP/1.1 connections
 * read and write in {@code flowget.http.large-buffer-size} buffers (64 KiB: about 41 syscalls per MiB instead of
 * about 300 with the default 8 KiB), with at most {@link #slots()} connections, so that all of them together hold
 * at most {@code flowget.http.large-buffer-budget} of heap (each connection holds three buffers: session in,
 * session out, content). A chunk attempt, or any attempt to a host whose last HTTP/1.1 answer was a large body
 * ({@code fetch.AttemptDispatch} decides), takes a slot for one exchange ({@link #tryAcquire}) and gives it back
 * when the exchange ended ({@link #release}); with no slot free it goes over the main client's small buffers.
 * Every other request keeps the main client, so heap per in-flight download stays that of the small buffers
 * however many downloads are in flight, plus this fixed budget.
 *
 * <p>The client is created on the first {@link #tryAcquire} (runs without large bodies never start its I/O
 * threads) and closed with the lease. Its pool holds at most as many connections as there are slots, idle ones
 * included, which is what bounds the heap; a lease never waits longer than a finished exchange takes to hand its
 * connection back.
 *
 * <p>Thread-safe: slots are taken on the task thread and given back on I/O threads.
 */
@Internal
@ThreadSafe
public final class LargeBuffers {
    private final int slots;
    private final Supplier<CloseableHttpAsyncClient> factory;
    private final AtomicInteger inUse = new AtomicInteger();
    private CloseableHttpAsyncClient client; // guarded by this
    private boolean closed; // guarded by this

    LargeBuffers(int slots, Supplier<CloseableHttpAsyncClient> factory) {
        this.slots = Math.max(0, slots);
        this.factory = factory;
    }

    /**
     * Connections the budget pays for: {@code budget / (3 × largeBufferSize)}; 0 (off) when the large buffers
     * are not larger than the main client's {@code bufferSize}.
     */
    static int slots(long budget, int largeBufferSize, int bufferSize) {
        if (largeBufferSize <= bufferSize || budget <= 0) {
            return 0;
        }
        return (int) Math.min(Integer.MAX_VALUE, budget / (3L * largeBufferSize));
    }

    /** The large-buffer client with one slot taken for the caller, or null when every slot is in use (or none). */
    public CloseableHttpAsyncClient tryAcquire() {
        while (true) {
            int n = inUse.get();
            if (n >= slots) {
                return null;
            }
            if (inUse.compareAndSet(n, n + 1)) {
                break;
            }
        }
        CloseableHttpAsyncClient c = client();
        if (c == null) {
            inUse.decrementAndGet();
        }
        return c;
    }

    /** Gives back a slot that {@link #tryAcquire} took (the exchange ended). */
    public void release() {
        inUse.decrementAndGet();
    }

    /** Slots the budget pays for. */
    public int slots() {
        return slots;
    }

    /** Slots taken now. */
    public int inUse() {
        return inUse.get();
    }

    private synchronized CloseableHttpAsyncClient client() {
        if (client == null && !closed) {
            client = factory.get();
        }
        return closed ? null : client;
    }

    synchronized void close() {
        closed = true;
        if (client != null) {
            client.close(CloseMode.GRACEFUL);
            client = null;
        }
    }
}
