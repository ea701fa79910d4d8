package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The keyed {@code host-health} (issue 13): whether a host answered, its circuit breaker and its latency baseline
 * are in checkpoints, so a restored operator neither hammers a host it knew to be dead nor forgets how fast a live
 * one answers. (That more hosts than the in-memory gates keep theirs is {@code HostGatesTest}'s.)
 */
class HostHealthStateTest {
    private static final long OPEN_MILLIS = 3_600_000;

    @TempDir Path tmp;

    @RegisterExtension final FetchHarnessExtension fetch = new FetchHarnessExtension();

    @Test
    void theBreakerAndTheLatencyBaselineAreRestoredFromACheckpoint() throws Exception {
        TestOrigin alive = fetch.track(TestOrigin.start("127.0.0.41"));
        alive.route("/a", (req, resp, cb, n) -> {
            Thread.sleep(30);
            TestOrigin.send(resp, cb, 200, new byte[100]);
        });
        int port;
        try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.42"))) {
            port = probe.getLocalPort(); // closed again: connects are refused until the origin below starts
        }
        Configuration conf = FetchHarness.config(tmp, 16, 8);
        conf.set(FlowgetOptions.HOST_BREAKER_FAILURES, 1);
        conf.set(FlowgetOptions.HOST_BREAKER_OPEN, Duration.ofMillis(OPEN_MILLIS));
        conf.set(FlowgetOptions.HOST_BREAKER_MAX_OPEN, Duration.ofMillis(OPEN_MILLIS));
        conf.set(FlowgetOptions.RETRY_INITIAL_BACKOFF, Duration.ofMillis(1));
        conf.set(FlowgetOptions.RETRY_MAX_BACKOFF, Duration.ofMillis(1));
        FetchRequest dead = new FetchRequest("d", "http://127.0.0.42:" + port + "/d", "127.0.0.42", "d");

        FetchHarness h = fetch.harness(conf, FetchHarness.Clock.MANUAL);
        h.setProcessingTime(1_000);
        h.submit(FetchOperatorTest.request("a", alive, "/a"), dead);
        h.drainUntil(() -> result(h, "a").isPresent() && h.getOperator().forTests().inFlightCount() == 0);
        // Host health is written behind: the snapshot's flush writes it, once per host.
        OperatorSubtaskState snapshot = h.snapshot(1L, 1L);
        HostHealth deadHealth = health(h, "127.0.0.42");
        HostHealth aliveHealth = health(h, "127.0.0.41");
        assertThat(deadHealth.openUntil).isEqualTo(1_000 + OPEN_MILLIS);
        assertThat(deadHealth.lastError).startsWith("connect error: ");
        assertThat(deadHealth.answered).isFalse();
        assertThat(aliveHealth.answered).isTrue();
        assertThat(aliveHealth.minTtfbNanos).isGreaterThan(Duration.ofMillis(20).toNanos());
        h.crash("the dead host's request waits behind its open circuit at the snapshot");

        // The dead host's port serves now: only a forgotten breaker would send the request before its open time.
        TestOrigin revived = fetch.track(TestOrigin.start("127.0.0.42", port));
        revived.file("/d", new byte[10]);
        FetchHarness r = fetch.harness(conf, snapshot, FetchHarness.Clock.MANUAL);
        r.setProcessingTime(2_000);
        assertThat(health(r, "127.0.0.42")).isEqualTo(deadHealth);
        assertThat(health(r, "127.0.0.41")).isEqualTo(aliveHealth);
        r.drainFor(Duration.ofMillis(500));
        assertThat(revived.hits("/d")).as("parked by the restored circuit").isZero();

        r.setProcessingTime(1_000 + OPEN_MILLIS); // the open time ends: one probe, which the revived host answers
        r.drainUntil(() -> result(r, "d").isPresent());
        assertThat(result(r, "d").get().status).isEqualTo(ResultStatus.OK);
        assertThat(health(r, "127.0.0.42").openUntil).as("closed by the answer").isZero();
        assertThat(health(r, "127.0.0.42").answered).isTrue();
    }

    private static Optional<FetchResult> result(FetchHarness h, String id) {
        return h.extractOutputValues().stream().filter(x -> x.id.equals(id)).findFirst();
    }

    /**
     * Reads a host's {@link HostHealth} straight from the operator's keyed state backend, after writing what the
     * operator holds behind (as its next snapshot would).
     */
    static HostHealth health(FetchHarness h, String host) throws Exception {
        h.getOperator().forTests().flushHostState();
        return h.keyedValue(host, HostPoliteness.healthDescriptor(FlowgetOptions.HOST_STATE_TTL.defaultValue()));
    }
}
