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
