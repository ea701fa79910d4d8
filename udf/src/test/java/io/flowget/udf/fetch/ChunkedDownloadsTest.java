package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.http.Attempt;
import io.flowget.udf.http.FetchOutcome;
import io.flowget.udf.model.FetchRequest;

import org.apache.flink.configuration.MemorySize;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link ChunkedDownloads}: planning from a probe, recording what chunk attempts delivered, the slow-tail split and
 * the reset for a new generation. Chunk size 100 bytes, at most 20 chunks, split only above 2 x 30 bytes.
 */
class ChunkedDownloadsTest {
    private final ChunkedDownloads chunks = new ChunkedDownloads(
                    FetchFixtures.settings(
                            c -> {
                                c.set(FlowgetOptions.CHUNK_SIZE, MemorySize.parse("100b"));
                                c.set(FlowgetOptions.CHUNK_MAX_CHUNKS, 20);
                                c.set(FlowgetOptions.CHUNK_MIN_SPLIT, MemorySize.parse("30b"));
                            }));

    private static Scheduler.Active active() {
        Download d = new Download(new FetchRequest("id", "http://h.test/f", "h.test", "h.test/f"), 0);
        d.failures = 2;
        return new Scheduler.Active(3, d);
    }

    /** The probe answered bytes 0-99 of 1000 with ETag "v1": the download is chunked. */
    private Scheduler.Active planned() {
        Scheduler.Active act = active();
        chunks.plan(act, new Decision.PlanChunks(1000, "\"v1\"", true, 99));
        return act;
    }

    /** A chunk attempt for the plan's next range, as AttemptRequests makes it. */
    private Attempt issue(Scheduler.Active act) {
        Attempt a = FetchFixtures.chunkAttempt("h.test", act.seq(), chunks.nextRange(act));
        act.attempts.add(a);
        return a;
    }

    private static FetchOutcome stored(long first, long last) {
        FetchOutcome o = new FetchOutcome();
        o.status = 206;
        o.stored = true;
        o.rangeFirst = first;
        o.rangeLast = last;
        return o;
    }

    @Test
    void planTurnsTheProbedDownloadIntoAChunkedOneWithTheProbeDone() {
        Scheduler.Active act = planned();

        Download d = act.download();
        assertThat(d.mode).isEqualTo(Download.CHUNKED);
        assertThat(d.length).isEqualTo(1000);
        assertThat(d.validator).isEqualTo("\"v1\"");
        assertThat(d.validatorIsEtag).isTrue();
        assertThat(d.done).containsExactly(0, 99);
        assertThat(d.failures).as("a fresh start for chunk failures").isZero();
        assertThat(chunks.nextRange(act)).containsExactly(100, 199);
    }

    /** A probe whose download was planned from its head (bytes 0-99 of 1000, ETag "v1"), its body still streaming. */
    private Scheduler.Active plannedFromHead(Attempt probe) {
        Scheduler.Active act = active();
        chunks.planFromHead(act, probe, new Decision.PlanChunks(1000, "\"v1\"", true, 99));
        return act;
    }

    private static Attempt probe() {
        Attempt a = new Attempt("h.test", 3, "http://h.test/f", 0, 60_000);
        a.probe = true;
        return a;
    }

    /** The probe's whole answer: {@code Content-Range: bytes 0-last/1000}, ETag "v1", stored. */
    private static FetchOutcome probeAnswer(long last) {
        FetchOutcome o = stored(0, last);
        o.contentRange = new io.flowget.udf.http.ContentRange(0, last, 1000);
        o.bytes = last + 1;
        o.etag = "\"v1\"";
        return o;
    }

    @Test
    void aProbePlannedFromItsHeadThatStoredExactlyItsRangeIsTheFirstChunk() {
        Attempt probe = probe();
        Scheduler.Active act = plannedFromHead(probe);
        assertThat(act.download().done).as("nothing done while the probe streams").isEmpty();

        assertThat(chunks.firstChunkDone(act, probe, probeAnswer(99))).isTrue();

        assertThat(act.download().done).containsExactly(0, 99);
        assertThat(chunks.nextRange(act)).as("the probe's range is not planned again").containsExactly(100, 199);
    }

    @Test
    void aFailedProbePlannedFromItsHeadPutsItsRangeBackFirst() {
        Attempt probe = probe();
        Scheduler.Active act = plannedFromHead(probe);

        assertThat(chunks.firstChunkDone(act, probe, FetchOutcome.failure(new IOException("reset")))).isFalse();

        assertThat(act.download().done).isEmpty();
        assertThat(chunks.nextRange(act)).containsExactly(0, 99);
    }

