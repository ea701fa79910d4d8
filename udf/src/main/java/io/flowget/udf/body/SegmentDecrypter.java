package io.flowget.udf.body;

import io.flowget.udf.crypto.Decryption;
import io.flowget.udf.crypto.KeyProvider;
import io.flowget.udf.crypto.SegmentGeometry;

import com.google.crypto.tink.subtle.AesGcmHkdfStreaming;
import com.google.crypto.tink.subtle.StreamSegmentDecrypter;

import javax.annotation.concurrent.NotThreadSafe;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import java.util.Arrays;

/**
 * Decrypts single segments of one Tink {@code AesGcmHkdfStreaming} ciphertext, in any order: Tink's own {@link
 * StreamSegmentDecrypter}, initialised with the object's header (salt and nonce prefix), so each Range chunk of a
 * large encrypted object is decrypted on its own at its segment indices ({@link SegmentGeometry}). Every segment
 * is authenticated before its plaintext is returned; its index and whether it is the last one are part of what is
 * authenticated, so a segment moved, a ciphertext cut at a segment boundary or extended by a segment fails here.
 * Failures are {@link BodyException.Kind#DECRYPT_FAILED} ({@code decryption failed: …}); a key id no provider
 * knows is {@link BodyException.Kind#UNKNOWN_KEY}. The key is looked up once, when the decrypter is made, and
 * wiped once Tink derived the segment key from it.
 *
 * <p>Not thread-safe: one instance per chunk attempt, owned by its response consumer (an I/O reactor thread).
 */
@NotThreadSafe
public final class SegmentDecrypter {
    private final StreamSegmentDecrypter decrypter;
    private final int plaintextSegmentBytes;

    private SegmentDecrypter(StreamSegmentDecrypter decrypter, int plaintextSegmentBytes) {
        this.decrypter = decrypter;
        this.plaintextSegmentBytes = plaintextSegmentBytes;
    }

    /**
     * A decrypter for the object whose {@value SegmentGeometry#HEADER_BYTES}-byte {@code header} is given.
     *
     * @throws BodyException UNKNOWN_KEY (key id unknown or unusable), DECRYPT_FAILED (a header that is no Tink
     *     header, or a segment size that does not match the key's scheme)
     * @throws IOException the key provider's own failure
     */
    public static SegmentDecrypter open(
            Decryption decryption, KeyProvider keys, int segmentBytes, byte[] header) throws IOException {
        if (header == null || header.length != SegmentGeometry.HEADER_BYTES) {
            throw BodyException.decryptFailed("invalid Tink streaming header", null);
        }
        byte[] key = BodyPipeline.key(decryption, keys);
        try {
            AesGcmHkdfStreaming aead =
                    new AesGcmHkdfStreaming(key, "HmacSha256", key.length, segmentBytes, 0);
            StreamSegmentDecrypter d = aead.newStreamSegmentDecrypter();
            d.init(ByteBuffer.wrap(header.clone()), new byte[0]);
            return new SegmentDecrypter(d, aead.getPlaintextSegmentSize());
        } catch (GeneralSecurityException e) {
            throw BodyException.decryptFailed("invalid Tink streaming header", e);
        } finally {
            Arrays.fill(key, (byte) 0);
        }
    }

    /** Size of the plaintext buffer {@link #decrypt} needs: one whole segment's plaintext. */
    public int plaintextSegmentBytes() {
        return plaintextSegmentBytes;
    }

    /**
     * Decrypts and authenticates segment {@code segmentNr} ({@code ciphertext} from position to limit, consumed)
     * into {@code plaintext} (written from its position).
     *
     * @param last true for the segment the object ends with
     * @throws BodyException DECRYPT_FAILED when the segment does not authenticate
     */
    public void decrypt(ByteBuffer ciphertext, long segmentNr, boolean last, ByteBuffer plaintext)
            throws BodyException {
        if (segmentNr > Integer.MAX_VALUE) {
            throw BodyException.decryptFailed("too many segments", null);
        }
        try {
            decrypter.decryptSegment(ciphertext, (int) segmentNr, last, plaintext);
        } catch (GeneralSecurityException | RuntimeException e) {
            throw BodyException.decryptFailed(
                    "Tink segment " + segmentNr + " does not authenticate (wrong key, or damaged, truncated,"
                            + " extended or reordered object)",
                    e);
        }
    }
}
