package io.flowget.job.chaos;

import io.flowget.job.chaos.FaultProxy.Faults;
import io.flowget.job.embedded.EmbeddedFlink;
import io.flowget.udf.model.FetchResult;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Rescaling keeps every request (issue 15). The production job ({@link StreamingRig}: unbounded Kafka source, RocksDB,
 * 1 s checkpoints, exactly-once results) runs at parallelism 2 over throttled origins until some results are
 * committed while other requests are still queued, in flight, and large files are chunked half-way; it is then
 * stopped — with a savepoint, or by cancelling and keeping its retained checkpoint — and resumed from that state at
 * parallelism 1 and at 3 (key groups pinned by {@code pipeline.max-parallelism}).
 *
 * <p>Asserted: every request has exactly one committed result, every file is byte-exact and nothing else is in
 * {@code --out} ({@link ChaosVerdict}); and chunk progress is kept: of a large file that had some of its chunks on
 * disk at the stop, no byte of those chunks is asked for again after the resume (the origin logs every request's
 * {@code Range}).
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
            // Stop once the job is in the state this test is about: some results committed, a large file with some
            // of its chunks on disk but not all, and requests not started. A fixed result count does not find it
            // reliably: how far the large files got by then depends on how the scheduler ramps up new hosts and on
            // the machine's speed. Origin hits do not tell either: a large file's chunks are asked for as soon as the
            // first answer's head arrives, so several requests for a file say nothing about a finished chunk.
            rig.follower.await(() -> stopHere(rig, ids(rig)), TIMEOUT,
                    "a result, a large file with a chunk on disk but not all, and a request not started");
            // Chunks whose every byte is in the staging file now: the attempt that wrote the last of them had queued
            // its outcome by then, so the two checkpoints completed after this point record them as done.
            Map<String, Set<Integer>> halfWay = chunksOnDisk(rig, ids(rig));
            rig.flink.triggerCheckpoint(rig.job);
            rig.flink.triggerCheckpoint(rig.job);
            Set<String> doneAtStop = ids(rig);
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
            Map<String, Integer> rangesAtStop = new HashMap<>();
            halfWay.keySet().forEach(id -> rangesAtStop.put(id, rig.origin.ranges(rig.data.item(id).path()).size()));
            int queued = (int) hitsAtStop.values().stream().filter(h -> h == 0).count();
            // On stdout (the test's -output.txt), as the other experiments' figures.
            System.out.printf("rescale %s: stopped at parallelism 2 with %d results, %d chunked files half-way,"
                    + " %d requests not started%n", run, doneAtStop.size(), halfWay.size(), queued);
            assertThat(doneAtStop.size()).as("some results before the stop").isBetween(1, FILES - 1);
            assertThat(halfWay).as("large files with chunks on disk at the stop").isNotEmpty();
            assertThat(queued).as("requests still queued at the stop").isPositive();

            rig.resume(resumeAt, restore);
            ChaosVerdict verdict = rig.finish(TIMEOUT);
            verdict.assertClean(true);
            System.out.printf("rescale %s: resumed at parallelism %d: %s%n", run, resumeAt, verdict);

            for (var e : halfWay.entrySet()) {
                String id = e.getKey();
                int size = rig.data.expected().get(id).length;
                List<String> all = rig.origin.ranges(rig.data.item(id).path());
                List<String> after = all.subList(rangesAtStop.get(id), all.size());
                System.out.printf("rescale %s: %s had chunks %s of %d on disk at the stop; asked for after: %s%n",
                        run, id, e.getValue(), chunks(size), after);
                for (String range : after) {
                    long[] r = range(range, size);
                    for (int chunk : e.getValue()) {
                        long first = (long) chunk * CHUNK;
                        long last = Math.min(first + CHUNK, size) - 1;
                        assertThat(r[1] < first || r[0] > last)
                                .as("%s after the resume asks for %s, inside chunk %d, which was on disk at the stop",
                                        id, range.isEmpty() ? "the whole file" : range, chunk)
                                .isTrue();
                    }
                }
            }
        }
    }

    /** Whether some results are in, a large file has some chunks on disk but not all, and a request has not started. */
    private static boolean stopHere(StreamingRig rig, Set<String> done) {
        return !done.isEmpty()
                && hits(rig).values().stream().anyMatch(h -> h == 0)
                && !chunksOnDisk(rig, done).isEmpty();
    }

    /**
     * Large files (4 chunks or more) without a result whose staging file holds at least one whole chunk but not all:
     * the chunks whose every byte is written (the staging file is pre-sized with zeros and the data is random, so a
     * 4 KiB block that is still all zeros is not written yet). A staging file is matched to its request by its size.
     */
    private static Map<String, Set<Integer>> chunksOnDisk(StreamingRig rig, Set<String> done) {
        Map<Long, String> bySize = new HashMap<>();
        Set<Long> ambiguous = new HashSet<>();
        rig.data.expected().forEach((id, body) -> {
            if (bySize.put((long) body.length, id) != null) {
                ambiguous.add((long) body.length);
            }
        });
        Map<String, Set<Integer>> onDisk = new HashMap<>();
        Path staging = rig.dir.resolve("partial");
        if (!Files.isDirectory(staging)) {
            return onDisk;
        }
        try (Stream<Path> files = Files.list(staging)) {
            for (Path f : files.filter(p -> p.getFileName().toString().endsWith(".part")).toList()) {
                long size;
                try {
                    size = Files.size(f);
                } catch (IOException gone) {
                    continue;
                }
                String id = bySize.get(size);
                if (id == null || ambiguous.contains(size) || done.contains(id) || chunks((int) size) < 4) {
                    continue;
                }
                Set<Integer> full = fullChunks(f, (int) size);
                if (!full.isEmpty() && full.size() < chunks((int) size)) {
                    onDisk.put(id, full);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return onDisk;
    }

    /** The chunks of a staging file none of whose 4 KiB blocks is all zeros. */
    private static Set<Integer> fullChunks(Path f, int size) {
        Set<Integer> full = new HashSet<>();
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(f);
        } catch (IOException gone) {
            return full;
        }
        if (bytes.length != size) {
            return full;
        }
        for (int c = 0; c < chunks(size); c++) {
            boolean written = true;
            for (int b = c * CHUNK; b < Math.min((c + 1) * CHUNK, size) && written; b += 4096) {
                boolean nonZero = false;
                for (int i = b; i < Math.min(b + 4096, size) && !nonZero; i++) {
                    nonZero = bytes[i] != 0;
                }
                written = nonZero;
            }
            if (written) {
                full.add(c);
            }
        }
        return full;
    }

    /** The inclusive byte range a {@code Range} header value asks for ({@code ""}: the whole file). */
    private static long[] range(String header, int size) {
        if (header.isEmpty()) {
            return new long[] {0, size - 1};
        }
        String spec = header.substring(header.indexOf('=') + 1).trim();
        int dash = spec.indexOf('-');
        long first = Long.parseLong(spec.substring(0, dash).trim());
        String end = spec.substring(dash + 1).trim();
        long last = end.isEmpty() ? size - 1 : Math.min(Long.parseLong(end), size - 1);
        return new long[] {first, last};
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
