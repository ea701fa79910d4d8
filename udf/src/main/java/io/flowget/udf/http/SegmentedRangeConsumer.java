package io.flowget.udf.http;

import io.flowget.udf.body.SegmentDecrypter;
import io.flowget.udf.crypto.Decryption;
import io.flowget.udf.crypto.KeyProvider;
import io.flowget.udf.crypto.SegmentGeometry;
import io.flowget.udf.storage.SafeFiles;

import org.apache.flink.annotation.Internal;

import org.apache.hc.core5.concurrent.FutureCallback;
import org.apache.hc.core5.http.EntityDetails;
import org.apache.hc.core5.http.Header;
import org.apache.hc.core5.http.HttpException;
import org.apache.hc.core5.http.HttpResponse;
import org.apache.hc.core5.http.nio.AsyncResponseConsumer;
import org.apache.hc.core5.http.nio.CapacityChannel;
import org.apache.hc.core5.http.protocol.HttpContext;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.List;

/**
 * Receives one Range chunk of a Tink-segmented encrypted object ({@link SegmentGeometry}) and stores its
 * plaintext: every whole segment the answer carries is decrypted and authenticated on its own ({@link
 * SegmentDecrypter}, Tink's segment decrypter initialised with the object's header) and its plaintext goes to its
 * offset in the pre-sized staging file through a {@link StagingWriter} (the segments of one answer are contiguous
 * in the plaintext, so 4 KiB segments are coalesced into one positional write per {@value
 * StagingWriter#BUFFER_SIZE} bytes instead of one each). So chunks of one object are fetched and decrypted in
 * parallel, in any order, and a chunk fetched twice rewrites the same plaintext. Progress ({@link Attempt#progress},
 * {@link FetchOutcome#rangeLast}) only ever advances to the ends of segments whose plaintext is in the file: a chunk
 * cut short, failed, or split by the operator at a segment boundary, leaves whole segments behind and the rest is
 * fetched again.
 *
 * <p>Two roles. A <b>chunk</b> ({@code header} known, persisted with the download) must answer 206 at exactly its
 * segment-aligned start, for the planned total length and validator (else nothing is written, as with {@link
 * RangeResponseConsumer}). A <b>probe</b> ({@code header} null) asks for the first chunk: a 206 that is only a part
 * of the object is handled here (the header is read from its first {@value SegmentGeometry#HEADER_BYTES} bytes and
 * reported in {@link FetchOutcome#segmentHeader}, the staging file is created); any other answer — the whole object
 * in one 206, a 200, an error — goes to {@code wholeBody}, the ordinary streaming pipeline. A probe that detects
 * gzip or zstd at the start of the plaintext ({@code sniff}) stops and says so ({@link
 * FetchOutcome#compressedInside}): compressed plaintext cannot be stored at offsets.
 *
 * <p>A segment that does not authenticate fails the exchange with {@code decryption failed: …}. Runs on an I/O
 * reactor thread; one instance per exchange; memory: one ciphertext and one plaintext segment on the heap, and a
 * pooled direct buffer of the writer's while the pool has one.
 */
@Internal
public final class SegmentedRangeConsumer implements AsyncResponseConsumer<FetchOutcome> {
    private final Path staging;
    private final Attempt attempt;
    private final long expectedLength;
    private final String validator;
    private final boolean validatorIsEtag;
    private final Decryption decryption;
    private final KeyProvider keys;
    private final SegmentGeometry geometry;
    private final boolean sniff;
    private final AsyncResponseConsumer<FetchOutcome> wholeBody;

    private byte[] header;
    private AsyncResponseConsumer<FetchOutcome> delegate;
    private FetchOutcome outcome;
    private FutureCallback<FetchOutcome> resultCallback;
    private FileChannel channel;
    private SegmentDecrypter decrypter;
    private ByteBuffer ciphertext;
    private ByteBuffer plaintext;
    /** Writes the segments' plaintext, coalesced; null until the first segment is stored. */
    private StagingWriter writer;
    /**
     * Segments handed to the writer whose plaintext may still be in its buffer, in order: {plaintext end, ciphertext
     * end}. Progress moves past one only once the writer's position (what is in the file) reaches its end.
     */
    private final ArrayDeque<long[]> unflushed = new ArrayDeque<>();
    /** Total ciphertext length, from the answer's Content-Range. */
    private long total;
    /** Next ciphertext offset the body delivers. */
    private long position;
    /** Last byte the answer's Content-Range names. */
    private long rangeEnd;
    /** Segment whose ciphertext is being collected. */
    private long segment;
    /** Ciphertext offset one past the last segment decrypted and written. */
    private long stored;

