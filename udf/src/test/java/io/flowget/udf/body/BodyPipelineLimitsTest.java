package io.flowget.udf.body;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.util.zip.GZIPInputStream;

/** max_bytes and the decode-ratio guard stop a transfer at the limit, before the rest is decoded. */
class BodyPipelineLimitsTest {
    private static final long MIB = 1 << 20;
    private static final int BOMB_MIB = 1024;
    private static byte[] bomb;

    @BeforeAll
    static void bomb() {
        bomb = Bombs.gzipZeros(BOMB_MIB);
    }

    @Test
    void theBombIsRealOneGibibyteFromAboutOneMebibyte() throws IOException {
        assertThat((long) bomb.length).isLessThan(2 * MIB);
        // Independent check with the JDK's own gzip reader, so the limit tests below test a genuine bomb.
        long total = 0;
        byte[] buf = new byte[256 * 1024];
        try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(bomb), 64 * 1024)) {
            for (int n; (n = in.read(buf)) > 0; ) {
                total += n;
            }
        }
        assertThat(total).isEqualTo(BOMB_MIB * MIB);
    }

    @Test
    void gzipBombStopsAtMaxBytes() throws IOException {
        long limit = 64 * MIB;
        Feed.CountingSink sink = new Feed.CountingSink();
        try (BodyPipeline pipeline =
                BodyPipeline.builder(sink).contentEncoding("gzip").maxBytes(limit).build()) {
            assertThatThrownBy(() -> new Feed(1, false).feed(pipeline, bomb))
                    .isInstanceOfSatisfying(
                            BodyException.class,
                            e -> assertThat(e.kind()).isEqualTo(BodyException.Kind.LIMIT_EXCEEDED))
                    .hasMessage("max_bytes exceeded (limit 67108864 bytes)");

            assertThat(sink.bytes).isLessThanOrEqualTo(limit);
            assertThat(sink.bytes).isGreaterThan(limit - BodyPipeline.CHUNK_SIZE);
            assertThat(pipeline.decodedBytes()).isEqualTo(sink.bytes);
            // Stopped after reading a small part of the bomb, not after inflating all of it.
            assertThat(pipeline.encodedBytes()).isLessThan(bomb.length / 4);
        }
    }

    @Test
    void stackedBombStopsAtMaxBytes() throws IOException {
        // br around a gzip bomb: the limit applies to the innermost output.
        byte[] coded = Codecs.br(Bombs.gzipZeros(256));
        Feed.CountingSink sink = new Feed.CountingSink();
        try (BodyPipeline pipeline =
                BodyPipeline.builder(sink).contentEncoding("gzip, br").maxBytes(10 * MIB).build()) {
            assertThatThrownBy(() -> new Feed(2, true).feed(pipeline, coded))
                    .isInstanceOfSatisfying(
                            BodyException.class,
                            e -> assertThat(e.kind()).isEqualTo(BodyException.Kind.LIMIT_EXCEEDED));
            assertThat(sink.bytes).isLessThanOrEqualTo(10 * MIB).isGreaterThan(10 * MIB - BodyPipeline.CHUNK_SIZE);
        }
    }

    @Test
    void limitIsInclusive() throws IOException {
        byte[] plain = LogText.bytes(1, 100_000);
        for (String coding : new String[] {"identity", "gzip", "zstd", "br"}) {
            byte[] coded = Codecs.encode(plain, coding);
            Feed.MemorySink sink = new Feed.MemorySink();
            try (BodyPipeline pipeline =
                    BodyPipeline.builder(sink).contentEncoding(coding).maxBytes(plain.length).build()) {
                new Feed(3, false).feed(pipeline, coded);
                pipeline.finish();
                assertThat(sink.toByteArray()).as(coding).isEqualTo(plain);
            }
            Feed.CountingSink small = new Feed.CountingSink();
            try (BodyPipeline pipeline =
                    BodyPipeline.builder(small).contentEncoding(coding).maxBytes(plain.length - 1).build()) {
                assertThatThrownBy(
                                () -> {
                                    new Feed(3, false).feed(pipeline, coded);
                                    pipeline.finish();
                                })
                        .as(coding)
                        .isInstanceOf(BodyException.class)
                        .hasMessage("max_bytes exceeded (limit 99999 bytes)");
                assertThat(small.bytes).isLessThan(plain.length);
            }
        }
    }

    @Test
    void zeroLimitAcceptsOnlyAnEmptyBody() throws IOException {
        try (BodyPipeline pipeline = BodyPipeline.builder(ByteSink.discard()).maxBytes(0).build()) {
            pipeline.accept(ByteBuffer.allocate(0));
            pipeline.finish();
            assertThat(pipeline.decodedBytes()).isZero();
        }
        try (BodyPipeline pipeline = BodyPipeline.builder(ByteSink.discard()).maxBytes(0).build()) {
            assertThatThrownBy(() -> pipeline.accept(ByteBuffer.wrap(new byte[] {1})))
                    .hasMessage("max_bytes exceeded (limit 0 bytes)");
        }
    }

    @Test
    void ratioGuardStopsABombWithoutAByteLimit() throws IOException {
        Feed.CountingSink sink = new Feed.CountingSink();
        try (BodyPipeline pipeline =
                BodyPipeline.builder(sink).contentEncoding("gzip").maxRatio(100).build()) {
            assertThatThrownBy(() -> new Feed(4, false).feed(pipeline, bomb))
                    .isInstanceOfSatisfying(
                            BodyException.class,
                            e -> assertThat(e.kind()).isEqualTo(BodyException.Kind.RATIO_EXCEEDED))
                    .hasMessageStartingWith("decode ratio exceeded (limit 100:1, ");
            assertThat(sink.bytes)
                    .isLessThanOrEqualTo(Math.max(BodyPipeline.RATIO_GRACE_BYTES, 100 * pipeline.encodedBytes()));
            assertThat(sink.bytes).isLessThan(8 * MIB);
        }
    }

    @Test
    void ratioGuardLetsOrdinaryCompressedTextAndSmallBodiesThrough() throws IOException {
        byte[] plain = LogText.bytes(5, 4 << 20);
        for (String coding : new String[] {"gzip", "zstd", "br"}) {
            byte[] coded = Codecs.encode(plain, coding);
            try (BodyPipeline pipeline =
                    BodyPipeline.builder(ByteSink.discard()).contentEncoding(coding).maxRatio(50).build()) {
                new Feed(5, false).feed(pipeline, coded);
                pipeline.finish();
                assertThat(pipeline.decodedBytes()).as(coding).isEqualTo(plain.length);
            }
        }
        // 1 MiB of zeros is a ratio of ~1000:1 but stays within the grace size.
        byte[] smallBomb = Bombs.gzipZeros(1);
        try (BodyPipeline pipeline =
                BodyPipeline.builder(ByteSink.discard()).contentEncoding("gzip").maxRatio(10).build()) {
            new Feed(6, false).feed(pipeline, smallBomb);
            pipeline.finish();
            assertThat(pipeline.decodedBytes()).isEqualTo(MIB);
        }
    }

    @Test
    void ratioGuardDoesNotApplyWithoutCoding() throws IOException {
        try (BodyPipeline pipeline = BodyPipeline.builder(ByteSink.discard()).maxRatio(1).build()) {
            new Feed(7, false).feed(pipeline, new byte[3 << 20]);
            pipeline.finish();
            assertThat(pipeline.decodedBytes()).isEqualTo(3 * MIB);
        }
    }
}
