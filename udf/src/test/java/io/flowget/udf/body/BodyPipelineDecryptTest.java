package io.flowget.udf.body;

import static org.assertj.core.api.Assertions.assertThat;

import io.flowget.udf.crypto.DecryptScheme;
import io.flowget.udf.crypto.Decryption;
import io.flowget.udf.crypto.KeyProvider;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Encrypted payloads through the body pipeline: both schemes, with and without compression inside and a transfer
 * coding outside, from 0 bytes to several segments, decrypt byte-exact with the right digests; every kind of
 * damage (wrong key, a flipped bit in the first, a middle or the last segment, truncation, trailing bytes) fails
 * as {@code decryption failed}, and an unknown key id as {@code unknown key id}.
 */
class BodyPipelineDecryptTest {
    private static final byte[] KEY = Encryptors.key(1);
    private static final byte[] OTHER_KEY = Encryptors.key(2);
    private static final KeyProvider KEYS = Encryptors.keys(Map.of("k1", KEY, "k2", OTHER_KEY));

    /** Result of one run: the stored bytes and the pipeline's digest, or the failure. */
    private record Run(byte[] stored, String sha256, List<ContentCoding> inner, BodyException error) {}

    private static Run run(
            byte[] body, String transfer, DecryptScheme scheme, String keyId, String encoding, long maxBytes, long seed)
            throws IOException {
        Feed.MemorySink sink = new Feed.MemorySink();
        try (BodyPipeline p =
                BodyPipeline.builder(sink)
                        .contentEncoding(transfer)
                        .maxBytes(maxBytes)
                        .maxRatio(1000)
                        .decrypt(new Decryption(scheme, keyId, encoding), KEYS)
                        .build()) {
            Feed.anyKind(seed).feed(p, body);
            p.finish();
            return new Run(sink.toByteArray(), p.sha256Hex(), p.innerCodings(), null);
        } catch (BodyException e) {
            return new Run(sink.toByteArray(), null, List.of(), e);
        }
    }

    private static Run run(byte[] body, DecryptScheme scheme, String keyId, String encoding) throws IOException {
        return run(body, null, scheme, keyId, encoding, Long.MAX_VALUE, body.length);
    }

