package io.flowget.udf.testing;

import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.IntFunction;
import java.util.function.Predicate;

/**
 * A {@link TestOrigin.Route} that serves a resource with HTTP Range support (single ranges, {@code If-Range}
 * with ETag or date) and knobs to misbehave the way real servers do: answer short 206s, stop honouring ranges,
 * change the resource between requests, or hold some ranges until released. Records every range asked for.
 */
public final class RangeRoute implements TestOrigin.Route {
    /** One version of the resource. */
    public record Version(byte[] body, String etag, String lastModified) {}

    private final IntFunction<Version> versionForRequest;
    private long maxRangeBytes = Long.MAX_VALUE;
    private Predicate<Integer> ignoreRange = n -> false;
    private Predicate<Long> hold = start -> false;
    private java.util.concurrent.CountDownLatch gate = new java.util.concurrent.CountDownLatch(0);
    private long delayMillis;
    private Predicate<Long> stall = start -> false;
    private long stallAfter;
    private final java.util.concurrent.atomic.AtomicLong served = new java.util.concurrent.atomic.AtomicLong();
    private Predicate<Long> cut = start -> false;
    private long cutAfter;
    private final java.util.concurrent.atomic.AtomicBoolean cutDone = new java.util.concurrent.atomic.AtomicBoolean();
    /** Every request as "start-end" (or "whole"), in arrival order. */
    public final List<String> requests = new CopyOnWriteArrayList<>();
    private long paceBytesPerSecond;
    private Predicate<Long> slowFrom = start -> false;
    private int slowDivisor = 1;
    private final java.util.Set<String> slowConnections = java.util.concurrent.ConcurrentHashMap.newKeySet();
    /** With {@link #pace}: every 206 as it is served, in arrival order (its bytes sent so far move as it streams). */
    public final List<Served> served206 = new CopyOnWriteArrayList<>();

    /** One paced 206: its range, the connection it went out on, and how many of its bytes were sent so far. */
    public static final class Served {
        public final long start;
        public final long end;
        public final String connection;
        public final boolean slow;
        /**
         * When this 206 arrived: the longest any paced 206 (this one included) still had to send, in bytes at the full
         * rate (a straggling connection's bytes count {@code divisor} times): the time the tail still owed, in bytes.
         */
        public final long owedAtArrival;
        private final java.util.concurrent.atomic.AtomicLong sent = new java.util.concurrent.atomic.AtomicLong();

        Served(long start, long end, String connection, boolean slow, long owedAtArrival) {
            this.start = start;
            this.end = end;
            this.connection = connection;
            this.slow = slow;
            this.owedAtArrival = owedAtArrival;
        }

        public long length() {
            return end - start + 1;
        }

        /** Body bytes handed to the connection so far. */
        public long sent() {
            return sent.get();
        }
    }

    /** @param versionForRequest the version served to the n-th request (1-based) */
    public RangeRoute(IntFunction<Version> versionForRequest) {
        this.versionForRequest = versionForRequest;
    }

    public static RangeRoute of(byte[] body, String etag) {
        Version v = new Version(body, etag, "Sat, 28 Nov 2026 10:00:00 GMT");
        return new RangeRoute(n -> v);
    }

    /** Answers at most this many bytes per 206 (a short 206). */
    public RangeRoute maxRangeBytes(long max) {
        this.maxRangeBytes = max;
        return this;
    }

    /** From these request numbers on, ignore Range and answer 200 with the whole body. */
    public RangeRoute ignoreRangeWhen(Predicate<Integer> requestNumber) {
        this.ignoreRange = requestNumber;
        return this;
    }

    /** Ranges starting at an offset matching {@code start} wait for {@link #release()} before answering. */
    public RangeRoute holdRangesWhere(Predicate<Long> start) {
        this.hold = start;
        this.gate = new java.util.concurrent.CountDownLatch(1);
        return this;
    }

    /**
     * Ranges starting at an offset matching {@code start} send their head and first {@code afterBytes} bytes at
     * once, then wait for {@link #release()} before the rest (a straggler, or a body still streaming).
     */
    public RangeRoute stallRangesWhere(Predicate<Long> start, long afterBytes) {
        this.stall = start;
        this.stallAfter = afterBytes;
        this.gate = new java.util.concurrent.CountDownLatch(1);
        return this;
    }

    /**
     * The first range starting at an offset matching {@code start} sends its head and first {@code afterBytes} bytes,
     * then its connection is cut (a body broken mid-way); later ones are answered in full.
     */
    public RangeRoute cutFirstRangeWhere(Predicate<Long> start, long afterBytes) {
        this.cut = start;
        this.cutAfter = afterBytes;
        return this;
    }

    /** Waits this long before answering each range (a slow origin, so tests can act mid-download). */
    public RangeRoute delayPerRange(java.time.Duration delay) {
        this.delayMillis = delay.toMillis();
        return this;
    }

    /**
     * A slow link: every 206 is sent in 8 KiB pieces at {@code bytesPerSecond} (each response on its own, as a
     * per-connection bottleneck would), and a connection that once served a range starting where {@code slow}
     * matches sends at a {@code divisor}-th of that from then on (a straggling connection). The 206s are recorded
     * in {@link #served206}.
     */
    public RangeRoute pace(long bytesPerSecond, Predicate<Long> slow, int divisor) {
        this.paceBytesPerSecond = bytesPerSecond;
        this.slowFrom = slow;
        this.slowDivisor = divisor;
        return this;
    }

