package io.flowget.udf.fetch;

import io.flowget.udf.testing.RangeRoute;
import io.flowget.udf.testing.TestOrigin;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Large bodies through the whole operator (issue 16): one 256 MiB file fetched in Range chunks and 200 × 1 MiB files
 * from one host, with the default settings (chunk size, buffers, the host's initial limit and its ramp; host max
 * 16, 64 in flight), 3 rounds each in a fresh harness against a Jetty origin on loopback. Prints MB/s per round and
 * the medians, and for the large file the bytes the origin served over the file's size (what splits made it send
 * twice). Checks status and SHA-256 of every file. For before/after comparisons run the same class from two builds,
 * alternated:
 *
 * <pre>{@code
 * mvn -o -q -Pjmh -pl bench/harness -am -DskipTests package && java -Xmx2g -XX:+UseParallelGC \
 *   -Djava.io.tmpdir=bench/harness/target -cp bench/harness/target/harness-benchmarks.jar \
 *   io.flowget.udf.fetch.LargeBodyBench
 * }</pre>
 */
public final class LargeBodyBench {
    private static final int ROUNDS = 3;
    private static final int LARGE = 256 * 1024 * 1024;
    private static final int MEDIUM = 1024 * 1024;
    private static final int MEDIUM_FILES = 200;

    public static void main(String[] args) throws Exception {
        BenchDir.run("large-body", LargeBodyBench::largeAndMedium);
    }

    private static void largeAndMedium(Path tmp) throws Exception {
        try (TestOrigin origin = TestOrigin.start("127.0.0.1")) {
            byte[] large = TestOrigin.content("large", LARGE);
            RangeRoute ranges = RangeRoute.of(large, "\"large\"");
            origin.route("/large", ranges);
            String largeSha = FetchOperatorTest.sha256(large);
            List<String> mediumPaths = new ArrayList<>();
            List<String> mediumShas = new ArrayList<>();
            for (int i = 0; i < MEDIUM_FILES; i++) {
                byte[] body = TestOrigin.content("m" + i, MEDIUM);
                origin.file("/m" + i, body);
                mediumPaths.add("/m" + i);
                mediumShas.add(FetchOperatorTest.sha256(body));
            }

            double[] largeMBs = new double[ROUNDS];
            double[] served = new double[ROUNDS];
            double[] mediumMBs = new double[ROUNDS];
            for (int round = 0; round < ROUNDS; round++) {
                long servedBefore = ranges.bytesServed();
                int requestsBefore = ranges.requests.size();
                double seconds = run(tmp, origin, List.of("/large"), List.of(largeSha), "l" + round);
                largeMBs[round] = LARGE / seconds / 1e6;
                served[round] = (ranges.bytesServed() - servedBefore) / (double) LARGE;
                System.out.printf(
                        "large round %d: 1 x %d MiB in %.2f s (%d requests, origin served %.3f x the file): %.1f MB/s%n",
                        round + 1, LARGE >> 20, seconds, ranges.requests.size() - requestsBefore, served[round],
                        largeMBs[round]);
            }
            for (int round = 0; round < ROUNDS; round++) {
                double seconds = run(tmp, origin, mediumPaths, mediumShas, "m" + round);
                mediumMBs[round] = (double) MEDIUM_FILES * MEDIUM / seconds / 1e6;
                System.out.printf(
                        "medium round %d: %d x 1 MiB in %.2f s: %.1f MB/s%n",
                        round + 1, MEDIUM_FILES, seconds, mediumMBs[round]);
            }
            System.out.printf(
                    "large-body medians of %d rounds: large %.1f MB/s (served %.3f x), medium %.1f MB/s%n",
                    ROUNDS, BenchStats.median(largeMBs), BenchStats.median(served), BenchStats.median(mediumMBs));
        }
    }

    /** Fetches {@code paths} in a fresh harness with the default ramp; the seconds to the last result. */
    private static double run(Path tmp, TestOrigin origin, List<String> paths, List<String> shas, String tag)
            throws Exception {
        Map<String, String> expected = new HashMap<>();
        for (int i = 0; i < paths.size(); i++) {
            expected.put(paths.get(i), shas.get(i));
        }
        return HarnessThroughputBench.run(tmp, List.of(origin), expected, tag, c -> {});
    }
}
