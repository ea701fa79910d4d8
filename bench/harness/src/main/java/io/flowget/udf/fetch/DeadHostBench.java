package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.Configuration;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Measures a healthy host's files/s alone and beside a refusing and a SYN-blackholed host (default breaker
 * settings, 1 s connect timeout), alternating the runs to even out JIT warm-up and machine noise. Prints the
 * figures; asserts only completeness. Run (from the repository root, bench/jmh/README.md):
 * <pre>{@code
 * mvn -o -q -Pjmh -pl bench/harness -am -DskipTests package && java -Xmx2g -XX:+UseParallelGC \
 *   -Djava.io.tmpdir=bench/harness/target -cp bench/harness/target/harness-benchmarks.jar \
 *   io.flowget.udf.fetch.DeadHostBench
 * }</pre>
 */
public final class DeadHostBench {
    private static final int FILES = 2000;

    public static void main(String[] args) throws Exception {
        BenchDir.run("dead-host", DeadHostBench::healthyHostThroughputWithAndWithoutDeadHosts);
    }

    private static void healthyHostThroughputWithAndWithoutDeadHosts(Path tmp) throws Exception {
        try (TestOrigin healthy = TestOrigin.start("127.0.0.11");
                ServerSocket blackhole = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.13"))) {
            for (int i = 0; i < FILES; i++) {
                healthy.route("/h" + i, (req, resp, cb, n) -> {
                    Thread.sleep(2);
                    TestOrigin.send(resp, cb, 200, new byte[4000]);
                });
            }
            int refusedPort;
            try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.12"))) {
                refusedPort = probe.getLocalPort();
            }
            List<Socket> fillers = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                Socket s = new Socket();
                try {
                    s.connect(blackhole.getLocalSocketAddress(), 200);
                    fillers.add(s);
                } catch (java.io.IOException full) {
                    s.close();
                    break;
                }
            }
            double[] alone = new double[3];
            double[] beside = new double[3];
            for (int round = 0; round < 3; round++) {
                alone[round] = run(tmp, healthy, -1, null, "a" + round);
                beside[round] = run(tmp, healthy, refusedPort, blackhole, "d" + round);
            }
            for (Socket s : fillers) {
                s.close();
            }
            System.out.printf(
                    "dead-host bench: healthy files/s alone %.0f %.0f %.0f, beside dead hosts %.0f %.0f %.0f;"
                            + " ratio (rounds 2-3) %.2f%n",
                    alone[0], alone[1], alone[2], beside[0], beside[1], beside[2],
                    (beside[1] + beside[2]) / (alone[1] + alone[2]));
        }
    }

    private static double run(Path tmp, TestOrigin healthy, int refusedPort, ServerSocket blackhole, String tag)
            throws Exception {
        Configuration c = FetchHarness.config(tmp.resolve(tag), 64, 16);
        c.set(FlowgetOptions.HTTP_CONNECT_TIMEOUT, Duration.ofSeconds(1));
        var h = FetchHarness.openRaw(c);
        try {
            long t0 = System.nanoTime();
            for (int i = 0; i < FILES; i++) {
                h.processElement(FetchOperatorTest.request(tag + "h" + i, healthy, "/h" + i), 0);
                if (blackhole != null && i < 200) {
                    h.processElement(new FetchRequest(tag + "r" + i, "http://127.0.0.12:" + refusedPort + "/r",
                            "127.0.0.12", tag + "/r" + i), 0);
                    h.processElement(new FetchRequest(tag + "b" + i, "http://127.0.0.13:"
                            + blackhole.getLocalPort() + "/b", "127.0.0.13", tag + "/b" + i), 0);
                }
            }
            HostPolitenessTest.drainRealTime(
                    h, () -> h.extractOutputValues().stream().filter(r -> r.id.startsWith(tag + "h")).count() >= FILES);
            double perSecond = FILES / ((System.nanoTime() - t0) / 1e9);
            List<FetchResult> results = h.extractOutputValues();
            assertThat(results.stream().filter(r -> r.id.startsWith(tag + "h")))
                    .allSatisfy(r -> assertThat(r.status).isEqualTo(ResultStatus.OK));
            return perSecond;
        } finally {
            // The dead hosts' requests are still parked (their budget is minutes): close() cancels them.
            h.getOperator().close();
        }
    }
}
