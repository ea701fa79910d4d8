package io.flowget.udf.body;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Random;

/** Corrupt, truncated and unknown codings fail with a typed, readable {@link BodyException}. */
class BodyPipelineCorruptionTest {
    private static byte[] plain;

    @BeforeAll
    static void data() {
        plain = LogText.bytes(7, 300_001);
    }

    /** Runs the whole body through a pipeline; returns the failure, or null when it decoded. */
    private static BodyException decode(String header, byte[] coded, long seed) throws IOException {
        Feed.MemorySink sink = new Feed.MemorySink();
        try (BodyPipeline pipeline = BodyPipeline.builder(sink).contentEncoding(header).build()) {
            new Feed(seed, false).feed(pipeline, coded);
            pipeline.finish();
            return null;
        } catch (BodyException e) {
            return e;
        }
    }

    @ParameterizedTest
    @CsvSource({
        "gzip, gzip, corrupt gzip stream",
        "deflate, deflate, corrupt deflate stream",
        "raw-deflate, deflate, corrupt deflate stream",
        "zstd, zstd, corrupt zstd stream",
        "br, br, corrupt br stream"
    })
    void truncatedStreamsAreCorrupt(String encoder, String header, String message) throws IOException {
        byte[] coded = Codecs.encode(plain, encoder);
        Random random = new Random(11);
        int[] cuts = {1, 2, 5, 10, coded.length / 2, coded.length - 4, coded.length - 1, random.nextInt(coded.length)};
        for (int cut : cuts) {
            BodyException e = decode(header, Arrays.copyOf(coded, Math.max(1, cut)), cut);
            assertThat(e).as("%s cut at %d of %d", encoder, cut, coded.length).isNotNull();
            assertThat(e.kind()).isEqualTo(BodyException.Kind.CORRUPT);
            assertThat(e).hasMessage(message);
        }
    }

    /**
     * Codings with an integrity check (gzip CRC32, zlib Adler-32, zstd content checksum) catch every flipped
     * byte that matters. Bytes 4-9 of a gzip header (MTIME, XFL, OS) are not covered by any check, by design of
     * RFC 1952, so they are not flipped here.
     */
    @ParameterizedTest
    @CsvSource({
        "gzip, gzip, corrupt gzip stream, 10",
        "deflate, deflate, corrupt deflate stream, 0",
        "zstd, zstd, corrupt zstd stream, 0"
    })
    void flippedBytesAreCorruptWhenTheFormatHasAChecksum(
            String encoder, String header, String message, int firstCovered) throws IOException {
        byte[] coded = Codecs.encode(plain, encoder);
        Random random = new Random(5);
        for (int i = 0; i < 25; i++) {
            int at = i < 3 ? i : firstCovered + random.nextInt(coded.length - firstCovered);
            if (encoder.equals("gzip") && at >= 4 && at < 10) {
                continue;
            }
            byte[] broken = coded.clone();
            broken[at] ^= (byte) (1 << random.nextInt(8));
            BodyException e = decode(header, broken, i);
            assertThat(e).as("%s flipped at %d", encoder, at).isNotNull();
            assertThat(e.kind()).isEqualTo(BodyException.Kind.CORRUPT);
            assertThat(e).hasMessage(message);
        }
    }

    /**
     * Brotli and raw deflate carry no checksum, so a flipped bit can decode to different bytes without any error
     * (the expected sha256 of the request is the defence there; raw deflate resynchronises after almost any
     * flip). What must hold: a flip is either CORRUPT or visibly changes the stored bytes, never a silent success
     * with the original's size and digest.
     */
    @ParameterizedTest
    @CsvSource({"br, br, corrupt br stream", "raw-deflate, deflate, corrupt deflate stream"})
    void flippedBytesWithoutChecksumAreCorruptOrDifferent(String encoder, String header, String message)
            throws IOException {
        byte[] coded = Codecs.encode(plain, encoder);
        Random random = new Random(9);
        for (int i = 0; i < 20; i++) {
            byte[] broken = coded.clone();
            broken[random.nextInt(coded.length)] ^= (byte) (1 << random.nextInt(8));
            Feed.MemorySink sink = new Feed.MemorySink();
            try (BodyPipeline pipeline = BodyPipeline.builder(sink).contentEncoding(header).build()) {
                new Feed(i, false).feed(pipeline, broken);
                pipeline.finish();
                assertThat(sink.toByteArray()).isNotEqualTo(plain);
                assertThat(pipeline.sha256Hex()).isNotEqualTo(Digests.sha256Hex(plain));
            } catch (BodyException e) {
                assertThat(e.kind()).isEqualTo(BodyException.Kind.CORRUPT);
                assertThat(e).hasMessage(message);
            }
        }
    }

    @ParameterizedTest
    @CsvSource({
        "gzip, gzip, corrupt gzip stream",
        "deflate, deflate, corrupt deflate stream",
        "raw-deflate, deflate, corrupt deflate stream",
        "zstd, zstd, corrupt zstd stream",
        "br, br, corrupt br stream"
    })
    void trailingGarbageIsCorrupt(String encoder, String header, String message) throws IOException {
        byte[] coded = Codecs.encode(plain, encoder);
        for (byte[] garbage : new byte[][] {{0}, {'x', 'y', 'z'}, "<html>".getBytes()}) {
            byte[] broken = Arrays.copyOf(coded, coded.length + garbage.length);
            System.arraycopy(garbage, 0, broken, coded.length, garbage.length);
            BodyException e = decode(header, broken, garbage.length);
            assertThat(e).as("%s + %d garbage bytes", encoder, garbage.length).isNotNull();
            assertThat(e.kind()).isEqualTo(BodyException.Kind.CORRUPT);
            assertThat(e).hasMessage(message);
        }
    }

