package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.http.HttpClientHolder;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.TestCertificates;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.Configuration;

import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Measures files/s of HTTP/2 against HTTP/1.1 over TLS to one loopback origin (many small files, 32 in flight):
 * prints the figures, asserts only that every file arrived. Run (from the repository root, bench/jmh/README.md):
 * <pre>{@code
 * mvn -o -q -Pjmh -pl bench/harness -am -DskipTests package && java -Xmx2g -XX:+UseParallelGC \
 *   -Djava.io.tmpdir=bench/harness/target -cp bench/harness/target/harness-benchmarks.jar \
 *   io.flowget.udf.fetch.TlsThroughputBench
 * }</pre>
 */
public final class TlsThroughputBench {
    private static final int FILES = 3000;
    private static final int SIZE = 16 * 1024;

    /** Requests served per HTTP version in the current run (the origin's threads count, the main thread reads). */
    private static final java.util.Map<String, java.util.concurrent.atomic.AtomicInteger> versions =
            new java.util.concurrent.ConcurrentHashMap<>();

    public static void main(String[] args) throws Exception {
        BenchDir.run("tls-throughput", TlsThroughputBench::http2VersusHttp11FilesPerSecond);
    }

    private static void http2VersusHttp11FilesPerSecond(Path tmp) throws Exception {
        try (TestOrigin origin = TestOrigin.startTls("127.0.0.1", TestCertificates.get())) {
            byte[] body = TestOrigin.content("bench", SIZE);
            for (int i = 0; i < FILES; i++) {
                origin.route("/b" + i, (req, resp, cb, n) -> {
                    versions.computeIfAbsent(req.getConnectionMetaData().getHttpVersion().asString(),
                            v -> new java.util.concurrent.atomic.AtomicInteger()).incrementAndGet();
                    TestOrigin.send(resp, cb, 200, body);
                });
            }
            double[] h2 = new double[2];
            double[] h1 = new double[2];
            int[] conns = new int[4];
            for (int round = 0; round < 2; round++) {
                int before = origin.connectionsOpened();
                h2[round] = run(tmp, origin, FlowgetOptions.HttpVersion.NEGOTIATE, "h2-" + round);
                conns[round * 2] = origin.connectionsOpened() - before;
                before = origin.connectionsOpened();
                h1[round] = run(tmp, origin, FlowgetOptions.HttpVersion.HTTP_1_1, "h1-" + round);
                conns[round * 2 + 1] = origin.connectionsOpened() - before;
            }
            System.out.printf(
                    "TLS %d x %d KiB, 32 in flight: HTTP/2 %.0f / %.0f files/s (%d, %d connections),"
                            + " HTTP/1.1 %.0f / %.0f files/s (%d, %d connections); ratio of the second rounds %.2f%n",
                    FILES, SIZE / 1024, h2[0], h2[1], conns[0], conns[2], h1[0], h1[1], conns[1], conns[3],
                    h2[1] / h1[1]);
        }
    }

    private static double run(Path tmp, TestOrigin origin, FlowgetOptions.HttpVersion version, String tag)
            throws Exception {
        Configuration c = FetchHarness.config(tmp.resolve(tag), 64, 32);
        c.set(FlowgetOptions.HOST_INITIAL_CONCURRENCY, 32);
        c.set(FlowgetOptions.HTTP_VERSION, version);
        c.set(FlowgetOptions.TLS_CA_CERT, TestCertificates.get().caPem().toString());
        var h = FetchHarness.openRaw(c);
        try {
            long t0 = System.nanoTime();
            for (int i = 0; i < FILES; i++) {
                h.processElement(FetchOperatorTest.request(tag + i, origin, "/b" + i), 0);
            }
            List<FetchResult> results = FetchOperatorTest.drainUntilResults(h, FILES);
            double perSecond = FILES / ((System.nanoTime() - t0) / 1e9);
            System.out.printf("%s: %.0f files/s, versions %s%n", tag, perSecond, versions);
            versions.clear();
            assertThat(results).allSatisfy(r -> assertThat(r.status).isEqualTo(ResultStatus.OK));
            return perSecond;
        } finally {
            h.close();
            assertThat(HttpClientHolder.liveClients()).isZero();
        }
    }
}