    /** Sends {@code [start, start + len)} in 8 KiB pieces at the paced rate, blocking this Jetty thread. */
    private void paced(Request request, Response response, Callback callback, byte[] body, long start, long end)
            throws Exception {
        String connection = request.getConnectionMetaData().getId();
        if (slowFrom.test(start)) {
            slowConnections.add(connection);
        }
        boolean slow = slowConnections.contains(connection);
        long rate = slow ? paceBytesPerSecond / slowDivisor : paceBytesPerSecond;
        int len = (int) (end - start + 1);
        long owed = (long) len * (slow ? slowDivisor : 1);
        for (Served other : served206) {
            owed = Math.max(owed, (other.length() - other.sent()) * (other.slow ? slowDivisor : 1));
        }
        Served s = new Served(start, end, connection, slow, owed);
        served206.add(s);
        long began = System.nanoTime();
        try {
            for (int off = 0; off < len; ) {
                int n = Math.min(8192, len - off);
                org.eclipse.jetty.util.FutureCallback piece = new org.eclipse.jetty.util.FutureCallback();
                response.write(off + n == len, ByteBuffer.wrap(body, (int) start + off, n), piece);
                piece.get(60, java.util.concurrent.TimeUnit.SECONDS);
                off += n;
                s.sent.addAndGet(n);
                long due = began + (long) (off * 1e9 / rate);
                long wait = due - System.nanoTime();
                if (wait > 0 && off < len) {
                    Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                }
            }
            callback.succeeded();
        } catch (Exception e) {
            callback.failed(e);
        }
    }

    /** Body bytes handed to the server so far (whole answers and ranges). */
    public long bytesServed() {
        return served.get();
    }

    public void release() {
        gate.countDown();
    }

    @Override
    public void handle(Request request, Response response, Callback callback, int n) throws Exception {
        Version v = versionForRequest.apply(n);
        byte[] body = v.body();
        String range = request.getHeaders().get(HttpHeader.RANGE);
        String ifRange = request.getHeaders().get(HttpHeader.IF_RANGE);
        if (v.etag() != null) {
            response.getHeaders().put(HttpHeader.ETAG, v.etag());
        }
        if (v.lastModified() != null) {
            response.getHeaders().put(HttpHeader.LAST_MODIFIED, v.lastModified());
        }
        response.getHeaders().put(HttpHeader.ACCEPT_RANGES, "bytes");
        boolean ifRangeOk =
                ifRange == null || ifRange.equals(v.etag()) || ifRange.equals(v.lastModified());
        if (range == null || !range.startsWith("bytes=") || !ifRangeOk || ignoreRange.test(n)) {
            requests.add("whole");
            served.addAndGet(body.length);
            TestOrigin.send(response, callback, 200, body);
            return;
        }
        String spec = range.substring(6);
        int dash = spec.indexOf('-');
        long start = Long.parseLong(spec.substring(0, dash));
        long end = dash == spec.length() - 1 ? body.length - 1 : Long.parseLong(spec.substring(dash + 1));
        requests.add(start + "-" + end);
        if (start >= body.length) {
            response.getHeaders().put(HttpHeader.CONTENT_RANGE, "bytes */" + body.length);
            TestOrigin.send(response, callback, 416, new byte[0]);
            return;
        }
        end = Math.min(end, body.length - 1);
        if (end - start + 1 > maxRangeBytes) {
            end = start + maxRangeBytes - 1;
        }
        if (hold.test(start)) {
            gate.await(60, java.util.concurrent.TimeUnit.SECONDS);
        }
        if (delayMillis > 0) {
            Thread.sleep(delayMillis);
        }
        int len = (int) (end - start + 1);
        served.addAndGet(len);
        response.setStatus(206);
        response.getHeaders().put(HttpHeader.CONTENT_RANGE, "bytes " + start + "-" + end + "/" + body.length);
        response.getHeaders().put(HttpHeader.CONTENT_LENGTH, len);
        if (cut.test(start) && cutAfter < len && cutDone.compareAndSet(false, true)) {
            response.write(false, ByteBuffer.wrap(body, (int) start, (int) cutAfter), Callback.from(
                    () -> callback.failed(new java.io.IOException("connection cut by the test origin")),
                    callback::failed));
            return;
        }
        if (paceBytesPerSecond > 0) {
            paced(request, response, callback, body, start, end);
            return;
        }
        if (stall.test(start) && stallAfter < len) {
            int first = (int) stallAfter;
            java.util.concurrent.CountDownLatch held = gate;
            response.write(false, ByteBuffer.wrap(body, (int) start, first), Callback.from(
                    () -> new Thread(() -> {
                        try {
                            held.await(60, java.util.concurrent.TimeUnit.SECONDS);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                        response.write(true, ByteBuffer.wrap(body, (int) start + first, len - first), callback);
                    }, "range-stall").start(),
                    callback::failed));
            return;
        }
        response.write(true, ByteBuffer.wrap(body, (int) start, len), callback);
    }
}
