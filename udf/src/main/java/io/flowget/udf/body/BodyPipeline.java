package io.flowget.udf.body;

import io.flowget.udf.crypto.DecryptScheme;
import io.flowget.udf.crypto.Decryption;
import io.flowget.udf.crypto.KeyProvider;
import io.flowget.udf.crypto.UnknownKeyException;

import org.apache.commons.codec.digest.Blake3;

import javax.annotation.concurrent.NotThreadSafe;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The streaming path of one response body: coded bytes in, decoded bytes checked against the size guards,
 * digested and written to a {@link ByteSink}. The order of the stages is fixed: transfer content-codings
 * ({@code Content-Encoding}) → decryption, when the request asks for it ({@link Builder#decrypt}) → the
 * compression inside the encryption (named, or gzip/zstd detected) → size guards and digests → sink. Push style, for the HTTP client's I/O reactor thread: the response
 * consumer calls {@link #accept} with every body buffer it receives, {@link #finish} at the end of the body and
 * {@link #close} always (also after an exception), then reads the digests and counts.
 *
 * <pre>{@code
 * BodyPipeline body = BodyPipeline.builder(channel::write)   // the sink must consume all bytes
 *         .contentEncoding(response.getFirstHeader("Content-Encoding") ...)  // "gzip", "gzip, br", null
 *         .maxBytes(request.maxBytes())                       // Long.MAX_VALUE: none
 *         .maxRatio(1000)                                     // 0: off
 *         .blake3(wantBlake3)
 *         .decrypt(decryption, keyProvider)                   // optional: encrypted payload
 *         .build();                                           // BodyException UNSUPPORTED_CODING, UNKNOWN_KEY
 * try (body) {
 *     body.accept(buffer);  // per data callback; consumes the buffer, keeps no reference
 *     body.finish();        // end of stream: CORRUPT if a coded stream was truncated
 *     result(body.decodedBytes(), body.sha256Hex(), body.decodedCoding());
 * }
 * }</pre>
 *
 * <p>Guarantees: the sink never receives more than {@code maxBytes} bytes in total, because every decoder emits
 * at most {@link #CHUNK_SIZE} bytes (brotli: one window) before the store step checks the limit, and a chunk that
 * would cross it is refused whole ({@link BodyException.Kind#LIMIT_EXCEEDED}); when a coding is present, decoded
 * bytes may not exceed {@code maxRatio} times the coded bytes received so far once past {@link
 * #RATIO_GRACE_BYTES} ({@link BodyException.Kind#RATIO_EXCEEDED}). Digests (SHA-256 always, BLAKE3 optional)
 * cover exactly the bytes given to the sink. Memory is fixed per transfer: decode buffers of {@link #CHUNK_SIZE} bytes
 * (one per coding layer, and a copy buffer for direct or read-only input) are borrowed from the TaskManager's
 * {@link DecodeBuffers} only while a call decodes, so a pipeline waiting for bytes holds none — only decoder
 * state; nothing grows with the body; decryption adds its buffers and cipher state (AES-GCM: three 8 KiB buffers and about 2 KiB) or one
 * ciphertext and one plaintext segment (Tink: about 8 KiB for 4 KiB segments, 2 MiB for 1 MiB ones). Native decoder state (zlib 32 KiB window, zstd window at most 8 MiB, brotli window usually 4
 * MiB) lives outside the Java heap and is freed by {@link #close}. {@link #retainedHeapBytes()} and the static
 * {@link #liveHeapBytes()} report the Java buffers for measurement.
 *
 * <p>Not thread-safe: one instance per transfer, owned and driven by one response consumer. After a failure the
 * pipeline refuses further input; only {@link #close} and the counters remain usable.
 */
@NotThreadSafe
public final class BodyPipeline implements AutoCloseable {
    /** Size of each decode buffer, and the most bytes decoded before the size guards are checked again. */
    public static final int CHUNK_SIZE = 16 * 1024;

    /** Decoded bytes below which the ratio guard is not applied: small, very compressible bodies are fine. */
    public static final long RATIO_GRACE_BYTES = 1L << 20;

    /** Size of the AES-GCM decryptor's buffers. */
    static final int SCRATCH_SIZE = 8 * 1024;

    private static final AtomicLong LIVE_PIPELINES = new AtomicLong();
    private static final AtomicLong LIVE_HEAP_BYTES = new AtomicLong();
    private static final AtomicLong LIVE_DIRECT_BYTES = new AtomicLong();

    private enum State {
        OPEN,
        FINISHED,
        FAILED
    }

    private final List<ContentCoding> codings;
    /** The compression inside the encryption when the request named it; null when detected or not decrypting. */
    private final List<ContentCoding> innerCodings;
    private final SniffingDecoder sniffer;
    private final ByteSink sink;
    private final long maxBytes;
    private final long maxRatio;
    private final MessageDigest sha256;
    private final Blake3 blake3;
    /**
     * Stages in the order bytes pass through them: transfer decoders (the last applied coding first), then the
     * decryptor and the inner decoders, if any.
     */
    private final Decoder[] decoders;
    private final ChunkConsumer first;

    private State state = State.OPEN;
    private boolean closed;
    private long encodedBytes;
    private long decodedBytes;
    private long accountedHeap;
    private long accountedDirect;
    private String sha256Hex;
    private String blake3Hex;

    private BodyPipeline(Builder b, List<ContentCoding> codings, List<ContentCoding> inner, byte[] key)
            throws IOException {
        this.codings = List.copyOf(codings);
        this.innerCodings = inner == null ? null : List.copyOf(inner);
        this.sink = b.sink;
        this.maxBytes = b.maxBytes;
        this.maxRatio = b.maxRatio;
        this.sha256 = b.digests ? Digests.newSha256() : null;
        this.blake3 = b.blake3 && b.digests ? Blake3.initHash() : null;
        boolean decrypting = key != null;
        boolean sniffing = decrypting && inner == null;
        int innerStages = !decrypting ? 0 : sniffing ? 1 : inner.size();
        this.decoders = new Decoder[codings.size() + (decrypting ? 1 : 0) + innerStages];
        int slot = decoders.length;
        ChunkConsumer next = this::store;
        SniffingDecoder sniff = null;
        try {
            // Build from the store step outwards: the first coding in a header is decoded last.
            if (sniffing) {
                sniff = new SniffingDecoder(next, BodyPipeline::newDecoder);
                decoders[--slot] = sniff;
                next = sniff;
            } else if (decrypting) {
                for (ContentCoding coding : inner) {
                    Decoder decoder = newDecoder(coding, next);
                    decoders[--slot] = decoder;
                    next = decoder;
                }
            }
            if (decrypting) {
                Decoder decryptor =
                        b.decryption.scheme().segmented()
                                ? new TinkStreamingDecryptor(b.decryption.scheme(), key, next, CHUNK_SIZE)
                                : new AesGcmDecryptor(key, next, SCRATCH_SIZE);
                decoders[--slot] = decryptor;
                next = decryptor;
            }
            for (ContentCoding coding : codings) {
                Decoder decoder = newDecoder(coding, next);
                decoders[--slot] = decoder;
                next = decoder;
            }
        } catch (IOException | RuntimeException | Error e) {
            for (Decoder decoder : decoders) {
                if (decoder != null) {
                    decoder.close();
                }
            }
            throw e;
        }
        this.sniffer = sniff;
        this.first = next;
        LIVE_PIPELINES.incrementAndGet();
        account();
    }

    private static Decoder newDecoder(ContentCoding coding, ChunkConsumer next) throws IOException {
        switch (coding) {
            case GZIP:
                return new GzipDecoder(next, CHUNK_SIZE);
            case DEFLATE:
                return new DeflateDecoder(next, CHUNK_SIZE);
            case ZSTD:
                return new ZstdDecoder(next, CHUNK_SIZE);
            case BR:
                return new BrotliDecoder(next, CHUNK_SIZE);
            default:
                throw new IllegalArgumentException("no decoder for " + coding);
        }
    }

    /** Starts a pipeline configuration; {@code sink} receives the decoded bytes. */
    public static Builder builder(ByteSink sink) {
        return new Builder(sink);
    }

    /**
     * Takes all remaining bytes of {@code encoded} (the body as received, after transfer decoding). The buffer
     * stays the caller's: no reference is kept after this returns.
     *
     * @throws BodyException CORRUPT, LIMIT_EXCEEDED or RATIO_EXCEEDED; the pipeline is then failed
     * @throws IOException whatever the sink threw
     */
    public void accept(ByteBuffer encoded) throws IOException {
        checkState(State.OPEN);
        encodedBytes += encoded.remaining();
        try {
            first.accept(encoded);
        } catch (IOException | RuntimeException e) {
            state = State.FAILED;
            throw e;
        } finally {
            // Some buffers are allocated on first need (decryption's).
            account();
        }
    }

    /**
     * Ends the body: verifies every coded stream is complete (a truncated one is CORRUPT) and finalizes the
     * digests.
     */
    public void finish() throws IOException {
        checkState(State.OPEN);
        try {
            for (Decoder decoder : decoders) {
                decoder.finish();
            }
        } catch (IOException | RuntimeException e) {
            state = State.FAILED;
            throw e;
        }
        HexFormat hex = HexFormat.of();
        sha256Hex = sha256 == null ? null : hex.formatHex(sha256.digest());
        if (blake3 != null) {
            blake3Hex = hex.formatHex(blake3.doFinalize(32));
        }
        state = State.FINISHED;
    }

    /** The store step: size guards, digests, sink. */
    private void store(ByteBuffer chunk) throws IOException {
        int n = chunk.remaining();
        if (n == 0) {
            return;
        }
        long after = decodedBytes + n;
        if (after > maxBytes) {
            throw new BodyException(
                    BodyException.Kind.LIMIT_EXCEEDED,
                    "max_bytes exceeded (limit " + maxBytes + " bytes)");
        }
        if (decoders.length > 0
                && maxRatio > 0
                && after > RATIO_GRACE_BYTES
                && after > saturatedMultiply(maxRatio, encodedBytes)) {
            throw new BodyException(
                    BodyException.Kind.RATIO_EXCEEDED,
                    "decode ratio exceeded (limit "
                            + maxRatio
                            + ":1, "
                            + after
                            + " bytes decoded from "
                            + encodedBytes
                            + " coded bytes)");
        }
        digest(chunk);
        sink.write(chunk);
        if (chunk.hasRemaining()) {
            throw new IllegalStateException("ByteSink left " + chunk.remaining() + " bytes unwritten");
        }
        decodedBytes = after;
    }

    private void digest(ByteBuffer chunk) {
        if (sha256 == null) {
            return; // digests off (the bytes are a part of a file digested later from the file)
        }
        int pos = chunk.position();
        int len = chunk.remaining();
        if (chunk.hasArray()) {
            byte[] array = chunk.array();
            int off = chunk.arrayOffset() + pos;
            sha256.update(array, off, len);
            if (blake3 != null) {
                blake3.update(array, off, len);
            }
            return;
        }
        // Direct chunks (native decoder output, direct socket buffers) are copied through one borrowed array:
        // BLAKE3 takes arrays only, and MessageDigest would otherwise allocate its own hidden copy buffer.
        ByteBuffer borrowed = DecodeBuffers.take();
        try {
            byte[] scratch = borrowed.array();
            while (chunk.hasRemaining()) {
                int step = Math.min(scratch.length, chunk.remaining());
                chunk.get(scratch, 0, step);
                sha256.update(scratch, 0, step);
                if (blake3 != null) {
                    blake3.update(scratch, 0, step);
                }
            }
        } finally {
            DecodeBuffers.give(borrowed);
        }
        chunk.position(pos);
    }

    private static long saturatedMultiply(long a, long b) {
        long hi = Math.multiplyHigh(a, b);
        long lo = a * b;
        return (hi == 0 && lo >= 0) ? lo : Long.MAX_VALUE;
    }

    private void checkState(State expected) {
        if (closed) {
            throw new IllegalStateException("body pipeline is closed");
        }
        if (state != expected) {
            throw new IllegalStateException("body pipeline is " + state);
        }
    }

    /** Coded bytes received so far (the body as sent, after transfer decoding). */
    public long encodedBytes() {
        return encodedBytes;
    }

    /** Decoded bytes given to the sink so far. */
    public long decodedBytes() {
        return decodedBytes;
    }

    /** Lower-case hex SHA-256 of the decoded bytes; available after {@link #finish}; null with digests off. */
    public String sha256Hex() {
        if (state != State.FINISHED) {
            throw new IllegalStateException("digest is available after finish(), pipeline is " + state);
        }
        return sha256Hex;
    }

    /** Lower-case hex BLAKE3 (256 bit) of the decoded bytes after {@link #finish}, or null when not requested. */
    public String blake3Hex() {
        if (blake3 == null) {
            return null;
        }
        if (state != State.FINISHED) {
            throw new IllegalStateException("digest is available after finish(), pipeline is " + state);
        }
        return blake3Hex;
    }

    /** The removed content-codings in header order, e.g. {@code "gzip"} or {@code "gzip, br"}; null for none. */
    public String decodedCoding() {
        return ContentCoding.join(codings);
    }

    /** The removed content-codings in header order. */
    public List<ContentCoding> codings() {
        return codings;
    }

    /**
     * The compression removed inside the encryption, in header order: as the request named it, or as detected
     * (known once the first plaintext bytes passed); empty when not decrypting or none.
     */
    public List<ContentCoding> innerCodings() {
        if (innerCodings != null) {
            return innerCodings;
        }
        return sniffer == null ? List.of() : sniffer.detected();
    }

    /**
     * Bytes of Java heap buffers this pipeline holds between calls (decryption buffers, a few header bytes); fixed
     * per transfer. Decode and copy buffers are borrowed from {@link DecodeBuffers} per call and not counted.
     */
    public long retainedHeapBytes() {
        long sum = 0;
        for (Decoder decoder : decoders) {
            sum += decoder.heapBytes();
        }
        return sum;
    }

    /** Bytes of direct buffers this pipeline allocated (brotli's input buffer); codec state not included. */
    public long retainedDirectBytes() {
        long sum = 0;
        for (Decoder decoder : decoders) {
            sum += decoder.directBytes();
        }
        return sum;
    }

    /** Pipelines created and not yet closed, in this JVM. */
    public static long livePipelines() {
        return LIVE_PIPELINES.get();
    }

    /** Sum of {@link #retainedHeapBytes()} over all open pipelines in this JVM. */
    public static long liveHeapBytes() {
        return LIVE_HEAP_BYTES.get();
    }

    /** Sum of {@link #retainedDirectBytes()} over all open pipelines in this JVM. */
    public static long liveDirectBytes() {
        return LIVE_DIRECT_BYTES.get();
    }

    private void account() {
        if (closed) {
            return;
        }
        long heap = retainedHeapBytes();
        long direct = retainedDirectBytes();
        if (heap != accountedHeap) {
            LIVE_HEAP_BYTES.addAndGet(heap - accountedHeap);
            accountedHeap = heap;
        }
        if (direct != accountedDirect) {
            LIVE_DIRECT_BYTES.addAndGet(direct - accountedDirect);
            accountedDirect = direct;
        }
    }

    /** Frees native decoder state and buffers. Idempotent; safe after any exception. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (Decoder decoder : decoders) {
            decoder.close();
        }
        LIVE_HEAP_BYTES.addAndGet(-accountedHeap);
        LIVE_DIRECT_BYTES.addAndGet(-accountedDirect);
        accountedHeap = 0;
        accountedDirect = 0;
        LIVE_PIPELINES.decrementAndGet();
    }

    /** Configuration of a {@link BodyPipeline}; defaults: no coding, no limits, SHA-256 only. */
    public static final class Builder {
        private final ByteSink sink;
        private String contentEncoding;
        private long maxBytes = Long.MAX_VALUE;
        private long maxRatio;
        private boolean blake3;
        private boolean digests = true;
        private Decryption decryption;
        private KeyProvider keys;

        private Builder(ByteSink sink) {
            if (sink == null) {
                throw new IllegalArgumentException("sink is required");
            }
            this.sink = sink;
        }

        /** The response's Content-Encoding value (several header lines joined with ", "), or null. */
        public Builder contentEncoding(String headerValue) {
            this.contentEncoding = headerValue;
            return this;
        }

        /** Most decoded bytes to store; {@link Long#MAX_VALUE} for no limit. */
        public Builder maxBytes(long maxBytes) {
            if (maxBytes < 0) {
                throw new IllegalArgumentException("maxBytes must be >= 0: " + maxBytes);
            }
            this.maxBytes = maxBytes;
            return this;
        }

        /** Most decoded bytes per coded byte while a coding is present (e.g. 1000); 0 turns the guard off. */
        public Builder maxRatio(long maxRatio) {
            if (maxRatio < 0) {
                throw new IllegalArgumentException("maxRatio must be >= 0: " + maxRatio);
            }
            this.maxRatio = maxRatio;
            return this;
        }

        /** Also compute BLAKE3 of the decoded bytes. */
        public Builder blake3(boolean blake3) {
            this.blake3 = blake3;
            return this;
        }

        /**
         * With {@code false}, no digest at all (SHA-256 and BLAKE3 read null): for bodies that are a part of a file
         * whose digests are computed from the whole file later (a probe's first chunk of a larger file).
         */
        public Builder digests(boolean digests) {
            this.digests = digests;
            return this;
        }

        /**
         * Decrypt the body (after its transfer codings) as {@code decryption} says, with the key {@code keys}
         * gives for its key id when {@link #build} runs; null for a plain body.
         */
        public Builder decrypt(Decryption decryption, KeyProvider keys) {
            if (decryption != null && keys == null) {
                throw new IllegalArgumentException("a key provider is required to decrypt");
            }
            this.decryption = decryption;
            this.keys = keys;
            return this;
        }

        /**
         * Creates the pipeline and its decoders; looks up the decryption key, if any.
         *
         * @throws BodyException UNSUPPORTED_CODING naming the coding that cannot be decoded; UNKNOWN_KEY for a
         *     key id no provider knows (or an unusable key)
         * @throws IOException the key provider's own failure (e.g. a KMS that cannot be reached now)
         */
        public BodyPipeline build() throws IOException {
            List<ContentCoding> transfer = ContentCoding.parse(contentEncoding);
            if (decryption == null) {
                return new BodyPipeline(this, transfer, null, null);
            }
            String enc = decryption.innerEncoding();
            List<ContentCoding> inner =
                    enc == null || enc.isBlank() || enc.trim().equalsIgnoreCase(Decryption.AUTO)
                            ? null
                            : ContentCoding.parse(enc);
            byte[] key = key(decryption, keys);
            try {
                return new BodyPipeline(this, transfer, inner, key);
            } finally {
                Arrays.fill(key, (byte) 0);
            }
        }
    }

    /**
     * The 256-bit key of {@code decryption}'s key id (a fresh array the caller wipes).
     *
     * @throws BodyException UNKNOWN_KEY for a key id no provider knows, or an unusable key
     * @throws IOException the key provider's own failure
     */
    static byte[] key(Decryption decryption, KeyProvider keys) throws IOException {
        byte[] key;
        try {
            key = keys.key(decryption.keyId());
        } catch (UnknownKeyException e) {
            throw new BodyException(BodyException.Kind.UNKNOWN_KEY, e.getMessage());
        }
        if (key == null || key.length != DecryptScheme.KEY_BYTES) {
            if (key != null) {
                Arrays.fill(key, (byte) 0);
            }
            throw new BodyException(
                    BodyException.Kind.UNKNOWN_KEY, "unusable key id '" + decryption.keyId() + "': not a 256-bit key");
        }
        return key;
    }
}
