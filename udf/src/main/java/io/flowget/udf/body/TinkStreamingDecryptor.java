package io.flowget.udf.body;

import io.flowget.udf.crypto.DecryptScheme;

import com.google.crypto.tink.subtle.AesGcmHkdfStreaming;
import com.google.crypto.tink.subtle.StreamSegmentDecrypter;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;

/**
 * Tink's segmented streaming AEAD ({@code AesGcmHkdfStreaming}, HKDF-SHA256, AES-256, empty associated data) as a
 * push-style stage. Ciphertext layout: a header ({@code 0x28 || salt (32) || nonce prefix (7)}, 40 bytes), then
 * segments of {@link DecryptScheme#ciphertextSegmentSize()} bytes (the first one 40 bytes shorter), each
 * {@code AES-GCM(segment plaintext) || tag (16)}; the last segment may be shorter and is marked last in its
 * nonce. A segment is decrypted and authenticated as a whole before any of its plaintext moves on, and one is
 * treated as the last only when the body ends right after it — so a truncated, extended or reordered object
 * fails on the segment where it stops matching.
 *
 * <p>Memory is fixed: one ciphertext and one plaintext segment buffer (about 8 KiB for 4 KiB segments, 2 MiB for
 * 1 MiB segments). Not thread-safe: owned by one {@link BodyPipeline}.
 */
final class TinkStreamingDecryptor implements Decoder {
    /** Tink's header length for 32-byte keys: length byte, salt, 7-byte nonce prefix. */
    static final int HEADER_BYTES = 1 + DecryptScheme.KEY_BYTES + 7;

    private final ChunkConsumer next;
    private final int chunkSize;
    private final StreamSegmentDecrypter decrypter;
    private final int firstSegmentBytes;
    private final byte[] header = new byte[HEADER_BYTES];
    private final ByteBuffer segment;
    private final ByteBuffer plain;
    private int headerFill;
    private boolean headerRead;
    private int segmentNr;

    TinkStreamingDecryptor(DecryptScheme scheme, byte[] key, ChunkConsumer next, int chunkSize) throws IOException {
        this.next = next;
        this.chunkSize = chunkSize;
        AesGcmHkdfStreaming aead = newAead(scheme, key);
        try {
            this.decrypter = aead.newStreamSegmentDecrypter();
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot create the Tink decrypter", e);
        }
        int segmentBytes = aead.getCiphertextSegmentSize();
        this.firstSegmentBytes = segmentBytes - aead.getCiphertextOffset();
        this.segment = ByteBuffer.allocate(segmentBytes);
        this.plain = ByteBuffer.allocate(aead.getPlaintextSegmentSize());
    }

    /** The Tink primitive of {@code scheme} under {@code key} (also used by tests and benchmarks to encrypt). */
    static AesGcmHkdfStreaming newAead(DecryptScheme scheme, byte[] key) throws IOException {
        if (!scheme.segmented()) {
            throw new IllegalArgumentException(scheme.token() + " is not a segmented scheme");
        }
        try {
            return new AesGcmHkdfStreaming(key, "HmacSha256", DecryptScheme.KEY_BYTES, scheme.ciphertextSegmentSize(), 0);
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot create " + scheme.token(), e);
        }
    }

    @Override
    public void accept(ByteBuffer coded) throws IOException {
        while (coded.hasRemaining()) {
            if (!headerRead) {
                int n = Math.min(HEADER_BYTES - headerFill, coded.remaining());
                coded.get(header, headerFill, n);
                headerFill += n;
                if (headerFill == HEADER_BYTES) {
                    try {
                        decrypter.init(ByteBuffer.wrap(header), new byte[0]);
                    } catch (GeneralSecurityException e) {
                        throw BodyException.decryptFailed("invalid Tink streaming header", e);
                    }
                    headerRead = true;
                }
                continue;
            }
            int capacity = segmentNr == 0 ? firstSegmentBytes : segment.capacity();
            if (segment.position() == capacity) {
                decryptSegment(false); // more bytes follow, so this one is not the last
            }
            int n = Math.min(capacity - segment.position(), coded.remaining());
            int limit = coded.limit();
            coded.limit(coded.position() + n);
            segment.put(coded);
            coded.limit(limit);
        }
    }

    private void decryptSegment(boolean last) throws IOException {
        segment.flip();
        plain.clear();
        try {
            decrypter.decryptSegment(segment, segmentNr, last, plain);
        } catch (GeneralSecurityException | RuntimeException e) {
            throw BodyException.decryptFailed(
                    "Tink segment " + segmentNr + " does not authenticate (wrong key, or damaged, truncated,"
                            + " extended or reordered object)",
                    e);
        }
        if (segmentNr == Integer.MAX_VALUE) {
            throw BodyException.decryptFailed("too many segments", null);
        }
        segmentNr++;
        segment.clear();
        plain.flip();
        int limit = plain.limit();
        while (plain.position() < limit) {
            plain.limit(Math.min(limit, plain.position() + chunkSize));
            next.accept(plain);
            plain.limit(limit);
        }
    }

    @Override
    public void finish() throws IOException {
        if (!headerRead) {
            throw BodyException.decryptFailed("object shorter than the " + HEADER_BYTES + "-byte Tink header", null);
        }
        decryptSegment(true);
    }

    @Override
    public int heapBytes() {
        return segment.capacity() + plain.capacity() + HEADER_BYTES;
    }

    @Override
    public int directBytes() {
        return 0;
    }

    @Override
    public void close() {
        // the derived key lives in Tink's decrypter; nothing native to free
    }
}