    /**
     * @param header the object's Tink header for a chunk; null for a probe
     * @param expectedLength a chunk's planned ciphertext total; ignored for a probe
     * @param sniff for a probe: stop when the plaintext starts with a gzip or zstd magic number
     * @param wholeBody for a probe: the consumer of any answer but a partial 206; null for a chunk
     */
    public SegmentedRangeConsumer(
            Path staging,
            Attempt attempt,
            long expectedLength,
            String validator,
            boolean validatorIsEtag,
            Decryption decryption,
            KeyProvider keys,
            int segmentBytes,
            byte[] header,
            boolean sniff,
            AsyncResponseConsumer<FetchOutcome> wholeBody) {
        this.staging = staging;
        this.attempt = attempt;
        this.expectedLength = expectedLength;
        this.validator = validator;
        this.validatorIsEtag = validatorIsEtag;
        this.decryption = decryption;
        this.keys = keys;
        this.geometry = new SegmentGeometry(segmentBytes);
        this.header = header;
        this.sniff = sniff;
        this.wholeBody = wholeBody;
    }

    @Override
    public void consumeResponse(
            HttpResponse response, EntityDetails entityDetails, HttpContext context, FutureCallback<FetchOutcome> cb)
            throws HttpException, IOException {
        boolean probe = wholeBody != null;
        ContentRange cr =
                response.getCode() == 206 ? ContentRange.parse(value(response, "Content-Range")) : null;
        Header ce = response.getFirstHeader("Content-Encoding");
        boolean identity = StagingResponseConsumer.uncoded(ce == null ? null : ce.getValue());
        if (probe && !(cr != null && identity && cr.first() == 0 && cr.last() + 1 < cr.complete())) {
            delegate = wholeBody; // the whole object, a 200, an error: the streaming pipeline's case
            delegate.consumeResponse(response, entityDetails, context, cb);
            return;
        }
        attempt.markHeaders();
        FetchOutcome o = StagingResponseConsumer.headersOf(response);
        o.contentRange = cr;
        outcome = o;
        resultCallback = cb;
        if (probe) {
            if (attempt.cancelReason != null) {
                throw new IOException("attempt cancelled"); // released before the head arrived: create nothing
            }
            start(o, SafeFiles.createExclusive(staging)); // created anew, never through a planted link
        } else if (cr != null) {
            if (StagingResponseConsumer.otherVersion(cr, o, expectedLength, validator, validatorIsEtag)) {
                o.changed = true; // another version: nothing of it is written
            } else if (identity
                    && cr.first() == attempt.rangeStart
                    && attempt.rangeStart % geometry.segmentBytes() == 0
                    && cr.last() >= attempt.rangeStart) {
                decrypter = SegmentDecrypter.open(decryption, keys, geometry.segmentBytes(), header);
                start(o, SafeFiles.openExisting(staging)); // a link in its place fails the chunk
            }
        }
        if (entityDetails == null) {
            complete(false);
        } else if (channel == null && o.status >= 200 && o.status < 300) {
            complete(true); // nothing to store: report the head, do not drain a possibly huge body
        }
    }

    private void start(FetchOutcome o, FileChannel ch) {
        channel = ch;
        total = o.contentRange.complete();
        position = o.contentRange.first();
        rangeEnd = o.contentRange.last();
        segment = geometry.segmentAt(position);
        stored = position;
        o.rangeFirst = position;
        o.stored = true;
        o.segmentBytes = geometry.segmentBytes();
        ciphertext = ByteBuffer.allocate(geometry.segmentBytes());
        plaintext = ByteBuffer.allocate(geometry.segmentBytes() - SegmentGeometry.TAG_BYTES);
    }

    @Override
    public void informationResponse(HttpResponse response, HttpContext context)
            throws HttpException, IOException {
        if (delegate != null) {
            delegate.informationResponse(response, context);
        }
    }

    @Override
    public void updateCapacity(CapacityChannel capacityChannel) throws IOException {
        if (delegate != null) {
            delegate.updateCapacity(capacityChannel);
        } else {
            capacityChannel.update(StagingResponseConsumer.CAPACITY);
        }
    }

    @Override
    public synchronized void consume(ByteBuffer src) throws IOException {
        if (delegate != null) {
            delegate.consume(src);
            return;
        }
        attempt.received(src.remaining());
        if (channel == null) {
            src.position(src.limit());
            return;
        }
        // Inclusive last byte this attempt may take: its limit (lowered to a segment end when the operator splits
        // it) and never past what the Content-Range names.
        long limit = Math.min(attempt.rangeLimit, rangeEnd);
        while (src.hasRemaining() && position <= limit && channel != null) {
            if (position < SegmentGeometry.HEADER_BYTES) {
                takeHeader(src, limit);
                continue;
            }
            long end = Math.min(geometry.ciphertextEnd(segment, total), limit + 1);
            int n = (int) Math.min(end - position, src.remaining());
            int srcLimit = src.limit();
            src.limit(src.position() + n);
            ciphertext.put(src);
            src.limit(srcLimit);
            position += n;
            if (position == geometry.ciphertextEnd(segment, total)) {
                store(position == total);
            }
        }
        if (channel == null) {
            return; // completed (a probe that found compressed plaintext)
        }
        if (position > limit) {
            src.position(src.limit());
            complete(true); // the range is complete, or the rest was split off to another attempt
        }
    }

