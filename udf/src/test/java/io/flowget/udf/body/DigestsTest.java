package io.flowget.udf.body;

import static org.assertj.core.api.Assertions.assertThat;

import org.apache.commons.codec.digest.Blake3;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;

/** File digests for chunked downloads equal the digests of the same bytes in memory. */
class DigestsTest {
    @TempDir Path dir;

    @Test
    void fileDigestsMatchReferenceImplementations() throws Exception {
        for (int size : new int[] {0, 1, Digests.FILE_BUFFER_SIZE, Digests.FILE_BUFFER_SIZE + 1, 3_000_017}) {
            byte[] data = LogText.bytes(size, size);
            Path file = Files.write(dir.resolve("f" + size), data);
            String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
            String b3 = HexFormat.of().formatHex(Blake3.hash(data));

            Digests.FileDigest both = Digests.digest(file, true);

            assertThat(both.bytes()).isEqualTo(size);
            assertThat(both.sha256()).isEqualTo(sha);
            assertThat(both.blake3()).isEqualTo(b3);
            assertThat(Digests.sha256Hex(file)).isEqualTo(sha);
            assertThat(Digests.blake3Hex(file)).isEqualTo(b3);
            assertThat(Digests.digest(file, false).blake3()).isNull();
            assertThat(Digests.sha256Hex(data)).isEqualTo(sha);
        }
    }

    @Test
    void everyNewSha256StartsEmptyAndIsNobodyElses() throws Exception {
        // newSha256 copies one shared initial digest: a copy that shared its state with the others (or with the
        // prototype) would carry one body's bytes into the next one's digest.
        MessageDigest a = Digests.newSha256();
        MessageDigest b = Digests.newSha256();
        a.update(LogText.bytes(1, 100_000));

        assertThat(a).isNotSameAs(b);
        assertThat(HexFormat.of().formatHex(b.digest()))
                .isEqualTo("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assertThat(HexFormat.of().formatHex(Digests.newSha256().digest()))
                .isEqualTo("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assertThat(a.digest()).isEqualTo(MessageDigest.getInstance("SHA-256").digest(LogText.bytes(1, 100_000)));
    }

    @Test
    void knownAnswers() throws Exception {
        Path empty = Files.write(dir.resolve("empty"), new byte[0]);
        assertThat(Digests.sha256Hex(empty))
                .isEqualTo("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        // BLAKE3 of the empty input, from the BLAKE3 reference test vectors.
        assertThat(Digests.blake3Hex(empty))
                .isEqualTo("af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
    }

    @Test
    void pipelineAndFileDigestsAgree() throws Exception {
        byte[] plain = LogText.bytes(8, 2_000_003);
        Path file = dir.resolve("stored");
        try (var channel =
                        java.nio.channels.FileChannel.open(
                                file,
                                java.nio.file.StandardOpenOption.CREATE,
                                java.nio.file.StandardOpenOption.WRITE);
                BodyPipeline pipeline =
                        BodyPipeline.builder(
                                        decoded -> {
                                            while (decoded.hasRemaining()) {
                                                channel.write(decoded);
                                            }
                                        })
                                .contentEncoding("br")
                                .blake3(true)
                                .build()) {
            new Feed(8, true).feed(pipeline, Codecs.br(plain));
            pipeline.finish();
            Digests.FileDigest stored = Digests.digest(file, true);
            assertThat(stored.bytes()).isEqualTo(plain.length);
            assertThat(stored.sha256()).isEqualTo(pipeline.sha256Hex());
            assertThat(stored.blake3()).isEqualTo(pipeline.blake3Hex());
        }
    }

    @Test
    void aPipelineWithDigestsOffStoresTheSameBytesAndReportsNoDigest() throws Exception {
        byte[] plain = LogText.bytes(9, 300_007);
        java.io.ByteArrayOutputStream stored = new java.io.ByteArrayOutputStream();
        try (BodyPipeline pipeline =
                BodyPipeline.builder(
                                decoded -> {
                                    byte[] b = new byte[decoded.remaining()];
                                    decoded.get(b);
                                    stored.write(b);
                                })
                        .contentEncoding("gzip")
                        .blake3(true)
                        .digests(false)
                        .build()) {
            new Feed(9, true).feed(pipeline, Codecs.gzip(plain));
            pipeline.finish();
            assertThat(stored.toByteArray()).isEqualTo(plain);
            assertThat(pipeline.decodedBytes()).isEqualTo(plain.length);
            assertThat(pipeline.sha256Hex()).isNull();
            assertThat(pipeline.blake3Hex()).isNull();
        }
    }
}
