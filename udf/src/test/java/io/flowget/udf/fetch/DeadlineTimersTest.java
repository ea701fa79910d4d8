package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.Configuration;

import org.junit.jupiter.api.BeforeEach;
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
 * Deadlines are timers (issue 13): a request whose {@code deadline} passes while it waits — in its host's queue,
 * behind a Retry-After pause, an open circuit, a rate limit or its own retry backoff — ends FAILED {@code deadline
 * exceeded} when the deadline's timer fires, not when it is next issued.
 *
 * <p>Processing time is the wall clock in a job, so the deadline timer is at the deadline itself. Here the clock
 * is {@link FetchHarness.Clock#MANUAL}: each test sets it one minute before a deadline an hour ahead (so no
 * wall-clock check can fire first), brings the request into its wait, then sets the clock to 1 ms before the
 * deadline (no result) and to the deadline (the result).
 */
class DeadlineTimersTest {
    @TempDir Path tmp;

    @RegisterExtension final FetchHarnessExtension fetch = new FetchHarnessExtension();

    /** The deadline of the waiting request: an hour ahead of the wall clock. */
    private long deadline;

    @BeforeEach
    void deadlineAnHourAhead() {
        deadline = System.currentTimeMillis() + 3_600_000;
    }

    @Test
    void aRequestWaitingInItsHostsQueue() throws Exception {
        TestOrigin origin = fetch.track(TestOrigin.start("127.0.0.31"));
        origin.route("/hang", (req, resp, cb, n) -> {}); // never answers: the host's one slot stays taken
        origin.file("/w", new byte[10]);
        FetchHarness h = harness(FetchHarness.config(tmp, 16, 1));
        h.submit(request("first", origin, "/hang", deadline + 10_000), request("w", origin, "/w", deadline));
        h.drainUntil(() -> origin.hits("/hang") == 1);

        assertFailsAtTheDeadline(h, "w", "deadline exceeded");
        assertThat(origin.hits("/w")).isZero();
        h.setProcessingTime(deadline + 10_000); // the request in flight ends at its own deadline too
        assertThat(result(h, "first")).hasValueSatisfying(r -> assertThat(r.error).isEqualTo("deadline exceeded"));
        settle(h);
    }

    @Test
    void aRequestBehindARetryAfterPause() throws Exception {
        TestOrigin origin = fetch.track(TestOrigin.start("127.0.0.32"));
        origin.route("/busy", (req, resp, cb, n) -> {
            resp.getHeaders().put("Retry-After", "600");
            TestOrigin.send(resp, cb, 503, new byte[0]);
        });
        origin.file("/w", new byte[10]);
        FetchHarness h = harness(FetchHarness.config(tmp, 16, 8));
        h.submit(request("first", origin, "/busy", deadline + 10_000), request("w", origin, "/w", deadline));
        h.drainUntil(() -> origin.hits("/busy") == 1);
        h.drainFor(Duration.ofMillis(300));

        assertFailsAtTheDeadline(h, "w", "deadline exceeded");
        assertThat(origin.hits("/w")).as("the host stayed paused").isZero();
        h.setProcessingTime(deadline + 10_000);
        assertThat(result(h, "first"))
                .hasValueSatisfying(r -> assertThat(r.error).isEqualTo("deadline exceeded (last error: http 503)"));
        settle(h);
    }

    @Test
    void aRequestBehindAnOpenCircuit() throws Exception {
        int port;
        try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.33"))) {
            port = probe.getLocalPort(); // closed again: connects are refused
        }
        Configuration conf = FetchHarness.config(tmp, 16, 8);
        conf.set(FlowgetOptions.HOST_BREAKER_FAILURES, 1);
        conf.set(FlowgetOptions.HOST_BREAKER_OPEN, Duration.ofHours(1));
        conf.set(FlowgetOptions.HOST_BREAKER_MAX_OPEN, Duration.ofHours(1));
        conf.set(FlowgetOptions.RETRY_INITIAL_BACKOFF, Duration.ofMillis(1));
        conf.set(FlowgetOptions.RETRY_MAX_BACKOFF, Duration.ofMillis(1));
        FetchHarness h = harness(conf);
        String base = "http://127.0.0.33:" + port;
        h.submit(raw("first", base + "/a", deadline + 10_000), raw("w", base + "/w", deadline));
        h.drainUntil(() -> h.getOperator().forTests().inFlightCount() == 0 && h.numProcessingTimeTimers() >= 4);

