package io.flowget.udf.http;

import org.apache.flink.annotation.Internal;

import java.net.URI;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.Future;

/**
 * One HTTP attempt of a request, from the first request of a redirect chain to its last byte. Created and
 * owned by the fetch operator on the task thread; the I/O thread only sets {@link #headersReceived} and
 * {@link #headersAt} when a hop's response head arrives.
 */
@Internal
public final class Attempt {
    public final String host;
    public final long seq;
    /** Epoch millis when the attempt started (first hop). */
    public final long startedAt;
    /** Epoch millis when the attempt is cancelled by the sweeper. */
    public final long deadlineAt;
    /** URLs visited by this attempt's redirect chain, for loop detection. */
    public final Set<String> visited = new HashSet<>(2);

    public String url;
    public int hops;
    public volatile boolean headersReceived;
    /**
     * System.nanoTime() when the current hop's response head arrived, 0 before: with {@link #hopSentNanos} the
     * time to first byte, the host's latency signal (whole-body time would mostly measure the file's size).
     */
    public volatile long headersAt;
    /** True when the current hop's response head came over HTTP/1.1 (set with {@link #headersReceived}). */
    public volatile boolean headHttp1;
    /** System.nanoTime() when the current hop was sent. */
    public long hopSentNanos;
    /** Why the operator cancelled the attempt (timeout, shutdown), or null. */
    public volatile String cancelReason;
    /**
     * The exchange (a chunk attempt's current window); set by the thread that called {@code execute()} (the
     * operator's sender), null before.
     */
    public volatile Future<?> future;
    /** Generation of the download this attempt belongs to; outcomes of older generations are dropped. */
    public int generation;
    /** True for the first request of a download (a ranged GET for the first chunk). */
    public boolean probe;
    /**
     * For a probe (task thread): the last byte of its range once its download was planned in chunks from the
     * probe's response head while the probe's body still streams ({@code fetch.ChunkedDownloads#planFromHead}); the
     * probe's outcome is then its first chunk's. -1 while not planned so.
     */
    public long plannedFirstChunkLast = -1;
    /** For a chunk attempt: the range asked for (the plan's own array), else null. */
    public long[] range;
    /** For a chunk attempt: the first byte asked for, or -1 for a whole-body attempt. */
    public long rangeStart = -1;
    /** For a chunk attempt: the last byte it may write (inclusive); lowered when the operator splits it. */
    public volatile long rangeLimit = Long.MAX_VALUE;
    /** For a chunk attempt: the next offset it will write. */
    public volatile long progress;
    /**
     * For a chunk attempt: the last byte the origin has been asked for so far (the end of its current window), -1
     * before the first window. Only {@link #requestWindow} and {@link #cutAt} touch it, under this object's lock,
     * so a split never takes over bytes the origin was already asked for.
     */
    private long requestedEnd = -1;
    /**
     * For a chunk attempt of a download hashed with BLAKE3 by blocks: the feeder its windows' bytes go through as
     * they are written (I/O thread, one window at a time), else null. Set on the task thread before a window is sent.
     */
    public volatile io.flowget.udf.body.Blake3Tree.Feeder blake3;
    /** For a chunk attempt fetched in windows: what its windows delivered so far, merged (task thread). */
    public FetchOutcome windows;
    /**
     * For a chunk attempt: the size of the window its next request asks for, chosen by the operator before it sends
     * the window ({@code fetch.ChunkWindows}; task thread); 0 asks for the download's base window.
     */
    public long nextWindowBytes;
    /** For a chunk attempt: System.nanoTime() when its current window was handed to the client (task thread). */
    public long windowSentNanos;
    /**
     * For a chunk attempt: System.nanoTime() when its current window's outcome reached the client's callback (an I/O
     * thread, before the outcome's mail waits in the task thread's mailbox), 0 before.
     */
    public volatile long windowAnsweredNanos;
    /**
     * For a chunk attempt: bytes per second its windows so far arrived at (their bytes over their times, each from
     * send to answer; task thread); 0 before its first window ended.
     */
    public double windowRate;
    /** For a chunk attempt: the bytes and nanoseconds behind {@link #windowRate} (task thread). */
    public long windowBytesTotal;

