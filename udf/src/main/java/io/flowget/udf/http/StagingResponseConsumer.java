package io.flowget.udf.http;

import io.flowget.udf.body.BodyPipeline;
import io.flowget.udf.body.ByteSink;
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
import java.util.List;

/**
 * Streams one response body into a staging file through a {@link BodyPipeline}: the Content-Encoding is
 * removed with bounded buffers, SHA-256 (and BLAKE3 when the {@link BodyPolicy} asks) is computed over the
 * decoded bytes, and {@code max_bytes} stops the transfer the moment the stored size would exceed it
 * (decompression bombs included; the decode-ratio guard is the second line). An encrypted payload is decrypted
 * (and its inner compression removed) on the way, so digests and limits cover the stored plaintext. Bodies of non-2xx answers are read
 * and dropped (so the connection stays reusable), never stored.
 *
 * <p>Runs on an HttpClient I/O reactor thread; not thread-safe, one instance per exchange. The file is written
 * with positional-free sequential writes into the page cache; durability is the operator's group commit.
 */
@Internal
public final class StagingResponseConsumer implements AsyncResponseConsumer<FetchOutcome> {
    /** Flow-control window offered to the connection (bounds in-flight bytes per exchange on HTTP/2). */
    static final int CAPACITY = 64 * 1024;

    private final Path staging;
    private final BodyPolicy policy;
    private final Attempt attempt;

    private FetchOutcome outcome;
    private FutureCallback<FetchOutcome> resultCallback;
    private FileChannel channel;
    /** Coalesces the body's writes into the staging file (null: nothing stored). */
    private StagingWriter writer;
    private BodyPipeline pipeline;
    /** Released because the attempt was cancelled: a head that arrives later must open nothing. */
    private boolean cancelled;
    /**
     * Told (I/O thread) when a probe's stored 206 head of a part of a larger file arrived and its staging file exists:
     * the operator may plan the file's other chunks from it at once (null: nobody listens).
     */
    private java.util.function.Consumer<FetchOutcome> onStoredHead;

    /**
     * @param staging file that receives a 2xx body (created or truncated), or null to digest and drop it
     * @param policy size limit (more fails the exchange with {@link BodyLimitException} or a {@code
     *     BodyException}), decode-ratio guard and digests
     * @param attempt the attempt, told when the response head arrives
     */
    public StagingResponseConsumer(Path staging, BodyPolicy policy, Attempt attempt) {
        this.staging = staging;
        this.policy = policy;
        this.attempt = attempt;
    }

    /**
     * Has {@code hook} told, on the I/O thread, the head of a stored {@code 206} that is only the first part of a
     * larger file (a probe's first chunk: status, validators, Content-Range) once the staging file is created and
     * before a body byte is written. Returns this.
     */
    public StagingResponseConsumer onStoredHead(java.util.function.Consumer<FetchOutcome> hook) {
        this.onStoredHead = hook;
        return this;
    }

    @Override
    public synchronized void consumeResponse(
            HttpResponse response,
            EntityDetails entityDetails,
            HttpContext context,
            FutureCallback<FetchOutcome> resultCallback)
            throws HttpException, IOException {
        var version = response.getVersion();
        attempt.markHeaders(version != null && version.getMajor() == 1);
        FetchOutcome o = headersOf(response);
        this.outcome = o;
        this.resultCallback = resultCallback;
        if (o.status == 206) {
            // Only a probe (Range from byte 0) reaches this consumer with a 206: the body is stored from offset 0
            // sequentially, so anything but a range starting at 0 is unusable here.
            o.contentRange = ContentRange.parse(value(response, "Content-Range"));
        }
        boolean identity = uncoded(o.contentEncoding);
        // A coded 206 is never stored: ranges count coded bytes, so its Content-Range cannot be checked against
        // what would be stored (the operator fetches such a resource as one plain GET instead).
        boolean storable =
                (o.status >= 200 && o.status < 300 && o.status != 206)
                        || (o.status == 206 && identity && o.contentRange != null && o.contentRange.first() == 0);
        if (storable && cancelled) {
            throw new IOException("attempt cancelled"); // released before the head arrived: open nothing
        }
        if (storable) {
            // Without decryption an identity body is stored as sent, so its length decides max_bytes up front.
            if (identity && policy.decryption() == null && o.contentLength > policy.maxBytes()) {
                throw new BodyLimitException(policy.maxBytes());
            }
            ByteSink sink = ByteSink.discard();
            if (staging != null) {
                // Created exclusively, never through a link planted under the predictable staging name.
                FileChannel ch = SafeFiles.createExclusive(staging);
                channel = ch;
                // A body of a few pieces is written as it comes; a larger (or unknown) one through a pooled buffer.
                StagingWriter w =
                        new StagingWriter(
                                ch, 0, o.contentLength < 0 || o.contentLength >= StagingWriter.BUFFER_SIZE, null);
                writer = w;
                sink = w::write;
            }
            // Decoded bytes go straight from the decoder's bounded buffer (or the connection's, for identity)
            // to the file; SHA-256 is computed over the decoded bytes on the way.
            pipeline =
                    BodyPipeline.builder(sink)
                            .contentEncoding(identity ? null : o.contentEncoding.trim())
                            .maxBytes(policy.maxBytes())
                            .maxRatio(policy.maxRatio())
                            .blake3(policy.blake3())
                            // A 206 that is only the first part of the file: its digests would never be used
                            // (the file's come from the whole file at its end), so none is computed here.
                            .digests(!firstPartOnly(o))
                            .decrypt(policy.decryption(), policy.keys())
                            .build();
            o.stored = true;
            if (onStoredHead != null && firstPartOnly(o) && entityDetails != null) {
                // only a part of a larger file: worth a mail (a whole file in one answer is decided at its end)
                onStoredHead.accept(o.copyOfHead());
            }
        }
        if (entityDetails == null) {
            complete();
        }
    }