    @Test
    void aProbePlannedFromItsHeadWhoseBodyDiffersRecordsAndReplansNothing() {
        Attempt probe = probe();
        Scheduler.Active act = plannedFromHead(probe);

        assertThat(chunks.firstChunkDone(act, probe, probeAnswer(49))).as("fewer bytes than announced").isFalse();

        assertThat(act.download().done).isEmpty();
        assertThat(chunks.nextRange(act)).as("the probe's range stays outside the plan").containsExactly(100, 199);
    }

    @Test
    void largeFilesGetLargerChunksToStayWithinMaxChunks() {
        Download d = active().download();
        d.length = 10_000;
        d.done = new long[] {0, 99};

        RangePlan plan = chunks.replan(d);

        assertThat(plan.next()).as("10,000 / 20 chunks = 500 bytes each").containsExactly(100, 599);
    }

    @Test
    void aRestoredDownloadIsPlannedOnItsFirstRange() {
        Scheduler.Active act = active();
        Download d = act.download();
        d.mode = Download.CHUNKED;
        d.length = 300;
        d.done = new long[] {0, 99, 200, 299};

        assertThat(chunks.nextRange(act)).containsExactly(100, 199);
        assertThat(chunks.nextRange(act)).isNull();
    }

    @Test
    void aStored206AddsItsBytesAndResetsTheFailureCount() {
        Scheduler.Active act = planned();
        Attempt a = issue(act);
        act.download().failures = 1;

        boolean wrote = chunks.record(act, a, stored(100, 199));

        assertThat(wrote).isTrue();
        assertThat(act.download().done).containsExactly(0, 199);
        assertThat(act.download().failures).isZero();
        assertThat(chunks.nextRange(act)).containsExactly(200, 299);
    }

    @Test
    void aShort206PutsTheRestBackFirst() {
        Scheduler.Active act = planned();
        Attempt a = issue(act);

        assertThat(chunks.record(act, a, stored(100, 149))).isTrue();

        assertThat(act.download().done).containsExactly(0, 149);
        assertThat(chunks.nextRange(act)).containsExactly(150, 199);
    }

    @Test
    void aFailedAttemptKeepsWhatItWroteAndReplansTheRest() {
        Scheduler.Active act = planned();
        Attempt a = issue(act);
        a.progress = 160; // bytes 100..159 are in the staging file

        boolean wrote = chunks.record(act, a, FetchOutcome.failure(new IOException("reset")));

        assertThat(wrote).isTrue();
        assertThat(act.download().done).containsExactly(0, 159);
        assertThat(chunks.nextRange(act)).containsExactly(160, 199);
    }

    @Test
    void aFailedAttemptThatWroteNothingReplansItsWholeRange() {
        Scheduler.Active act = planned();
        Attempt a = issue(act);

        assertThat(chunks.record(act, a, FetchOutcome.failure(new IOException("refused")))).isFalse();

        assertThat(act.download().done).containsExactly(0, 99);
        assertThat(chunks.nextRange(act)).containsExactly(100, 199);
    }

    @Test
    void anyOtherAnswerReplansTheRangeAndWritesNothing() {
        Scheduler.Active act = planned();
        Attempt a = issue(act);
        FetchOutcome busy = new FetchOutcome();
        busy.status = 503;

        assertThat(chunks.record(act, a, busy)).isFalse();

        assertThat(act.download().done).containsExactly(0, 99);
        assertThat(chunks.nextRange(act)).containsExactly(100, 199);
    }

    @Test
    void aSplitAttemptThatFailsReplansOnlyUpToItsLoweredLimit() {
        Scheduler.Active act = planned();
        Attempt a = issue(act);
        a.rangeLimit = 149; // the second half went to another attempt

        chunks.record(act, a, FetchOutcome.failure(new IOException("reset")));

        assertThat(chunks.nextRange(act)).containsExactly(100, 149);
    }

    @Test
    void aSplitAttemptAnsweredWithAnErrorStatusReplansItsWholeOriginalRangeToday() {
        // Pinned as found: unlike an I/O error (previous test), a non-206 answer puts back the attempt's whole
        // original range, ignoring the lowered limit; the split-off half is then planned twice (refetched, not
        // corrupted: both halves carry the same If-Range validator).
        Scheduler.Active act = planned();
        Attempt a = issue(act);
        a.rangeLimit = 149;
        FetchOutcome busy = new FetchOutcome();
        busy.status = 503;

        chunks.record(act, a, busy);

        assertThat(chunks.nextRange(act)).containsExactly(100, 199);
    }

