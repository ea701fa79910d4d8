package io.flowget.udf.http;

import org.apache.hc.core5.reactor.IOSession;
import org.apache.hc.core5.reactor.IOSessionListener;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Counts the TCP connections the shared HTTP client opens and closes (an {@link IOSessionListener} on its I/O
 * reactor), so keep-alive reuse can be measured: requests per connection opened. HTTP/2 streams are not
 * connections: a multiplexed origin shows one connection for many requests. Thread-safe.
 */
public final class ConnectionStats implements IOSessionListener {
    private final AtomicLong opened = new AtomicLong();
    private final AtomicLong closed = new AtomicLong();

    /** Connections established so far (TCP connect completed). */
    public long opened() {
        return opened.get();
    }

    /** Connections closed so far. */
    public long closed() {
        return closed.get();
    }

    /** Connections open right now. */
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