    @Override
    public void informationResponse(HttpResponse response, HttpContext context) {}

    @Override
    public void updateCapacity(CapacityChannel capacityChannel) throws IOException {
        capacityChannel.update(CAPACITY);
    }

    @Override
    public synchronized void consume(ByteBuffer src) throws IOException {
        attempt.received(src.remaining());
        if (pipeline == null) {
            src.position(src.limit()); // error body: read and drop
            return;
        }
        pipeline.accept(src);
    }

    @Override
    public void streamEnd(List<? extends Header> trailers) throws HttpException, IOException {
        complete();
    }

    private void complete() throws IOException {
        FetchOutcome o = outcome;
        if (pipeline != null) {
            pipeline.finish();
            flush();
            o.bytes = pipeline.decodedBytes();
            o.sha256 = pipeline.sha256Hex();
            o.blake3 = pipeline.blake3Hex();
            o.decodedCoding = pipeline.decodedCoding();
            long received = pipeline.encodedBytes();
            releaseResources();
            // HttpClient already fails a Content-Length body that ends early; this catches a length that lies
            // the other way (more bytes than declared cannot arrive on HTTP/1.1, but can on HTTP/2).
            if (o.contentLength >= 0 && received != o.contentLength) {
                throw new IOException(
                        "body length " + received + " differs from Content-Length " + o.contentLength);
            }
        }
        FutureCallback<FetchOutcome> cb = resultCallback;
        resultCallback = null;
        if (cb != null) {
            cb.completed(o);
        }
    }

    /** Writes what the writer still buffers: the body is complete only once all of it is in the file. */
    private synchronized void flush() throws IOException {
        if (writer != null && channel != null) {
            writer.flush();
        }
    }

    @Override
    public void failed(Exception cause) {
        releaseResources();
    }

    @Override
    public synchronized void releaseResources() {
        if (attempt.cancelReason != null) {
            cancelled = true;
        }
        if (pipeline != null) {
            pipeline.close();
            pipeline = null;
        }
        if (writer != null) {
            writer.release(); // what it held is dropped with the failed or cancelled body
            writer = null;
        }
        if (channel != null) {
            try {
                channel.close();
            } catch (IOException ignored) {
                // nothing to save: the attempt failed and its staging file is rewritten or deleted
            }
            channel = null;
        }
    }

    /** A 206 from byte 0 that does not reach the end of the representation (a probe's first chunk). */
    static boolean firstPartOnly(FetchOutcome o) {
        ContentRange cr = o.contentRange;
        return o.status == 206 && cr != null && cr.first() == 0 && cr.complete() > cr.last() + 1;
    }

    /** The headers every outcome carries. */
    /** Whether a {@code Content-Encoding} value (null when absent) leaves the body as stored: none or identity. */
    static boolean uncoded(String contentEncoding) {
        String coding = contentEncoding == null ? "" : contentEncoding.trim();
        return coding.isEmpty() || coding.equalsIgnoreCase("identity");
    }

    /**
     * Whether a 206 for a chunk belongs to another version of the resource than the one being assembled: another
     * total length, or another validator (ETag or Last-Modified, as the download recorded it). Checked before the
     * first byte is written, so bytes of two versions never meet in one file.
     */
    static boolean otherVersion(
            ContentRange cr, FetchOutcome o, long expectedLength, String validator, boolean validatorIsEtag) {
        String theirs = validatorIsEtag ? o.etag : o.lastModified;
        return cr.complete() != expectedLength || (theirs != null && !theirs.trim().equals(validator));
    }

    static FetchOutcome headersOf(HttpResponse response) {
        FetchOutcome o = new FetchOutcome();
        o.status = response.getCode();
        o.http2 = response.getVersion() != null && response.getVersion().getMajor() >= 2;
        o.location = value(response, "Location");
        o.retryAfter = value(response, "Retry-After");
        o.contentEncoding = value(response, "Content-Encoding");
        o.etag = value(response, "ETag");
        o.lastModified = value(response, "Last-Modified");
        String cl = value(response, "Content-Length");
        if (cl != null) {
            try {
                o.contentLength = Long.parseLong(cl.trim());
            } catch (NumberFormatException e) {
                o.contentLength = -1;
            }
        }
        return o;
    }

    private static String value(HttpResponse response, String name) {
        Header h = response.getFirstHeader(name);
        return h == null ? null : h.getValue();
    }

    /** The stored body would exceed the request's max_bytes. Not retried. */
    public static final class BodyLimitException extends IOException {
        public BodyLimitException(long limit) {
            super("max_bytes exceeded (limit " + limit + " bytes)");
        }
    }
}
