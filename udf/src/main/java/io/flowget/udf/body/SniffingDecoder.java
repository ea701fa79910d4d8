package io.flowget.udf.body;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * The inner compression of a decrypted body when the request names none: looks at the first plaintext bytes
 * and decodes gzip ({@code 1f 8b}) or zstd ({@code 28 b5 2f fd}); anything else (brotli and deflate have no magic
 * number) passes through as it is. Holds at most 4 bytes until it has decided.
 *
 * <p>Not thread-safe: owned by one {@link BodyPipeline}.
 */
final class SniffingDecoder implements Decoder {
    /** Makes the decoder of a detected coding, feeding {@code next}. */
    interface Factory {
        Decoder create(ContentCoding coding, ChunkConsumer next) throws IOException;
    }

    private static final int MAGIC_BYTES = 4;

    private final ChunkConsumer next;
    private final Factory factory;
    private final byte[] head = new byte[MAGIC_BYTES];
    private int headFill;
    private boolean decided;
    private Decoder inner;
    private ContentCoding detected;

    SniffingDecoder(ChunkConsumer next, Factory factory) {
        this.next = next;
        this.factory = factory;
    }

    @Override
    public void accept(ByteBuffer chunk) throws IOException {
        if (!decided) {
            int n = Math.min(MAGIC_BYTES - headFill, chunk.remaining());
            chunk.get(head, headFill, n);
            headFill += n;
            if (headFill < MAGIC_BYTES) {
                return;
            }
            decide();
        }
        if (chunk.hasRemaining()) {
            (inner != null ? inner : next).accept(chunk);
        }
    }

    private void decide() throws IOException {
        decided = true;
        if (headFill >= 2 && (head[0] & 0xff) == 0x1f && (head[1] & 0xff) == 0x8b) {
            detected = ContentCoding.GZIP;
        } else if (headFill == 4
                && (head[0] & 0xff) == 0x28
                && (head[1] & 0xff) == 0xb5
                && (head[2] & 0xff) == 0x2f
                && (head[3] & 0xff) == 0xfd) {
            detected = ContentCoding.ZSTD;
        }
        if (detected != null) {
            inner = factory.create(detected, next);
        }
        if (headFill > 0) {
            (inner != null ? inner : next).accept(ByteBuffer.wrap(head, 0, headFill));
        }
    }

    @Override
    public void finish() throws IOException {
        if (!decided) {
            decide(); // a body of fewer than 4 bytes: too short for any compressed stream
        }
        if (inner != null) {
            inner.finish();
        }
    }

    /** The coding found, as a list of zero or one; empty before the first bytes or for plain bodies. */
    List<ContentCoding> detected() {
        return detected == null ? List.of() : List.of(detected);
    }

    @Override
    public int heapBytes() {
        return MAGIC_BYTES + (inner == null ? 0 : inner.heapBytes());
    }

    @Override
    public int directBytes() {
        return inner == null ? 0 : inner.directBytes();
    }

    @Override
    public void close() {
        if (inner != null) {
            inner.close();
        }
    }
}