    public long windowNanosTotal;
    /** Epoch millis when the current hop was sent. */
    public long hopStartedAt;
    /** Requests in flight to the host when this attempt was issued, itself included (for the host's limiter). */
    public int hostInFlight;
    /** True when the attempt holds one of the permits reserved for hosts that have not answered yet. */
    public boolean unprovenPermit;
    /** True when the attempt stalled and no longer counts against its host's limit (it still holds a global permit). */
    public boolean detached;
    /** True once the operator's sweep has told the host's politeness that this attempt's head arrived. */
    public boolean headersReported;
    /** Body bytes received so far, before decoding (set by the response consumers on the I/O thread). */
    public volatile long received;
    /**
     * Epoch millis since which the attempt has made no progress (task thread, the low-speed guard moves it): its
     * start, or the last time its body was on pace.
     */
    public long progressMark;
    /** Start of the low-speed guard's current window (epoch millis), 0 until the guard saw the response head. */
    public long paceFrom;
    /** {@link #received} at {@link #paceFrom}. */
    public long paceBytes;

    /** {@link #url} parsed by {@link #uri()}, and the string it was parsed from. */
    private URI uri;

    private String uriOf;

    public Attempt(String host, long seq, String url, long startedAt, long deadlineAt) {
        this.host = host;
        this.seq = seq;
        this.url = url;
        this.startedAt = startedAt;
        this.deadlineAt = deadlineAt;
        this.hopStartedAt = startedAt;
        this.progressMark = startedAt;
        visited.add(url);
    }

    /**
     * The current hop's {@link #url} parsed, once per hop: the DNS gate, the port check and the request all need it
     * (three parses per request, about 5 µs of the task thread per small file, before). Task thread.
     *
     * @throws IllegalArgumentException when the URL does not parse (as {@link URI#create})
     */
    public URI uri() {
        String u = url;
        if (uri == null || !u.equals(uriOf)) {
            uri = URI.create(u);
            uriOf = u;
        }
        return uri;
    }

    /**
     * Asks for the next window of a chunk attempt: bytes {@code [from, end]} with {@code end} at most {@code size}
     * bytes on and never past {@link #rangeLimit}. Returns {@code end}, or -1 when nothing is left from {@code
     * from} (the attempt was cut below it).
     */
    public synchronized long requestWindow(long from, long size) {
        if (from > rangeLimit) {
            return -1;
        }
        long end = Math.min(rangeLimit, from + Math.max(1, size) - 1);
        requestedEnd = Math.max(requestedEnd, end);
        return end;
    }

    /** The last byte the origin has been asked for (see {@link #requestWindow}), -1 before the first window. */
    public synchronized long requestedEnd() {
        return requestedEnd;
    }

    /**
     * Splits the attempt: its last byte becomes {@code at - 1}, unless the origin was already asked for byte
     * {@code at} (then nothing changes and this returns false) — so the bytes from {@code at} on, which another
     * attempt then fetches, are never sent twice.
     */
    public synchronized boolean cutAt(long at) {
        if (at <= requestedEnd || at > rangeLimit) {
            return false;
        }
        rangeLimit = at - 1;
        return true;
    }

    /** True when the attempt is a probe whose download was planned from its response head. */
    public boolean plannedFromHead() {
        return plannedFirstChunkLast >= 0;
    }

    /** Marks the start of a hop (the first request or a redirect's next one): resets its response-head clock. */
    public void startHop() {
        hopStartedAt = System.currentTimeMillis();
        hopSentNanos = System.nanoTime();
        headersAt = 0;
        headersReceived = false;
        headHttp1 = false;
    }

    /** Called by the response consumers, on the I/O thread, when the current hop's response head arrives. */
    public void markHeaders() {
        headersAt = System.nanoTime();
        headersReceived = true;
    }

    /**
     * {@link #markHeaders()} for a head whose protocol is known: {@code http1} true for HTTP/1.1 (a first answer's
     * head then ends its host's warm-up).
     */
    public void markHeaders(boolean http1) {
        headHttp1 = http1;
        markHeaders();
    }

    /** Time to first byte (response head) of the current hop in ns, or -1 when no head arrived. */
    public long ttfbNanos() {
        long at = headersAt;
        return at == 0 ? -1 : Math.max(1, at - hopSentNanos);
    }

    /** Counts body bytes received (I/O thread, one consumer per attempt at a time). */
    public void received(int bytes) {
        received += bytes;
    }

    /** Millis from the attempt's last progress mark to {@code nowMillis}: its time without progress. */
    public long stalledMillis(long nowMillis) {
        return Math.max(0, nowMillis - progressMark);
    }

    /** Cancels the exchange with a reason that the result will carry. */
    public void cancel(String reason) {
        if (cancelReason == null) {
            cancelReason = reason;
        }
        Future<?> f = future;
        if (f != null) {
            f.cancel(true);
        }
    }
}
