package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.RangeRoute;
import io.flowget.udf.testing.TestOrigin;

import org.apache.commons.codec.digest.Blake3;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HexFormat;

import static io.flowget.udf.fetch.FetchOperatorTest.request;
import static io.flowget.udf.fetch.FetchOperatorTest.sha256;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * BLAKE3 of a chunked file merged from its blocks (issue 16): each Range chunk hashes the BLAKE3 blocks it covers on
 * the I/O thread that receives it, the hasher thread only the blocks no chunk covered (the probe's, split edges),
 * and the root is merged at the end; after a restore the blocks written before the crash are read from the file.
 * The digest is checked against commons-codec's BLAKE3 of the whole body.
 */
class Blake3ChunksTest {
    private static final Logger LOG = LoggerFactory.getLogger(Blake3ChunksTest.class);
    private static final int KIB = 1024;
    private static final int CHUNK = 256 * KIB;

    @TempDir Path tmp;

    @RegisterExtension final FetchHarnessExtension fetch = new FetchHarnessExtension();

    /** 256 KiB chunks in 64 KiB windows (so 64 KiB BLAKE3 blocks), BLAKE3 on. */
    private Configuration chunkedBlake3(int hostLimit) {
        Configuration c = FetchHarness.config(tmp, 64, hostLimit);
        c.set(FlowgetOptions.CHUNK_SIZE, MemorySize.parse("256kb"));
        c.set(FlowgetOptions.CHUNK_MIN_SPLIT, MemorySize.parse("64kb"));
        c.set(FlowgetOptions.DIGEST_BLAKE3, true);
        return c;
    }

    private static String blake3(byte[] body) {
        return HexFormat.of().formatHex(Blake3.initHash().update(body).doFinalize(32));
    }

    @Test
    void aChunkedFilesBlake3IsMergedFromTheBlocksItsChunksHashed() throws Exception {
        TestOrigin origin = fetch.track(TestOrigin.start("127.0.0.1"));
        byte[] body = TestOrigin.content("b3", 8 * CHUNK + 1234); // 33 blocks of 64 KiB, the last one short
        origin.route("/b3.bin", RangeRoute.of(body, "\"b1\""));
        var h = fetch.harness(chunkedBlake3(4), FetchHarness.Clock.STEPPED);
        h.processElement(request("b3", origin, "/b3.bin"), 0);
        FetchResult r = h.results(1).get(0);

        assertThat(r.status).as("%s", r).isEqualTo(ResultStatus.OK);
        assertThat(r.blake3).isEqualTo(blake3(body));
        assertThat(r.sha256).isEqualTo(sha256(body));
        assertThat(Files.readAllBytes(h.out().resolve(r.path))).isEqualTo(body);
        long[] blocks = h.getOperator().forTests().blake3Blocks();
        LOG.info("BLAKE3 blocks hashed by chunks {}, read from the file {}", blocks[0], blocks[1]);
        assertThat(blocks[0] + blocks[1]).as("blocks of the file").isEqualTo(33);
        // The probe's 4 blocks are read from the file; a split may leave a block at each cut to the file as well.
        assertThat(blocks[0]).as("blocks hashed by the chunks that received them").isGreaterThanOrEqualTo(20);
        h.close();
    }

    @Test
    void afterARestoreTheBlocksWrittenBeforeTheCrashAreReadFromTheFile() throws Exception {
        TestOrigin origin = fetch.track(TestOrigin.start("127.0.0.1"));
        byte[] body = TestOrigin.content("b3resume", 8 * CHUNK);
        RangeRoute route = RangeRoute.of(body, "\"r1\"").holdRangesWhere(start -> start >= 4L * CHUNK);
        origin.route("/resume.bin", route);
        var first = fetch.harness(chunkedBlake3(2), FetchHarness.Clock.STEPPED);
        first.processElement(request("resume", origin, "/resume.bin"), 0);
        // chunks 0..3 complete; 4 and 5 hang in flight (host limit 2: 5 is asked for once 3 has ended), 6 and 7 wait
        first.drainUntil(() -> asked(route, 4L * CHUNK) && asked(route, 5L * CHUNK)
                && first.getOperator().forTests().inFlightCount() == 2);
        first.drainFor(Duration.ofMillis(200));
        OperatorSubtaskState snapshot = first.snapshot(1L, 1L);
        first.crash("a crash after the snapshot: the restored instance finishes the work");
        route.release();

        var second = fetch.harness(chunkedBlake3(2), snapshot, FetchHarness.Clock.STEPPED);
        FetchResult r = second.results(1).get(0);

        assertThat(r.status).as("%s", r).isEqualTo(ResultStatus.OK);
        assertThat(r.blake3).isEqualTo(blake3(body));
        assertThat(r.sha256).isEqualTo(sha256(body));
        long[] blocks = second.getOperator().forTests().blake3Blocks();
        LOG.info("after the restore: BLAKE3 blocks hashed by chunks {}, read from the file {}", blocks[0], blocks[1]);
        assertThat(blocks[0] + blocks[1]).isEqualTo(32);
        assertThat(blocks[1]).as("the 16 blocks of chunks 0..3, stored before the crash, read from the file")
                .isGreaterThanOrEqualTo(16);
        assertThat(blocks[0]).as("blocks the restored chunks hashed as they arrived").isPositive();
        second.close();
    }

    /** True once a range starting at {@code start} was asked for (a chunk's first window). */
    private static boolean asked(RangeRoute route, long start) {
        return route.requests.stream().anyMatch(range -> range.startsWith(start + "-"));
    }
}
