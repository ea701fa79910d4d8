package io.flowget.udf.body;

import static org.assertj.core.api.Assertions.assertThat;

import io.flowget.udf.crypto.DecryptScheme;
import io.flowget.udf.crypto.Decryption;
import io.flowget.udf.crypto.KeyProvider;
import io.flowget.udf.testing.Heap;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.crypto.Cipher;
import javax.crypto.CipherOutputStream;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Map;

/**
 * Decryption adds a small fixed buffer per in-flight download, measured as {@link BodyPipelineMemoryTest} does:
 * many pipelines held mid-stream, heap after full GCs divided by their number; and a 64 MiB encrypted body goes
 * through with flat heap. Heap, not time, is asserted.
 */
class BodyPipelineDecryptMemoryTest {
    private static final Logger LOG = LoggerFactory.getLogger(BodyPipelineDecryptMemoryTest.class);
    private static final long MIB = 1 << 20;
    private static final byte[] KEY = Encryptors.key(5);
    private static final KeyProvider KEYS = Encryptors.keys(Map.of("k", KEY));

    /**
     * Bounds: working buffers (decode buffers, AES-GCM's input, plaintext and discard buffers) are borrowed from
     * {@link DecodeBuffers} per call, so a pipeline waiting mid-body holds only state: AES-GCM the held-back tag,
     * the nonce and the two JDK ciphers' 2 KiB (measured 3.6–3.8 KiB; 28 KiB, 54 KiB with gzip inside, when it
     * kept three 8 KiB buffers and a 16 KiB decode buffer); Tink one ciphertext and one plaintext segment (its
     * partial segments are state: 10.7 KiB for 4 KiB segments).
     */
    @ParameterizedTest(name = "{0} inside {1}")
    @CsvSource({
        "aes-256-gcm, identity, 300, 8",
        "aes-256-gcm, gzip, 300, 8",
        "aes-256-gcm, zstd, 200, 8",
        "tink-aes256-gcm-hkdf-4kb, identity, 300, 16",
        "tink-aes256-gcm-hkdf-4kb, gzip, 300, 16",
        "tink-aes256-gcm-hkdf-1mb, identity, 20, 2112"
    })
    void heapPerInFlightEncryptedDownloadIsFixed(String schemeToken, String inner, int count, int boundKib)
            throws IOException {
        DecryptScheme scheme = DecryptScheme.forToken(schemeToken);
        byte[] plain = LogText.bytes(77, 3 << 20);
        byte[] body = Encryptors.encrypt(scheme, KEY, Codecs.encode(plain, inner), 1);
        // Past the first segment (the 1 MiB scheme included), so every buffer is allocated and in use.
        int prefix = scheme == DecryptScheme.TINK_AES256_GCM_HKDF_1MB ? (int) MIB + 64 * 1024 : 64 * 1024;
        ByteBuffer input = ByteBuffer.allocateDirect(prefix);
        BodyPipeline[] open = new BodyPipeline[count];
        long liveBefore = BodyPipeline.livePipelines();
        long liveHeapBefore = BodyPipeline.liveHeapBytes();
        long baseline = Heap.usedAfterGc();
        try {
            for (int i = 0; i < count; i++) {
                open[i] =
                        BodyPipeline.builder(ByteSink.discard())
                                .decrypt(new Decryption(scheme, "k", inner), KEYS)
                                .blake3(true)
                                .build();
                input.clear();
                input.put(body, 0, prefix).flip();
                open[i].accept(input);
            }
            long perDownload = (Heap.usedAfterGc() - baseline) / count;
            long accounted = (BodyPipeline.liveHeapBytes() - liveHeapBefore) / count;
            LOG.info(
                    "heap per in-flight encrypted download, {} inside {}: measured {} bytes, pipeline buffers {}"
                            + " bytes",
                    schemeToken,
                    inner,
                    perDownload,
                    accounted);
            assertThat(accounted).isEqualTo(open[0].retainedHeapBytes());
            // The measurement sees the buffers the pipelines account for, less what other threads freed meanwhile.
            assertThat(perDownload).isGreaterThanOrEqualTo(accounted - Heap.BACKGROUND_NOISE_BYTES / count);
            assertThat(perDownload).isLessThanOrEqualTo(boundKib * 1024L);
        } finally {
            Arrays.stream(open).filter(p -> p != null).forEach(BodyPipeline::close);
        }
        assertThat(BodyPipeline.livePipelines()).isEqualTo(liveBefore);
        assertThat(BodyPipeline.liveHeapBytes()).isEqualTo(liveHeapBefore);
    }

    /** The ciphertext is produced on the fly and pushed in random slices: nothing of body size exists. */
    @ParameterizedTest
    @EnumSource(value = DecryptScheme.class, names = {"AES_256_GCM", "TINK_AES256_GCM_HKDF_1MB"})
    void largeEncryptedBodyDecryptsWithFlatHeap(DecryptScheme scheme) throws Exception {
        long total = 64 * MIB;
        LogText text = new LogText(2025);
        byte[] chunk = new byte[64 * 1024];
        MessageDigest expected = MessageDigest.getInstance("SHA-256");
        Feed feed = new Feed(7, true);
        Feed.CountingSink sink = new Feed.CountingSink();
        long growth = 0;
        try (BodyPipeline pipeline =
                BodyPipeline.builder(sink)
                        .decrypt(new Decryption(scheme, "k", "gzip"), KEYS)
                        .maxBytes(total)
                        .maxRatio(1000)
                        .build()) {
            OutputStream wire = feed.wire(pipeline);
            OutputStream encrypting = encryptingStream(scheme, wire);
            java.util.zip.GZIPOutputStream gzip = new java.util.zip.GZIPOutputStream(encrypting, 64 * 1024);
            long baseline = Heap.usedAfterGc();
            for (long written = 0; written < total; written += chunk.length) {
                text.fill(chunk, 0, chunk.length);
                expected.update(chunk);
                gzip.write(chunk);
                if ((written + chunk.length) % (16 * MIB) == 0) {
                    growth = Math.max(growth, Heap.usedAfterGc() - baseline);
                }
            }
            gzip.close();
            pipeline.finish();
            assertThat(pipeline.decodedBytes()).isEqualTo(total);
            assertThat(sink.bytes).isEqualTo(total);
            assertThat(pipeline.sha256Hex()).isEqualTo(HexFormat.of().formatHex(expected.digest()));
            LOG.info("64 MiB {} body: heap growth while in flight {} bytes", scheme.token(), growth);
        }
        assertThat(growth).isLessThan(16 * MIB);
    }

    /**
     * Encrypts on the fly: Tink's stream, or for GCM the JDK's cipher after the nonce (the JDK encrypts GCM
     * as a stream; only its decryption buffers, which is why flowget does not decrypt with it).
     */
    private static OutputStream encryptingStream(DecryptScheme scheme, OutputStream wire) throws Exception {
        if (scheme.segmented()) {
            return Encryptors.tinkStream(scheme, KEY, wire);
        }
        byte[] nonce = new byte[12];
        new java.util.Random(3).nextBytes(nonce);
        wire.write(nonce);
        Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
        c.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(KEY, "AES"), new GCMParameterSpec(128, nonce));
        return new CipherOutputStream(wire, c);
    }
}
