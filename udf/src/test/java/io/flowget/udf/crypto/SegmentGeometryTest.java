package io.flowget.udf.crypto;

import com.google.crypto.tink.subtle.AesGcmHkdfStreaming;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.util.Arrays;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The segment arithmetic checked against Tink itself: lengths against {@code expectedCiphertextSize} and real
 * ciphertexts, segment boundaries and plaintext offsets against Tink's own segmented decryption of each segment.
 */
class SegmentGeometryTest {
    private static final int S = 4096;
    private final SegmentGeometry g = new SegmentGeometry(S);

    private static AesGcmHkdfStreaming aead(int segmentBytes) throws Exception {
        byte[] key = new byte[32];
        new Random(7).nextBytes(key);
        return new AesGcmHkdfStreaming(key, "HmacSha256", 32, segmentBytes, 0);
    }

    @Test
    void plaintextLengthInvertsTinksCiphertextSize() throws Exception {
        AesGcmHkdfStreaming tink = aead(S);
        assertThat(tink.getHeaderLength()).isEqualTo(SegmentGeometry.HEADER_BYTES);
        assertThat(tink.getCiphertextOffset()).isEqualTo(SegmentGeometry.HEADER_BYTES);
        assertThat(tink.getPlaintextSegmentSize()).isEqualTo(S - SegmentGeometry.TAG_BYTES);
        for (long p : new long[] {0, 1, 4039, 4040, 4041, 8120, 8121, 100_000, 1_000_003, 5L << 30}) {
            long c = tink.expectedCiphertextSize(p);
            assertThat(g.plaintextLength(c)).as("plaintext %s", p).isEqualTo(p);
        }
        assertThat(g.plaintextLength(55)).isEqualTo(-1);
        assertThat(g.plaintextLength(S + 15)).as("a last segment shorter than its tag").isEqualTo(-1);
    }

    @Test
    void everySegmentDecryptsAtItsBoundaryToItsPlaintextOffset() throws Exception {
        AesGcmHkdfStreaming tink = aead(S);
        byte[] plain = new byte[5 * S + 123];
        new Random(3).nextBytes(plain);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (OutputStream enc = tink.newEncryptingStream(out, new byte[0])) {
            enc.write(plain);
        }
        byte[] cipher = out.toByteArray();
        assertThat(cipher).hasSize((int) tink.expectedCiphertextSize(plain.length));
        long n = g.segments(cipher.length);
        com.google.crypto.tink.subtle.StreamSegmentDecrypter dec = tink.newStreamSegmentDecrypter();
        dec.init(java.nio.ByteBuffer.wrap(cipher, 0, SegmentGeometry.HEADER_BYTES), new byte[0]);
        byte[] joined = new byte[plain.length];
        for (long i = n - 1; i >= 0; i--) { // any order
            int from = (int) g.ciphertextStart(i);
            int to = (int) g.ciphertextEnd(i, cipher.length);
            assertThat(to % S == 0 || to == cipher.length).isTrue();
            var pt = java.nio.ByteBuffer.allocate(S);
            dec.decryptSegment(java.nio.ByteBuffer.wrap(cipher, from, to - from), (int) i, i == n - 1, pt);
            pt.flip();
            pt.get(joined, (int) g.plaintextStart(i), pt.remaining());
        }
        assertThat(joined).isEqualTo(plain);
        assertThat(g.plaintextBefore(2L * S, cipher.length)).isEqualTo(2L * (S - 16) - 40);
        assertThat(g.plaintextBefore(cipher.length, cipher.length)).isEqualTo(plain.length);
        assertThat(Arrays.copyOf(joined, 4)).isEqualTo(Arrays.copyOf(plain, 4));
    }

    @Test
    void chunksAndSplitsAreWholeSegments() {
        assertThat(g.chunkSize(1)).isEqualTo(S);
        assertThat(g.chunkSize(65_536)).isEqualTo(65_536);
        assertThat(g.chunkSize(65_000)).isEqualTo(65_536);
        assertThat(g.alignUp(0)).isZero();
        assertThat(g.alignUp(1)).isEqualTo(S);
        assertThat(g.alignUp(S)).isEqualTo(S);
        assertThat(new SegmentGeometry(1 << 20).chunkSize(8L << 20)).isEqualTo(8L << 20);
    }
}
