package io.flowget.udf.http;

import io.flowget.udf.storage.SafeFiles;

import org.apache.flink.annotation.Internal;

import org.apache.hc.core5.concurrent.FutureCallback;
import org.apache.hc.core5.http.EntityDetails;
import org.apache.hc.core5.http.Header;
import org.apache.hc.core5.http.HttpResponse;
import org.apache.hc.core5.http.nio.AsyncResponseConsumer;
import org.apache.hc.core5.http.nio.CapacityChannel;
import org.apache.hc.core5.http.protocol.HttpContext;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.List;

/**
 * Receives one Range chunk of a large file and writes it with positional writes into the pre-sized staging file
 * at the offset the answer's {@code Content-Range} names — so a chunk fetched twice, or an earlier-starting 206,
 * rewrites the same bytes and is harmless. Only a {@code 206} body is ever written: a {@code 200} to a ranged
 * request (ranges unsupported now, or an {@code If-Range} mismatch) is reported with its headers and its body is
 * dropped unread — the operator then falls back or restarts, never writing a whole body at an offset.
 *
 * <p>A chunk attempt asks for its range in windows ({@code fetch.AttemptRequests}), one exchange each; this consumer
 * receives one window, from {@code from}. Writing stops at {@link Attempt#rangeLimit} (lowered by the operator when
 * it splits a straggler, never below what the origin was already asked for), so two attempts never race over the
 * same tail. A window received in full ends with the body (the connection stays reusable); only bytes past the
 * limit abort the exchange. Bytes reach the file through a {@link StagingWriter} (one pooled direct buffer, one
 * positional write per {@value StagingWriter#BUFFER_SIZE} bytes); {@link Attempt#progress} and the outcome name only
 * bytes that are in the file. Runs on an I/O reactor thread; one instance per exchange.
 */
@Internal
public final class RangeResponseConsumer implements AsyncResponseConsumer<FetchOutcome> {
    private final Path staging;
    private final Attempt attempt;
    /** The first byte this window asked for. */
    private final long from;
    /** True for a window after the attempt's first: its head is not the attempt's time to first byte. */
    private final boolean continued;
    private final long expectedLength;
    private final String validator;
    private final boolean validatorIsEtag;

    private FetchOutcome outcome;
    private FutureCallback<FetchOutcome> resultCallback;
    private FileChannel channel;
    /** Writes this window's bytes into the file (null while nothing is to be stored). */
    private StagingWriter writer;
    /** The next offset a received byte goes to (bytes before it are in the file or in the writer's buffer). */
    private long position;
    /** Last byte the answer's Content-Range names: bytes beyond it are never written (they would land wrong). */
    private long rangeEnd;

    /**
     * @param expectedLength the representation's total length from the plan; a 206 with another total is a
     *     changed resource and is not written
     * @param validator the If-Range validator; a 206 carrying a different one of the same kind is not written
     */
    public RangeResponseConsumer(
            Path staging, Attempt attempt, long expectedLength, String validator, boolean validatorIsEtag) {
        this(staging, attempt, attempt.rangeStart, false, expectedLength, validator, validatorIsEtag);
    }

    /**
     * @param from the first byte the window asked for (a 206 must cover it)
     * @param continued true for a window after the attempt's first
     */
    public RangeResponseConsumer(
            Path staging,
            Attempt attempt,
            long from,
            boolean continued,
            long expectedLength,
            String validator,
            boolean validatorIsEtag) {
        this.staging = staging;
        this.attempt = attempt;
        this.from = from;
        this.continued = continued;
        this.expectedLength = expectedLength;
        this.validator = validator;
        this.validatorIsEtag = validatorIsEtag;
    }