    @Test
    void withNothingLeftToPlanTheSlowestChunkGivesUpItsSecondHalf() {
        Scheduler.Active act = active();
        chunks.plan(act, new Decision.PlanChunks(300, "\"v1\"", true, 99));
        Attempt slow = issue(act); // 100..199
        Attempt slower = issue(act); // 200..299
        slow.progress = 180; // 20 bytes left: too small to split
        slower.progress = 210; // 90 bytes left

        assertThat(chunks.splitStraggler(act)).isTrue();

        assertThat(slower.rangeLimit).isEqualTo(254);
        assertThat(chunks.nextRange(act)).containsExactly(255, 299);
        assertThat(slow.rangeLimit).isEqualTo(199);
    }

    @Test
    void nothingIsSplitBelowTwiceTheMinimumOrWithoutChunkAttempts() {
        Scheduler.Active act = active();
        chunks.plan(act, new Decision.PlanChunks(300, "\"v1\"", true, 99));
        Attempt a = issue(act);
        a.progress = 141; // 59 bytes left, minimum 60

        assertThat(chunks.splitStraggler(act)).isFalse();
        assertThat(a.rangeLimit).isEqualTo(199);

        Scheduler.Active whole = active();
        whole.attempts.add(new Attempt("h.test", 3, "http://h.test/f", 0, 1));
        whole.plan = new RangePlan(0, 1, Intervals.EMPTY);
        assertThat(chunks.splitStraggler(whole)).isFalse();
    }

    @Test
    void aSegmentedDownloadPlansSplitsAndMapsWholeSegments() {
        Scheduler.Active act = active();
        Download d = act.download();
        d.segmentBytes = 4096;
        d.segmentHeader = new byte[40];
        chunks.plan(act, new Decision.PlanChunks(40 * 4096 + 500, "\"v1\"", true, 4095));
        // 164,340 / 20 chunks = 8,217 bytes a chunk, rounded to whole segments: 8,192
        Attempt a = issue(act);
        assertThat(a.range).containsExactly(4096, 12287);
        a.progress = 4096; // the consumer moves it from segment end to segment end
        assertThat(chunks.splitStraggler(act)).isTrue();
        assertThat(a.rangeLimit).isEqualTo(8191);
        assertThat(chunks.nextRange(act)).containsExactly(8192, 12287);

        d.done = Intervals.add(d.done, 4096, 12287);
        // ciphertext [0, 12288) is segments 0..2: 3 x 4,080 plaintext bytes less the 40-byte header
        assertThat(SegmentedChunks.storedDone(d)).containsExactly(0, 12199);
        assertThat(SegmentedChunks.storedLength(d)).isEqualTo(40 * 4080 - 40 + 500 - 16);

        ChunkedDownloads.reset(act, Download.Mode.PROBE);
        assertThat(d.segmentHeader).isNull();
        assertThat(d.segmentBytes).isZero();
    }

    @Test
    void aSegmentedStragglerIsNotSplitInsideItsLastSegment() {
        Scheduler.Active act = active();
        act.download().segmentBytes = 4096;
        chunks.plan(act, new Decision.PlanChunks(4 * 4096, "\"v1\"", true, 4095));
        Attempt a = issue(act); // one segment a chunk: 4096..8191
        a.progress = 4096;
        assertThat(chunks.splitStraggler(act)).isFalse();
        assertThat(a.rangeLimit).isEqualTo(8191);
    }

    @Test
    void resetStartsANewGenerationThatKnowsNothing() {
        Scheduler.Active act = planned();
        Download d = act.download();
        d.restarts = 1;

        ChunkedDownloads.reset(act, Download.Mode.SINGLE);

        assertThat(d.generation).isEqualTo(1);
        assertThat(d.mode).isEqualTo(Download.SINGLE);
        assertThat(d.length).isEqualTo(-1);
        assertThat(d.done).isEmpty();
        assertThat(d.validator).isNull();
        assertThat(d.validatorIsEtag).isFalse();
        assertThat(d.restarts).as("restarts are counted by the operator").isEqualTo(1);
        assertThat(act.plan).isNull();
    }

    @Test
    void presizeMakesTheStagingFileAsLongAsTheResource(@TempDir Path dir) throws Exception {
        Path staging = dir.resolve("3.part");

        ChunkedDownloads.presize(staging, 5_000_000);

        assertThat(Files.size(staging)).isEqualTo(5_000_000);
    }
}