    @Test
    void plainTextLabelledAsCodingIsCorrupt() throws IOException {
        byte[] html = "<html><body>not compressed</body></html>".getBytes();
        for (String coding : new String[] {"gzip", "deflate", "zstd", "br"}) {
            BodyException e = decode(coding, html, 1);
            assertThat(e).as(coding).isNotNull();
            assertThat(e.kind()).isEqualTo(BodyException.Kind.CORRUPT);
            assertThat(e).hasMessage("corrupt " + coding + " stream");
        }
    }

    @Test
    void wrongGzipHeaderCrcIsCorrupt() throws IOException {
        byte[] member = BodyPipelineCodingTest.gzipWithAllHeaderFields(plain, false);
        BodyException e = decode("gzip", member, 3);
        assertThat(e).isNotNull();
        assertThat(e).hasMessage("corrupt gzip stream");
        assertThat(e.getCause()).hasMessageContaining("header CRC16");
    }

    @Test
    void wrongGzipIsizeIsCorrupt() throws IOException {
        byte[] coded = Codecs.gzip(plain);
        coded[coded.length - 1] ^= 1;
        BodyException e = decode("gzip", coded, 3);
        assertThat(e).isNotNull();
        assertThat(e.getCause()).hasMessageContaining("ISIZE");
    }

    @ParameterizedTest
    @ValueSource(strings = {"compress", "x-compress", "exi", "pack200-gzip", "aes128gcm", "dcz"})
    void unknownCodingIsUnsupportedAndNamed(String coding) {
        assertThatThrownBy(() -> BodyPipeline.builder(ByteSink.discard()).contentEncoding(coding).build())
                .isInstanceOfSatisfying(
                        BodyException.class,
                        e -> assertThat(e.kind()).isEqualTo(BodyException.Kind.UNSUPPORTED_CODING))
                .hasMessage("unsupported content-coding '" + coding + "'");
    }

    @Test
    void unknownCodingInAStackIsNamedAndNoPipelineLeaks() {
        long live = BodyPipeline.livePipelines();
        assertThatThrownBy(
                        () ->
                                BodyPipeline.builder(ByteSink.discard())
                                        .contentEncoding("gzip, Compress")
                                        .build())
                .isInstanceOf(BodyException.class)
                .hasMessage("unsupported content-coding 'Compress'");
        assertThat(BodyPipeline.livePipelines()).isEqualTo(live);
    }

    @Test
    void failedPipelineRefusesInputAndClosesCleanly() throws IOException {
        long live = BodyPipeline.livePipelines();
        long heap = BodyPipeline.liveHeapBytes();
        BodyPipeline pipeline = BodyPipeline.builder(ByteSink.discard()).contentEncoding("zstd").build();
        assertThat(BodyPipeline.livePipelines()).isEqualTo(live + 1);
        assertThatThrownBy(() -> pipeline.accept(ByteBuffer.wrap("garbage!".getBytes())))
                .isInstanceOf(BodyException.class)
                .hasMessage("corrupt zstd stream");
        assertThatThrownBy(() -> pipeline.accept(ByteBuffer.wrap(new byte[1])))
                .isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(pipeline::finish).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(pipeline::sha256Hex).isInstanceOf(IllegalStateException.class);
        pipeline.close();
        pipeline.close();
        assertThat(BodyPipeline.livePipelines()).isEqualTo(live);
        assertThat(BodyPipeline.liveHeapBytes()).isEqualTo(heap);
    }

    @Test
    void sinkFailurePropagatesUnchanged() throws IOException {
        IOException diskFull = new IOException("No space left on device");
        byte[] coded = Codecs.gzip(plain);
        try (BodyPipeline pipeline =
                BodyPipeline.builder(
                                decoded -> {
                                    throw diskFull;
                                })
                        .contentEncoding("gzip")
                        .build()) {
            assertThatThrownBy(() -> pipeline.accept(ByteBuffer.wrap(coded))).isSameAs(diskFull);
            assertThat(pipeline.decodedBytes()).isZero();
        }
    }

    @Test
    void sinkThatDoesNotConsumeIsAProgrammingError() throws IOException {
        try (BodyPipeline pipeline = BodyPipeline.builder(decoded -> {}).build()) {
            assertThatThrownBy(() -> pipeline.accept(ByteBuffer.wrap(new byte[10])))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("unwritten");
        }
    }

    @Test
    void zstdWindowAboveRfc9659LimitIsRefused() throws IOException {
        byte[] big = LogText.bytes(3, 12 << 20);
        byte[] coded;
        try (com.github.luben.zstd.ZstdCompressCtx ctx = new com.github.luben.zstd.ZstdCompressCtx()) {
            ctx.setLevel(1).setWindowLog(ZstdDecoder.WINDOW_LOG_MAX + 2);
            coded = ctx.compress(big);
        }
        BodyException e = decode("zstd", coded, 1);
        assertThat(e).isNotNull();
        assertThat(e).hasMessage("corrupt zstd stream");
        assertThat(e.getCause()).hasMessageContaining("memory");
    }
}