        assertFailsAtTheDeadline(h, "w", "deadline exceeded");
        h.setProcessingTime(deadline + 10_000);
        assertThat(result(h, "first")).hasValueSatisfying(r ->
                assertThat(r.error).startsWith("deadline exceeded (last error: connect error: "));
        assertThat(result(h, "first").get().attempts).as("no attempt while the circuit was open").isEqualTo(1);
        settle(h);
    }

    @Test
    void aRequestHeldByTheHostsRateLimit() throws Exception {
        TestOrigin origin = fetch.track(TestOrigin.start("127.0.0.34"));
        origin.file("/first", new byte[10]);
        origin.file("/w", new byte[10]);
        Configuration conf = FetchHarness.config(tmp, 16, 8);
        conf.set(FlowgetOptions.HOST_MAX_REQUESTS_PER_SECOND, 0.001); // one request, then one per 1000 s
        FetchHarness h = harness(conf);
        h.submit(request("first", origin, "/first", deadline + 10_000), request("w", origin, "/w", deadline));
        h.drainUntil(() -> result(h, "first").isPresent());
        assertThat(result(h, "first").get().status).isEqualTo(ResultStatus.OK);
        h.drainFor(Duration.ofMillis(300));

        assertFailsAtTheDeadline(h, "w", "deadline exceeded");
        assertThat(origin.hits("/w")).isZero();
        settle(h);
    }

    @Test
    void aRequestWaitingForItsRetryBackoff() throws Exception {
        TestOrigin origin = fetch.track(TestOrigin.start("127.0.0.35"));
        origin.route("/w", (req, resp, cb, n) -> TestOrigin.send(resp, cb, 500, new byte[0]));
        Configuration conf = FetchHarness.config(tmp, 16, 8);
        conf.set(FlowgetOptions.RETRY_INITIAL_BACKOFF, Duration.ofMinutes(20));
        conf.set(FlowgetOptions.RETRY_MAX_BACKOFF, Duration.ofMinutes(20));
        FetchHarness h = harness(conf);
        h.submit(request("w", origin, "/w", deadline));
        h.drainUntil(() -> origin.hits("/w") == 1 && h.getOperator().forTests().inFlightCount() == 0);

        assertFailsAtTheDeadline(h, "w", "deadline exceeded (last error: http 500)");
        assertThat(origin.hits("/w")).isEqualTo(1);
        settle(h);
    }

    // ------------------------------------------------------------------------------------------------

    private FetchHarness harness(Configuration conf) throws Exception {
        FetchHarness h = fetch.harness(conf, FetchHarness.Clock.MANUAL);
        h.setProcessingTime(deadline - 60_000);
        return h;
    }

    /** No result for {@code id} 1 ms before the deadline; at the deadline, FAILED with {@code error}. */
    private void assertFailsAtTheDeadline(FetchHarness h, String id, String error) throws Exception {
        h.setProcessingTime(deadline - 1);
        h.drainFor(Duration.ofMillis(100));
        assertThat(result(h, id)).as("%s before its deadline", id).isEmpty();
        h.setProcessingTime(deadline); // fires the deadline's timer
        assertThat(result(h, id)).as("%s at its deadline", id).hasValueSatisfying(r -> {
            assertThat(r.status).isEqualTo(ResultStatus.FAILED);
            assertThat(r.error).isEqualTo(error);
        });
    }

    /** Fires what outlived the work (pause and breaker wake-ups, a retry of a download that ended). */
    private void settle(FetchHarness h) throws Exception {
        h.setProcessingTime(deadline + 7_200_000);
        h.drainFor(Duration.ofMillis(500)); // a sweep puts the rate-limited host back in turn: its queue cursor moves on
    }

    private static Optional<FetchResult> result(FetchHarness h, String id) {
        return h.extractOutputValues().stream().filter(r -> r.id.equals(id)).findFirst();
    }

    private static FetchRequest request(String id, TestOrigin origin, String path, long deadline) {
        FetchRequest r = FetchOperatorTest.request(id, origin, path);
        r.deadline = deadline;
        return r;
    }

    private static FetchRequest raw(String id, String url, long deadline) {
        String host = url.substring(7, url.lastIndexOf(':'));
        FetchRequest r = new FetchRequest(id, url, host, id);
        r.deadline = deadline;
        return r;
    }
}