    /** The first bytes of the object: a probe reads the header from them; a chunk already has it. */
    private void takeHeader(ByteBuffer src, long limit) throws IOException {
        int n = (int) Math.min(Math.min(SegmentGeometry.HEADER_BYTES - position, src.remaining()), limit + 1 - position);
        int srcLimit = src.limit();
        src.limit(src.position() + n);
        ciphertext.put(src); // the header is collected in the segment buffer, then moved out
        src.limit(srcLimit);
        position += n;
        if (position == SegmentGeometry.HEADER_BYTES) {
            byte[] read = new byte[SegmentGeometry.HEADER_BYTES];
            ciphertext.flip();
            ciphertext.get(read);
            ciphertext.clear();
            if (header == null) {
                header = read;
                outcome.segmentHeader = read.clone();
            }
            // A chunk from offset 0 keeps the persisted header: a different one derives another key, so segment 0
            // would not authenticate.
            if (decrypter == null) {
                decrypter = SegmentDecrypter.open(decryption, keys, geometry.segmentBytes(), header);
            }
        }
    }

    /** Decrypts the collected segment and writes its plaintext at its offset; progress moves to its end. */
    private void store(boolean last) throws IOException {
        ciphertext.flip();
        plaintext.clear();
        decrypter.decrypt(ciphertext, segment, last, plaintext);
        plaintext.flip();
        if (sniff && segment == 0 && compressed(plaintext)) {
            outcome.compressedInside = true;
            complete(true);
            return;
        }
        long at = geometry.plaintextStart(segment);
        if (writer == null) {
            writer = new StagingWriter(channel, at, true, null);
        }
        // the segments of one answer follow each other in the plaintext: the writer's offset is this segment's
        unflushed.add(new long[] {at + plaintext.remaining(), position});
        writer.write(plaintext);
        ciphertext.clear();
        segment++;
        advance();
    }

    /** Progress moves to the end of the last segment whose plaintext is wholly in the file. */
    private void advance() {
        long inFile = writer.position();
        long[] s;
        while ((s = unflushed.peek()) != null && s[0] <= inFile) {
            unflushed.poll();
            stored = s[1];
        }
        outcome.bytes = stored - outcome.rangeFirst;
        attempt.progress = stored;
    }

    /** gzip ({@code 1f 8b}) or zstd ({@code 28 b5 2f fd}) magic at the start of the plaintext. */
    private static boolean compressed(ByteBuffer p) {
        int at = p.position();
        if (p.remaining() >= 2 && (p.get(at) & 0xff) == 0x1f && (p.get(at + 1) & 0xff) == 0x8b) {
            return true;
        }
        return p.remaining() >= 4 && p.getInt(at) == 0x28b52ffd;
    }

    @Override
    public void streamEnd(List<? extends Header> trailers) throws HttpException, IOException {
        if (delegate != null) {
            delegate.streamEnd(trailers);
        } else {
            complete(false); // a partial segment at the end is not stored: its chunk fetches it again
        }
    }

    /**
     * Hands the outcome over; with {@code abort}, then fails the exchange so the connection drops the rest of the
     * body (the outcome is already delivered, so the failure that follows is not reported again).
     */
    private synchronized void complete(boolean abort) throws IOException {
        FetchOutcome o = outcome;
        if (writer != null && resultCallback != null) {
            writer.flush(); // a failure here fails the exchange: the outcome names only what is in the file
            advance();
        }
        releaseResources();
        FutureCallback<FetchOutcome> cb = resultCallback;
        resultCallback = null;
        if (cb != null) {
            o.rangeLast = o.stored ? stored - 1 : -1;
        }
        RangeResponseConsumer.handOver(cb, o, abort);
    }

    @Override
    public void failed(Exception cause) {
        if (delegate != null) {
            delegate.failed(cause);
        }
        releaseResources();
    }

    @Override
    public synchronized void releaseResources() {
        if (delegate != null) {
            delegate.releaseResources();
        }
        if (writer != null) {
            writer.release(); // plaintext not flushed is dropped: its segments were never counted as stored
            writer = null;
        }
        if (channel != null) {
            try {
                channel.close();
            } catch (IOException ignored) {
                // the segments written are accounted by their progress; a close failure loses nothing written
            }
            channel = null;
        }
        ciphertext = null;
        plaintext = null;
    }

    private static String value(HttpResponse response, String name) {
        Header h = response.getFirstHeader(name);
        return h == null ? null : h.getValue();
    }
}
