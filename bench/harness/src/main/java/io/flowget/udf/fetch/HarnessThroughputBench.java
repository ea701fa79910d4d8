package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.http.HttpClientHolder;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.RangeRoute;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.Configuration;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Throughput of the whole {@link FetchOperator} in Flink's keyed test harness (RocksDB state, mail run on the test
 * thread in real time) against plain-HTTP loopback origins: 5,000 files of 16 KiB spread over 4 hosts
 * (127.0.0.1..127.0.0.4, one {@link TestOrigin} each), 64 in flight, at most 16 per host; then one 64 MiB file
 * served with Range support, so it goes through the chunked path. Each workload runs 3 rounds, each round in a
 * fresh harness and output directory; prints files/s and MB/s (10^6 bytes) per round and the median. Asserts only
 * that every result is OK and that every stored file has the origin's bytes (SHA-256 of the file on disk and in
 * the result).
 *
 * <p>Hosts start at their limit ({@code flowget.host.initial-concurrency} = 16) so the figure measures the
 * operator, not how fast the adaptive limit ramps up. Meant for same-machine before/after comparisons of the
 * operator's code: compare medians of runs at a similar load average, not runs of different days.
 *
 * <p>Run (from the repository root; about a minute, figures on stdout, bench/jmh/README.md):
 * <pre>{@code
 * mvn -o -q -Pjmh -pl bench/harness -am -DskipTests package && java -Xmx2g -XX:+UseParallelGC \
 *   -Djava.io.tmpdir=bench/harness/target -cp bench/harness/target/harness-benchmarks.jar \
 *   io.flowget.udf.fetch.HarnessThroughputBench
 * }</pre>
 */
public final class HarnessThroughputBench {
    private static final int ROUNDS = 3;
    private static final int HOSTS = 4;
    private static final int FILES = 5_000;
    private static final int SMALL = 16 * 1024;
    private static final int LARGE = 64 * 1024 * 1024;

    public static void main(String[] args) throws Exception {
        BenchDir.run("harness-throughput", HarnessThroughputBench::smallFilesOverFourHostsAndOneLargeFile);
    }

    private static void smallFilesOverFourHostsAndOneLargeFile(Path tmp) throws Exception {
        List<TestOrigin> origins = new ArrayList<>();
        try {
            for (int i = 1; i <= HOSTS; i++) {
                origins.add(TestOrigin.start("127.0.0." + i));
            }
            Map<String, String> expected = new HashMap<>();
            for (int i = 0; i < FILES; i++) {
                byte[] body = TestOrigin.content("f" + i, SMALL);
                origins.get(i % HOSTS).file("/f" + i, body);
                expected.put("/f" + i, FetchOperatorTest.sha256(body));
            }
            byte[] large = TestOrigin.content("large", LARGE);
            RangeRoute ranges = RangeRoute.of(large, "\"large\"");
            origins.get(0).route("/large", ranges);
            String largeSha = FetchOperatorTest.sha256(large);

            double[] filesPerSecond = new double[ROUNDS];
            double[] largeMBs = new double[ROUNDS];
            for (int round = 0; round < ROUNDS; round++) {
                double seconds = run(tmp, origins, expected, "s" + round);
                filesPerSecond[round] = FILES / seconds;
                System.out.printf(
                        "small round %d: %d x %d KiB over %d hosts in %.2f s: %.0f files/s, %.1f MB/s%n",
                        round + 1, FILES, SMALL / 1024, HOSTS, seconds, filesPerSecond[round],
                        mb(filesPerSecond[round] * SMALL));
            }
            for (int round = 0; round < ROUNDS; round++) {
                int rangesBefore = ranges.requests.size();
                double seconds = run(tmp, List.of(origins.get(0)), Map.of("/large", largeSha), "l" + round);
                largeMBs[round] = mb(LARGE / seconds);
                System.out.printf(
                        "large round %d: 1 x %d MiB in %.2f s (%d requests): %.1f MB/s%n",
                        round + 1, LARGE >> 20, seconds, ranges.requests.size() - rangesBefore, largeMBs[round]);
            }
            double medianFiles = BenchStats.median(filesPerSecond);
            System.out.printf(
                    "harness throughput medians of %d rounds: small %.0f files/s (%.1f MB/s), large %.1f MB/s%n",
                    ROUNDS, medianFiles, mb(medianFiles * SMALL), BenchStats.median(largeMBs));
        } finally {
            for (TestOrigin o : origins) {
                o.close();
            }
        }
    }

    /**
     * Fetches every path of {@code sha256ByPath} (path -> expected SHA-256) from the origin that serves it, in a
     * fresh harness; returns the seconds from the first request to the last result.
     */
    private static double run(Path tmp, List<TestOrigin> origins, Map<String, String> sha256ByPath, String tag)
            throws Exception {
        return run(tmp, origins, sha256ByPath, tag, c -> c.set(FlowgetOptions.HOST_INITIAL_CONCURRENCY, 16));
    }

    /** {@link #run(Path, List, Map, String)} with 64 in flight, host max 16, and {@code tune}'s changes. */
    static double run(
            Path tmp,
            List<TestOrigin> origins,
            Map<String, String> sha256ByPath,
            String tag,
            java.util.function.Consumer<Configuration> tune)
            throws Exception {
        Path dir = tmp.resolve(tag);
        Configuration c = FetchHarness.config(dir);
        c.set(FlowgetOptions.FETCH_MAX_IN_FLIGHT, 64);
        c.set(FlowgetOptions.HOST_MAX_CONCURRENCY, 16);
        tune.accept(c);
        List<FetchRequest> requests = new ArrayList<>();
        int i = 0;
        for (String path : sha256ByPath.keySet().stream().sorted().toList()) {
            requests.add(FetchOperatorTest.request(tag + "-" + path, originOf(origins, path, i++), path));
        }
        double seconds;
        List<FetchResult> results;
        try (FetchHarness h = FetchHarness.open(dir, c)) {
            long t0 = System.nanoTime();
            h.submit(requests.toArray(FetchRequest[]::new));
            HostPolitenessTest.drainRealTime(h.harness, () -> h.harness.extractOutputValues().size() >= requests.size());
            seconds = (System.nanoTime() - t0) / 1e9;
            results = h.harness.extractOutputValues();
            assertThat(results).hasSize(requests.size());
            for (FetchResult r : results) {
                String path = r.id.substring(tag.length() + 1);
                assertThat(r.status).as("status of %s: %s", r.id, r.error).isEqualTo(ResultStatus.OK);
                assertThat(r.sha256).as("sha256 in the result of %s", r.id).isEqualTo(sha256ByPath.get(path));
                assertThat(FetchOperatorTest.sha256(Files.readAllBytes(h.out().resolve(r.path))))
                        .as("sha256 of the stored %s", r.path)
                        .isEqualTo(sha256ByPath.get(path));
            }
        }
        assertThat(HttpClientHolder.liveClients()).isZero();
        return seconds;
    }

    /** The origin serving {@code /f<n>} (round-robin over the hosts) or, for any other path, the only one. */
    private static TestOrigin originOf(List<TestOrigin> origins, String path, int index) {
        if (origins.size() == 1) {
            return origins.get(0);
        }
        return origins.get(Integer.parseInt(path.substring(2)) % origins.size());
    }

    private static double mb(double bytes) {
        return bytes / 1e6;
    }
}
