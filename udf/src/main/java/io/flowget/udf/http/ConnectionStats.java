package io.flowget.udf.http;

import org.apache.hc.core5.reactor.IOSession;
import org.apache.hc.core5.reactor.IOSessionListener;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Counts the TCP connections the shared HTTP client opens and closes (an {@link IOSessionListener} on its I/O
 * reactor), so keep-alive reuse can be measured: requests per connection opened. HTTP/2 streams are not
 * connections: a multiplexed origin shows one connection for many requests. {@link #since} gives a lease its own
 * view, counted from when it began (a client kept across runs: each run counts its own). Thread-safe.
 */
public final class ConnectionStats implements IOSessionListener {
    private final AtomicLong opened;
    private final AtomicLong closed;
    private final long openedBase;
    private final long closedBase;

    public ConnectionStats() {
        this(new AtomicLong(), new AtomicLong(), 0, 0);
    }

    private ConnectionStats(AtomicLong opened, AtomicLong closed, long openedBase, long closedBase) {
        this.opened = opened;
        this.closed = closed;
        this.openedBase = openedBase;
        this.closedBase = closedBase;
    }

    /** A view of the same counts from now on: opened and closed count from zero, {@link #open} is the client's. */
    public ConnectionStats since() {
        return new ConnectionStats(opened, closed, opened.get(), closed.get());
    }

    /** Connections established so far (TCP connect completed). */
    public long opened() {
        return opened.get() - openedBase;
    }

    /** Connections closed so far. */
    public long closed() {
        return closed.get() - closedBase;
    }

    /** Connections open right now (the client's, whenever they were opened). */
    public long open() {
        return opened.get() - closed.get();
    }

    @Override
    public void connected(IOSession session) {
        opened.incrementAndGet();
    }

    @Override
    public void disconnected(IOSession session) {
        closed.incrementAndGet();
    }

    @Override
    public void startTls(IOSession session) {}

    @Override
    public void inputReady(IOSession session) {}

    @Override
    public void outputReady(IOSession session) {}

    @Override
    public void timeout(IOSession session) {}

    @Override
    public void exception(IOSession session, Exception ex) {}
}