    static Stream<Arguments> payloads() {
        List<Arguments> out = new ArrayList<>();
        int[] sizes = {0, 1, 4055, 4096, 3 * 4096 + 17, (1 << 20) + 5};
        for (DecryptScheme scheme : DecryptScheme.values()) {
            for (int size : sizes) {
                for (String inner : new String[] {"identity", "gzip", "zstd", "br"}) {
                    if (size > 5000 && scheme == DecryptScheme.TINK_AES256_GCM_HKDF_1MB && !inner.equals("gzip")) {
                        continue; // the 1 MiB scheme crosses a segment only at the largest size; gzip covers it
                    }
                    out.add(Arguments.of(scheme, size, inner));
                }
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} {1} bytes, {2} inside")
    @MethodSource("payloads")
    void decryptsByteExactWithDigests(DecryptScheme scheme, int size, String inner) throws Exception {
        byte[] plain = LogText.bytes(size, size);
        byte[] body = Encryptors.encrypt(scheme, KEY, Codecs.encode(plain, inner), size);
        String expectedSha = HexFormat.of().formatHex(Digests.sha256(plain));

        // Named inner coding, and (for identity/gzip/zstd) detected.
        Run named = run(body, scheme, "k1", inner);
        assertThat(named.error()).isNull();
        assertThat(named.stored()).isEqualTo(plain);
        assertThat(named.sha256()).isEqualTo(expectedSha);
        if (!inner.equals("br")) {
            Run detected = run(body, scheme, "k1", null);
            assertThat(detected.error()).isNull();
            assertThat(detected.stored()).isEqualTo(plain);
            assertThat(detected.sha256()).isEqualTo(expectedSha);
            assertThat(ContentCoding.join(detected.inner())).isEqualTo(inner.equals("identity") ? null : inner);
        }
    }

    @ParameterizedTest
    @EnumSource(DecryptScheme.class)
    void transferCodingOutsideTheEncryptionIsRemovedFirst(DecryptScheme scheme) throws Exception {
        byte[] plain = LogText.bytes(5, 200_000);
        byte[] body = Codecs.encode(Encryptors.encrypt(scheme, KEY, Codecs.zstd(plain), 5), "br");
        Run r = run(body, "br", scheme, "k1", Decryption.AUTO, Long.MAX_VALUE, 5);
        assertThat(r.error()).isNull();
        assertThat(r.stored()).isEqualTo(plain);
    }

    @ParameterizedTest
    @EnumSource(DecryptScheme.class)
    void maxBytesCountsStoredPlaintext(DecryptScheme scheme) throws Exception {
        byte[] plain = LogText.bytes(6, 100_000);
        byte[] body = Encryptors.encrypt(scheme, KEY, Codecs.gzip(plain), 6);
        assertThat(run(body, null, scheme, "k1", "gzip", plain.length, 6).error()).isNull();
        Run over = run(body, null, scheme, "k1", "gzip", plain.length - 1, 6);
        assertThat(over.error().kind()).isEqualTo(BodyException.Kind.LIMIT_EXCEEDED);
        assertThat(over.stored().length).isLessThan(plain.length);
    }

    @ParameterizedTest
    @EnumSource(DecryptScheme.class)
    void wrongKeyFails(DecryptScheme scheme) throws Exception {
        byte[] body = Encryptors.encrypt(scheme, KEY, LogText.bytes(3, 50_000), 3);
        Run r = run(body, scheme, "k2", "identity");
        assertDecryptionFailed(r);
    }

    @ParameterizedTest
    @EnumSource(DecryptScheme.class)
    void unknownKeyIdFailsBeforeAnyByte(DecryptScheme scheme) throws Exception {
        Run r = run(new byte[100], scheme, "nope", null);
        assertThat(r.error().kind()).isEqualTo(BodyException.Kind.UNKNOWN_KEY);
        assertThat(r.error()).hasMessage("unknown key id 'nope'");
    }

    /** First, a middle and the last segment (for GCM: first, middle and last ciphertext bytes, and the tag). */
    @ParameterizedTest
    @EnumSource(DecryptScheme.class)
    void aFlippedBitAnywhereFails(DecryptScheme scheme) throws Exception {
        byte[] plain = LogText.bytes(4, 5 * 4096 + 100);
        for (String inner : new String[] {"identity", "gzip"}) {
            byte[] body = Encryptors.encrypt(scheme, KEY, Codecs.encode(plain, inner), 4);
            long[] where;
            if (scheme.segmented()) {
                int segments = (int) (body.length / scheme.ciphertextSegmentSize()) + 1;
                where = new long[] {
                    3, // the header (salt)
                    Encryptors.tinkSegmentStart(scheme, 0) + 7,
                    Encryptors.tinkSegmentStart(scheme, segments / 2) + 11,
                    body.length - 20, // the last segment's ciphertext
                    body.length - 1 // the last segment's tag
                };
            } else {
                where = new long[] {0, 12, body.length / 2, body.length - 17, body.length - 1};
            }
            for (long at : where) {
                byte[] bad = body.clone();
                bad[(int) at] ^= 0x04;
                assertDecryptionFailed(run(bad, scheme, "k1", inner));
            }
        }
    }

    @ParameterizedTest
    @EnumSource(DecryptScheme.class)
    void truncatedOrExtendedObjectsFail(DecryptScheme scheme) throws Exception {
        byte[] plain = LogText.bytes(8, 3 * 4096 + 5);
        byte[] body = Encryptors.encrypt(scheme, KEY, plain, 8);
        int seg = Math.max(1, scheme.ciphertextSegmentSize());
        int[] cuts = {0, 1, 11, 12, 39, 40, 41, 100, body.length - 16, body.length - 1};
        for (int cut : cuts) {
            assertDecryptionFailed(run(Arrays.copyOf(body, cut), scheme, "k1", "identity"));
        }
        if (scheme.segmented() && body.length > seg) {
            // cut exactly at a segment boundary: the remaining segments look complete but none is marked last
            assertDecryptionFailed(run(Arrays.copyOf(body, seg), scheme, "k1", "identity"));
        }
        for (int extra : new int[] {1, 16, seg}) {
            byte[] longer = Arrays.copyOf(body, body.length + extra);
            assertDecryptionFailed(run(longer, scheme, "k1", "identity"));
        }
    }

    @Test
    void tinkSegmentsSwappedFail() throws Exception {
        DecryptScheme scheme = DecryptScheme.TINK_AES256_GCM_HKDF_4KB;
        byte[] body = Encryptors.encrypt(scheme, KEY, LogText.bytes(9, 4 * 4096), 9);
        byte[] swapped = body.clone();
        System.arraycopy(body, 4096, swapped, 2 * 4096, 4096);
        System.arraycopy(body, 2 * 4096, swapped, 4096, 4096);
        assertDecryptionFailed(run(swapped, scheme, "k1", "identity"));
    }

    /**
     * GCM releases plaintext before its tag is checked; when that plaintext is damaged, the inner decoder's
     * verdict waits for the tag, so the reason is the decryption, not the compression.
     */
    @Test
    void damagedGcmWithGzipInsideReportsTheDecryption() throws Exception {
        byte[] body = Encryptors.aesGcm(KEY, Codecs.gzip(LogText.bytes(10, 300_000)), 10);
        byte[] bad = body.clone();
        bad[40] ^= 0x10;
        assertDecryptionFailed(run(bad, DecryptScheme.AES_256_GCM, "k1", "gzip"));
        // and a well-authenticated body whose inside is not gzip still says so
        byte[] notGzip = Encryptors.aesGcm(KEY, LogText.bytes(11, 1000), 11);
        Run r = run(notGzip, DecryptScheme.AES_256_GCM, "k1", "gzip");
        assertThat(r.error().kind()).isEqualTo(BodyException.Kind.CORRUPT);
        assertThat(r.error()).hasMessage("corrupt gzip stream");
    }

    /**
     * Interoperability with a published vector, not only with the JDK encryptor the other tests use: test case 15
     * of the GCM specification (McGrew and Viega), AES-256, 96-bit IV, no associated data, laid out as
     * {@code nonce || ciphertext || tag}.
     */
    @Test
    void gcmSpecificationTestCase15() throws Exception {
        HexFormat hex = HexFormat.of();
        byte[] key = hex.parseHex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
        byte[] body =
                hex.parseHex(
                        "cafebabefacedbaddecaf888"
                                + "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
                                + "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad"
                                + "b094dac5d93471bdec1a502270e3cc6c");
        byte[] plain =
                hex.parseHex(
                        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
                                + "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255");
        Feed.MemorySink sink = new Feed.MemorySink();
        try (BodyPipeline p =
                BodyPipeline.builder(sink)
                        .decrypt(new Decryption(DecryptScheme.AES_256_GCM, "spec", "identity"), id -> key.clone())
                        .build()) {
            new Feed(15, false).feed(p, body);
            p.finish();
        }
        assertThat(sink.toByteArray()).isEqualTo(plain);
        byte[] badTag = body.clone();
        badTag[badTag.length - 1] ^= 1;
        Run r = run(badTag, null, DecryptScheme.AES_256_GCM, "k1", "identity", Long.MAX_VALUE, 1);
        assertDecryptionFailed(r); // (k1 is another key too; the tag alone is checked by aFlippedBitAnywhereFails)
    }

    private static void assertDecryptionFailed(Run r) {
        assertThat(r.error()).as("a damaged or foreign object must not decrypt").isNotNull();
        assertThat(r.error().kind()).isEqualTo(BodyException.Kind.DECRYPT_FAILED);
        assertThat(r.error().getMessage()).startsWith("decryption failed: ");
    }
}
