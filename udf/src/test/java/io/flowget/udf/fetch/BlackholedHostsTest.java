package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.Configuration;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Unproven hosts cannot take everyone's permits (issue 13): a thousand hosts that never answer (each a listening
 * socket on its own loopback address whose accept queue is full, so connects time out) beside one healthy host.
 * Each unproven host stays at one request in flight, and together they hold at most
 * {@code flowget.fetch.unproven-share} of {@code flowget.fetch.max-in-flight}; the pace of a healthy host that
 * flowget knows is compared with its pace alone, same operator. (A healthy host seen for the first time behind them
 * waits for its turn in the unproven share: up to the dead hosts ahead of it × the connect timeout / the share.)
 */
class BlackholedHostsTest {
    static final int BLACKHOLED = 1_000;
    static final int HEALTHY = 200;

    @TempDir Path tmp;

    @RegisterExtension final FetchHarnessExtension fetch = new FetchHarnessExtension();

    @Test
    void aThousandBlackholedHostsLeaveAKnownHealthyHostItsPace() throws Exception {
        TestOrigin healthy = fetch.track(TestOrigin.start("127.0.0.50"));
        byte[] file = TestOrigin.content("healthy", 20 * 1024);
        TestOrigin.Route route = (req, resp, cb, n) -> {
            Thread.sleep(200); // the server's time dominates, not the (shared) CPU: the ratio measures the scheduling
            TestOrigin.send(resp, cb, 200, file);
        };
        healthy.route("/w", route);
        for (int i = 0; i < HEALTHY; i++) {
            healthy.route("/a" + i, route);
            healthy.route("/h" + i, route);
        }
        Configuration conf = FetchHarness.config(tmp, 128, 8);
        conf.set(FlowgetOptions.HOST_INITIAL_CONCURRENCY, 8); // both runs start at the host's max
        // Connects to a blackholed host hang for 5 s; each such request has a deadline 20 s after it is submitted,
        // so all of them end soon after the healthy runs, without churning through a thousand timeouts meanwhile.
        conf.set(FlowgetOptions.HTTP_CONNECT_TIMEOUT, Duration.ofSeconds(5));
        conf.set(FlowgetOptions.RETRY_MAX_ATTEMPTS, 1);
        FetchHarness h = fetch.harness(conf, FetchHarness.Clock.WALL);
        h.setProcessingTime(System.currentTimeMillis()); // deadline timers are at wall-clock times
        // A host flowget knows (it answered before; after a restart, its host-health says so).
        assertThat(h.fetch(FetchOperatorTest.request("w", healthy, "/w")).status).isEqualTo(ResultStatus.OK);

        long aloneMillis = healthyRun(h, healthy, "a");
        try (Blackholes holes = new Blackholes(BLACKHOLED)) {
            for (int i = 0; i < BLACKHOLED; i++) {
                InetSocketAddress a = holes.address(i);
                String host = a.getAddress().getHostAddress();
                FetchRequest r = new FetchRequest("b" + i, "http://" + host + ":" + a.getPort() + "/x", host, "b/" + i);
                r.deadline = System.currentTimeMillis() + 20_000;
                h.submit(r);
            }
            long withMillis = healthyRun(h, healthy, "h");
            int unprovenCap = 128 / 4;
            assertThat(h.getOperator().forTests().unprovenInFlight()).isBetween(1, unprovenCap);
            FetchHarness.drain(h.harness, h.clock, () -> h.extractOutputValues().size() >= 1 + 2 * HEALTHY + BLACKHOLED,
                    Duration.ofMinutes(2), true);
            List<FetchResult> all = h.results(1 + 2 * HEALTHY + BLACKHOLED);
            double ratio = (double) aloneMillis / withMillis;
            System.out.printf(
                    "blackholed hosts: %d healthy files in %d ms alone, %d ms beside %d blackholed hosts: throughput"
                            + " ratio %.2f%n", HEALTHY, aloneMillis, withMillis, BLACKHOLED, ratio);
            assertThat(all.stream().filter(r -> r.id.startsWith("b")))
                    .hasSize(BLACKHOLED)
                    .allSatisfy(r -> {
                        assertThat(r.status).isEqualTo(ResultStatus.FAILED);
                        assertThat(r.error).matches("connect timeout: .*|deadline exceeded.*");
                    });
            assertThat(ratio).as("healthy throughput beside the blackholed hosts, against alone")
                    .isGreaterThanOrEqualTo(0.8);
        }
    }

    /** Submits the healthy host's files {@code prefix}0.. and returns the time until all are OK. */
    private static long healthyRun(FetchHarness h, TestOrigin healthy, String prefix) throws Exception {
        long t0 = System.nanoTime();
        for (int i = 0; i < HEALTHY; i++) {
            h.submit(FetchOperatorTest.request(prefix + i, healthy, "/" + prefix + i));
        }
        h.drainUntil(() -> h.extractOutputValues().stream().filter(r -> r.id.startsWith(prefix)).count() >= HEALTHY);
        long millis = (System.nanoTime() - t0) / 1_000_000;
        assertThat(h.extractOutputValues().stream().filter(r -> r.id.startsWith(prefix)))
                .allSatisfy(r -> assertThat(r.status).isEqualTo(ResultStatus.OK));
        return millis;
    }

    /**
     * Listening sockets on {@code 127.1.x.y} that never accept, with their accept queue filled (backlog 1: two
     * connections), so the kernel drops further SYNs and connects hang until the client's timeout.
     */
    static final class Blackholes implements AutoCloseable {
        private final List<ServerSocket> servers = new ArrayList<>();
        private final List<Socket> fillers = new ArrayList<>();

        Blackholes(int n) throws IOException {
            try {
                for (int i = 0; i < n; i++) {
                    InetAddress address = InetAddress.getByName("127.1." + (i / 250) + "." + (i % 250 + 1));
                    ServerSocket s = new ServerSocket(0, 1, address);
                    servers.add(s);
                    for (int k = 0; k < 2; k++) {
                        Socket f = new Socket();
                        f.connect(s.getLocalSocketAddress(), 1_000);
                        fillers.add(f);
                    }
                }
            } catch (IOException e) {
                close();
                throw e;
            }
        }

        InetSocketAddress address(int i) {
            return (InetSocketAddress) servers.get(i).getLocalSocketAddress();
        }

        @Override
        public void close() throws IOException {
            for (Socket f : fillers) {
                f.close();
            }
            for (ServerSocket s : servers) {
                s.close();
            }
        }
    }
}
