package io.flowget.udf.body;

import static org.assertj.core.api.Assertions.assertThat;

import com.github.luben.zstd.ZstdOutputStreamNoFinalizer;
import io.flowget.udf.testing.Heap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.HexFormat;

/**
 * Memory stays fixed per transfer: a 200 MiB body goes through with flat heap, and the heap cost of one
 * in-flight pipeline is measured (used heap after full GCs, divided by the number of open pipelines). A pipeline
 * waiting for bytes holds no decode buffer (they are borrowed from {@link DecodeBuffers} per call), only decoder
 * and digest state: measured 0.7–1.9 KiB per pipeline for every coding (16–25 KiB before the buffers were pooled),
 * bound {@value #PIPELINE_HEAP_BOUND} bytes. Heap, not time, is asserted.
 */
class BodyPipelineMemoryTest {
    private static final Logger LOG = LoggerFactory.getLogger(BodyPipelineMemoryTest.class);
    private static final long MIB = 1 << 20;
    /** Heap of one pipeline waiting mid-body: decoder state, digests, a few header bytes; no buffer. */
    private static final long PIPELINE_HEAP_BOUND = 4 * 1024;

    @Test
    void twoHundredMebibyteZstdBodyDecodesWithFlatHeap() throws Exception {
        long total = 200 * MIB;
        LogText text = new LogText(2024);
        byte[] plainChunk = new byte[64 * 1024];
        MessageDigest expected = MessageDigest.getInstance("SHA-256");
        Feed feed = new Feed(99, false);
        Feed.CountingSink sink = new Feed.CountingSink();
        long[] heapGrowth = {0};

        try (BodyPipeline pipeline =
                BodyPipeline.builder(sink).contentEncoding("zstd").maxBytes(total).maxRatio(1000).build()) {
            // The coded body is produced on the fly and pushed in random slices: nothing of body size exists.
            OutputStream wire = feed.wire(pipeline);
            ZstdOutputStreamNoFinalizer zstd = new ZstdOutputStreamNoFinalizer(wire, 3);
            zstd.setChecksum(true);
            long baseline = Heap.usedAfterGc();
            for (long written = 0; written < total; written += plainChunk.length) {
                text.fill(plainChunk, 0, plainChunk.length);
                expected.update(plainChunk);
                zstd.write(plainChunk);
                if ((written + plainChunk.length) % (50 * MIB) == 0) {
                    heapGrowth[0] = Math.max(heapGrowth[0], Heap.usedAfterGc() - baseline);
                }
            }
            zstd.close();
            pipeline.finish();

            assertThat(pipeline.decodedBytes()).isEqualTo(total);
            assertThat(sink.bytes).isEqualTo(total);
            assertThat(pipeline.encodedBytes()).isLessThan(total / 3);
            assertThat(pipeline.sha256Hex()).isEqualTo(HexFormat.of().formatHex(expected.digest()));
            assertThat(pipeline.retainedHeapBytes()).isZero(); // zstd's buffers are borrowed per call
            LOG.info(
                    "200 MiB zstd body: coded {} bytes, heap growth while in flight {} bytes, pipeline buffers {}"
                            + " bytes",
                    pipeline.encodedBytes(),
                    heapGrowth[0],
                    pipeline.retainedHeapBytes());
        }
        assertThat(heapGrowth[0]).isLessThan(16 * MIB);
    }

    /**
     * Opens {@code count} pipelines, feeds each the first bytes of a real coded body (so every lazy buffer is
     * allocated and the decoders are mid-stream), and measures the heap they hold.
     */
    @ParameterizedTest(name = "{0} blake3={1}")
    @CsvSource({
        "identity, true, 500",
        "gzip, false, 500",
        "gzip, true, 500",
        "deflate, true, 500",
        "zstd, true, 200",
        "br, false, 100",
        "br, true, 100",
        "'gzip, br', true, 100"
    })
    void heapPerInFlightDownloadIsWithinTarget(String coding, boolean blake3, int count) throws IOException {
        byte[] plain = LogText.bytes(77, 1 << 20);
        byte[] coded = Codecs.encode(plain, coding.split(","));
        int prefix = Math.min(8 * 1024, coded.length - 16);
        // Direct input is the costlier case for identity (BLAKE3 then needs a copy buffer).
        ByteBuffer input = ByteBuffer.allocateDirect(prefix);
        BodyPipeline[] open = new BodyPipeline[count];
        ByteSink sink = ByteSink.discard();
        long liveBefore = BodyPipeline.livePipelines();
        long liveHeapBefore = BodyPipeline.liveHeapBytes();
        long lentBefore = DecodeBuffers.lent();

        long baseline = Heap.usedAfterGc();
        try {
            for (int i = 0; i < count; i++) {
                open[i] = BodyPipeline.builder(sink).contentEncoding(coding).blake3(blake3).build();
                input.clear();
                input.put(coded, 0, prefix).flip();
                open[i].accept(input);
            }
            long perDownload = (Heap.usedAfterGc() - baseline) / count;
            long accounted = (BodyPipeline.liveHeapBytes() - liveHeapBefore) / count;
            LOG.info(
                    "heap per in-flight download, {} blake3={}: measured {} bytes, pipeline buffers {} bytes",
                    coding,
                    blake3,
                    perDownload,
                    accounted);
            assertThat(BodyPipeline.livePipelines()).isEqualTo(liveBefore + count);
            assertThat(accounted).isEqualTo(open[0].retainedHeapBytes());
            // The measurement sees the buffers the pipelines account for, less what other threads freed meanwhile.
            assertThat(perDownload).isGreaterThanOrEqualTo(accounted - Heap.BACKGROUND_NOISE_BYTES / count);
            assertThat(perDownload).isLessThanOrEqualTo(PIPELINE_HEAP_BOUND);
            assertThat(accounted).as("buffers held between calls").isLessThanOrEqualTo(16);
            assertThat(DecodeBuffers.lent()).as("decode buffers lent while waiting").isEqualTo(lentBefore);
        } finally {
            Arrays.stream(open).filter(p -> p != null).forEach(BodyPipeline::close);
        }
        assertThat(BodyPipeline.livePipelines()).isEqualTo(liveBefore);
        assertThat(BodyPipeline.liveHeapBytes()).isEqualTo(liveHeapBefore);
    }

}
