package io.flowget.job.chaos;

import io.flowget.job.chaos.FaultProxy.Faults;
import io.flowget.job.embedded.EmbeddedFlink;
import io.flowget.udf.model.FetchResult;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Rescaling keeps every request (issue 15). The production job ({@link StreamingRig}: unbounded Kafka source, RocksDB,
 * 1 s checkpoints, exactly-once results) runs at parallelism 2 over throttled origins until some results are
 * committed while other requests are still queued, in flight, and large files are chunked half-way; it is then
 * stopped — with a savepoint, or by cancelling and keeping its retained checkpoint — and resumed from that state at
 * parallelism 1 and at 3 (key groups pinned by {@code pipeline.max-parallelism}).
 *
 * <p>Asserted: every request has exactly one committed result, every file is byte-exact and nothing else is in
 * {@code --out} ({@link ChaosVerdict}); and chunk progress is kept: a large file that was half-way at the stop is
 * fetched on with fewer requests than it has chunks (a restart from scratch needs one per chunk).
 */
class RescaleITCase {
    private static final int FILES = 48;
    private static final int CHUNK = 256 * 1024;
    /** A third of the files between 1 and 2 MiB: 4 to 8 chunks each. */
    private static final ChaosData.SizeMix MIX = new ChaosData.SizeMix(0.66, 24 * 1024, 1024 * 1024, 2 * 1024 * 1024);
    private static final Duration TIMEOUT = Duration.ofMinutes(3);

    @TempDir Path tmp;

    @Test
    void stopWithSavepointAtTwoResumeAtOne() throws Exception {
        rescale(true, 1);
    }

    @Test
    void retainedCheckpointAtTwoResumeAtThree() throws Exception {
        rescale(false, 3);
    }

    private void rescale(boolean savepoint, int resumeAt) throws Exception {
        String run = savepoint ? "rs-sp" : "rs-chk";
        // 600 KB/s per host: a 2 MiB file takes seconds, so the stop finds chunked files half-way.
        try (StreamingRig rig = StreamingRig.start(tmp, run, FILES, 3, Faults.none().withBandwidth(600_000), 1, MIX)) {
            // Stop once the job is in the state this test is about: some results committed, a large file chunked
            // half-way and requests not started. A fixed result count does not find it reliably: how far the
            // large files got by then depends on how the scheduler ramps up new hosts and on the machine's speed.
            rig.follower.await(() -> stopHere(rig, ids(rig), hits(rig)), TIMEOUT,
                    "a result, a large file chunked half-way and a request not started");
            Set<String> doneAtStop = ids(rig);
            // Requests made before the stop is asked for: a file with two or more had its probe answered and its
            // chunks planned (that is when the first chunk goes out) before the stop's barrier.
            Map<String, Integer> hitsBefore = hits(rig);
            String restore;
            if (savepoint) {
                restore = rig.flink.stopWithSavepoint(rig.job, tmp.resolve("savepoints"));
            } else {
                rig.flink.triggerCheckpoint(rig.job);
                rig.flink.cancel(rig.job);
                restore = EmbeddedFlink.latestCheckpoint(tmp.resolve("checkpoints")).orElseThrow().toUri().toString();
            }
            // Requests made before the job ended, the last of them cut off by it.
            Map<String, Integer> hitsAtStop = hits(rig);
            Set<String> halfWay = halfWay(rig, doneAtStop, hitsBefore);
            int queued = (int) hitsAtStop.values().stream().filter(h -> h == 0).count();
            // On stdout (the test's -output.txt), as the other experiments' figures.
            System.out.printf("rescale %s: stopped at parallelism 2 with %d results, %d chunked files half-way,"
                    + " %d requests not started%n", run, doneAtStop.size(), halfWay.size(), queued);
            assertThat(doneAtStop.size()).as("some results before the stop").isBetween(1, FILES - 1);
            assertThat(halfWay).as("large files chunked half-way at the stop").isNotEmpty();
            assertThat(queued).as("requests still queued at the stop").isPositive();

            rig.resume(resumeAt, restore);
            ChaosVerdict verdict = rig.finish(TIMEOUT);
            verdict.assertClean(true);
            System.out.printf("rescale %s: resumed at parallelism %d: %s%n", run, resumeAt, verdict);

            for (String id : halfWay) {
                int after = rig.origin.hits(rig.data.item(id).path()) - hitsAtStop.get(id);
                System.out.printf("rescale %s: %s had %d of %d chunk requests before the stop, %d after%n",
                        run, id, hitsAtStop.get(id), chunks(rig.data.expected().get(id).length), after);
                assertThat(after)
                        .as("requests for %s after the resume: its completed chunks are not fetched again", id)
                        .isLessThan(chunks(rig.data.expected().get(id).length));
            }
        }
    }

    /** Whether some results are in, a large file is chunked half-way and some requests have not started. */
    private static boolean stopHere(StreamingRig rig, Set<String> done, Map<String, Integer> hits) {
        return !done.isEmpty()
                && !halfWay(rig, done, hits).isEmpty()
                && hits.values().stream().anyMatch(h -> h == 0);
    }

    /** Large files whose probe planned the chunks and more went out, with no result yet. */
    private static Set<String> halfWay(StreamingRig rig, Set<String> done, Map<String, Integer> hits) {
        Set<String> halfWay = new HashSet<>();
        hits.forEach((id, n) -> {
            if (chunks(rig.data.expected().get(id).length) >= 4 && n >= 2 && !done.contains(id)) {
                halfWay.add(id);
            }
        });
        return halfWay;
    }

    private static Map<String, Integer> hits(StreamingRig rig) {
        Map<String, Integer> hits = new HashMap<>();
        rig.data.expected().forEach((id, body) -> hits.put(id, rig.origin.hits(rig.data.item(id).path())));
        return hits;
    }

    private static int chunks(int size) {
        return (size + CHUNK - 1) / CHUNK;
    }

    private static Set<String> ids(StreamingRig rig) {
        Set<String> ids = new HashSet<>();
        for (FetchResult r : rig.follower.results()) {
            ids.add(r.id);
        }
        return ids;
    }
}