    @Override
    public void consumeResponse(
            HttpResponse response, EntityDetails entityDetails, HttpContext context, FutureCallback<FetchOutcome> cb)
            throws IOException {
        if (!continued) {
            attempt.markHeaders();
        }
        FetchOutcome o = StagingResponseConsumer.headersOf(response);
        outcome = o;
        resultCallback = cb;
        if (o.status == 206) {
            o.contentRange = ContentRange.parse(value(response, "Content-Range"));
            if (o.contentRange != null
                    && StagingResponseConsumer.otherVersion(
                            o.contentRange, o, expectedLength, validator, validatorIsEtag)) {
                o.changed = true;
            } else if (o.contentRange != null
                    && StagingResponseConsumer.uncoded(o.contentEncoding)
                    && o.contentRange.first() <= from
                    && o.contentRange.last() >= from) {
                channel = SafeFiles.openExisting(staging); // a link in its place fails the chunk
                rangeEnd = o.contentRange.last();
                position = o.contentRange.first();
                var blake3 = attempt.blake3;
                // this window's BLAKE3 blocks are hashed from the bytes written, on the thread that received them
                writer = new StagingWriter(channel, position, true, blake3 == null ? null : blake3::wrote);
                o.rangeFirst = position;
                o.stored = true;
            }
        }
        if (entityDetails == null) {
            complete(false);
        } else if (channel == null && o.status >= 200 && o.status < 300) {
            // Nothing to store (an unusable 206, or a 200 whose body must never be written at an offset):
            // report the headers now and abort the exchange instead of draining a possibly huge body.
            complete(true);
        }
    }

    @Override
    public void informationResponse(HttpResponse response, HttpContext context) {}

    @Override
    public void updateCapacity(CapacityChannel capacityChannel) throws IOException {
        capacityChannel.update(StagingResponseConsumer.CAPACITY);
    }

    @Override
    public synchronized void consume(ByteBuffer src) throws IOException {
        attempt.received(src.remaining());
        if (channel == null) {
            src.position(src.limit());
            return;
        }
        // Inclusive last byte this attempt may write: its own limit (lowered when the operator splits it) and
        // never past what the Content-Range names. A short body is recorded as what arrived and re-planned.
        long limit = Math.min(attempt.rangeLimit, rangeEnd);
        long room = limit - position + 1;
        if (room <= 0) {
            src.position(src.limit());
            complete(true);
            return;
        }
        if (src.remaining() > room) {
            src.limit(src.position() + (int) room);
        }
        position += src.remaining();
        writer.write(src);
        stored();
        if (position > limit && limit < rangeEnd) {
            complete(true); // cut by the operator: the rest of this answer is somebody else's
        }
        // else a complete answer: its end (streamEnd) follows, and the connection stays reusable
    }

    @Override
    public void streamEnd(List<? extends Header> trailers) throws IOException {
        complete(false);
    }

    /**
     * Hands the outcome over; with {@code abort}, then fails the exchange so the connection drops the rest of the
     * body (the outcome is already delivered, so the failure that follows is not reported again).
     */
    private synchronized void complete(boolean abort) throws IOException {
        FetchOutcome o = outcome;
        if (writer != null && resultCallback != null) {
            writer.flush(); // a failure here fails the exchange: the outcome names only what is in the file
            stored();
        }
        long end = writer != null ? writer.position() : position;
        releaseResources();
        FutureCallback<FetchOutcome> cb = resultCallback;
        resultCallback = null;
        if (cb != null) {
            o.rangeLast = o.stored ? end - 1 : -1;
        }
        handOver(cb, o, abort);
    }

    /** What is in the file so far becomes the window's outcome and the attempt's progress. */
    private void stored() {
        long inFile = writer.position();
        outcome.bytes = inFile - outcome.rangeFirst;
        attempt.progress = inFile;
    }

    /**
     * Completes {@code cb} (null: already completed) with {@code o}; with {@code abort}, then fails the exchange
     * so that the connection drops the rest of the body. Shared by the range consumers.
     */
    static void handOver(FutureCallback<FetchOutcome> cb, FetchOutcome o, boolean abort) throws IOException {
        if (cb != null) {
            cb.completed(o);
        }
        if (abort) {
            throw new IOException("rest of the range answer not needed");
        }
    }

    @Override
    public void failed(Exception cause) {
        releaseResources();
    }

    @Override
    public synchronized void releaseResources() {
        if (writer != null) {
            writer.release(); // bytes not flushed are dropped: they were never counted as stored
        }
        if (channel != null) {
            try {
                channel.close();
            } catch (IOException ignored) {
                // the bytes written are accounted by position; a close failure loses nothing written
            }
            channel = null;
        }
    }

    private static String value(HttpResponse response, String name) {
        Header h = response.getFirstHeader(name);
        return h == null ? null : h.getValue();
    }
}
