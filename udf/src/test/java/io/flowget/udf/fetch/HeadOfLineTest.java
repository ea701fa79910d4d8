package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.Configuration;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * No head-of-line blocking (issue 12): a host paused for 300 s by {@code 503 + Retry-After} with a full backlog
 * never stops the operator from taking and finishing another host's requests. Before, {@code processElement}
 * yielded while the subtask's backlog was over {@code max-backlog}, so the paused host's queue stopped all input
 * (and, in a job, the checkpoint barriers behind it). Now only the crowding host's new requests are refused with
 * {@code queue full}. The processing-time clock stands still ({@link FetchHarness.Clock#MANUAL}), so the pause
 * never ends during the test.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class HeadOfLineTest {
    static final int HEALTHY = 80;

    @TempDir Path tmp;

    @RegisterExtension final FetchHarnessExtension fetch = new FetchHarnessExtension();

    @Test
    void aPausedHostWithAFullBacklogHoldsNoOtherHostBack() throws Exception {
        TestOrigin healthy = fetch.track(TestOrigin.start("127.0.0.1"));
        TestOrigin paused = pausedOrigin();
        FetchHarness h = fetch.harness(config(20, 10), FetchHarness.Clock.MANUAL)
                .unfinished("the paused host's admitted requests wait for its 300 s pause, which this test never reaches");

        int refused = fillPausedHost(h, paused, 40);
        h.snapshot(1L, 1L); // a checkpoint beside the full backlog (before, the task thread was stuck in yield())
        List<FetchResult> done = feed(h, healthy, "h", HEALTHY);
        h.snapshot(2L, 2L);

        assertThat(refused).as("requests of the paused host beyond its bound").isEqualTo(30);
        assertThat(done).hasSize(HEALTHY).allSatisfy(r -> assertThat(r.status).as("%s", r).isEqualTo(ResultStatus.OK));
        for (FetchResult r : done) {
            assertThat(Files.readAllBytes(h.out().resolve(r.path))).isEqualTo(body(r.id));
        }
        List<FetchResult> full = h.extractOutputValues().stream()
                .filter(r -> r.id.startsWith("p")).collect(Collectors.toList());
        assertThat(full).hasSize(30).allSatisfy(r -> {
            assertThat(r.status).isEqualTo(ResultStatus.FAILED);
            assertThat(r.error).startsWith("queue full (10 requests of this host waiting");
        });
        assertThat(paused.totalRequests()).as("one request found the pause; the rest wait").isEqualTo(1);
    }

    /**
     * The same with a larger healthy batch, timed against the healthy host alone before and after in the same run:
     * the ratio the issue asks for (at least 0.8). Wall-clock, so tagged slow and run on demand:
     * {@code mvn -o -q -pl udf test -Dtest=HeadOfLineTest -Dsurefire.excludedGroups=none} (the figure is printed).
     */
    @Test
    @Tag("slow")
    void healthyHostRateBesideAPausedHostIsCloseToItsRateAlone() throws Exception {
        TestOrigin healthy = fetch.track(TestOrigin.start("127.0.0.1"));
        TestOrigin paused = pausedOrigin();
        int n = 2000;
        FetchHarness alone = fetch.harness(config(200, 100), FetchHarness.Clock.MANUAL);
        feed(alone, healthy, "warm", 200);
        long t0 = System.nanoTime();
        feed(alone, healthy, "a", n);
        double aloneSeconds = (System.nanoTime() - t0) / 1e9;

        FetchHarness beside = fetch.harness(config(200, 100), FetchHarness.Clock.MANUAL)
                .unfinished("the paused host's admitted requests wait for its 300 s pause");
        fillPausedHost(beside, paused, 150);
        feed(beside, healthy, "warm", 200);
        long t1 = System.nanoTime();
        List<FetchResult> done = feed(beside, healthy, "b", n);
        double besideSeconds = (System.nanoTime() - t1) / 1e9;

        // Alone once more, after: the better of the two "alone" runs is the reference (JIT warm-up favours later runs).
        long t2 = System.nanoTime();
        feed(alone, healthy, "c", n);
        double aloneAfterSeconds = (System.nanoTime() - t2) / 1e9;
        double ratio = Math.min(aloneSeconds, aloneAfterSeconds) / besideSeconds;
        System.out.printf("HeadOfLineTest: %d healthy requests alone %.2f s, beside a paused host %.2f s, alone again"
                + " %.2f s: ratio %.2f%n", n, aloneSeconds, besideSeconds, aloneAfterSeconds, ratio);
        assertThat(done).allSatisfy(r -> assertThat(r.status).isEqualTo(ResultStatus.OK));
        assertThat(ratio).as("healthy rate beside a paused host / alone").isGreaterThanOrEqualTo(0.8);
    }

    // ------------------------------------------------------------------------------------------------

    private TestOrigin pausedOrigin() throws Exception {
        TestOrigin paused = fetch.track(TestOrigin.start("127.0.0.2"));
        paused.route("/p", (req, resp, cb, n) -> {
            resp.getHeaders().put("Retry-After", "300");
            TestOrigin.send(resp, cb, 503, new byte[0]);
        });
        return paused;
    }

    private Configuration config(int maxBacklog, int maxHostBacklog) {
        Configuration c = FetchHarness.config(tmp, 16, 8);
        c.set(FlowgetOptions.FETCH_MAX_BACKLOG, maxBacklog);
        c.set(FlowgetOptions.FETCH_MAX_HOST_BACKLOG, maxHostBacklog);
        return c;
    }

    /** One request to the paused host, until it is paused; then {@code n - 1} more. Returns how many were refused. */
    private static int fillPausedHost(FetchHarness h, TestOrigin paused, int n) throws Exception {
        int before = h.extractOutputValues().size();
        h.submit(new FetchRequest("p0", paused.url("/p"), paused.host(), "p/0"));
        h.drainUntil(() -> paused.totalRequests() >= 1 && h.getOperator().forTests().inFlightCount() == 0);
        for (int i = 1; i < n; i++) {
            h.submit(new FetchRequest("p" + i, paused.url("/p"), paused.host(), "p/" + i));
        }
        return h.extractOutputValues().size() - before;
    }

    /** Feeds {@code n} healthy requests in batches of 5, as a source interleaved with completions would. */
    private static List<FetchResult> feed(FetchHarness h, TestOrigin origin, String prefix, int n) throws Exception {
        for (int i = 0; i < n; i++) {
            String id = prefix + i;
            origin.file("/" + id, body(id));
        }
        int before = h.extractOutputValues().size();
        for (int i = 0; i < n; i += 5) {
            for (int j = i; j < Math.min(n, i + 5); j++) {
                String id = prefix + j;
                h.submit(new FetchRequest(id, origin.url("/" + id), origin.host(), "h/" + id));
            }
            int want = before + Math.min(n, i + 5);
            h.drainUntil(() -> h.extractOutputValues().stream().filter(r -> r.id.startsWith(prefix)).count()
                    >= want - before);
        }
        return h.extractOutputValues().stream().filter(r -> r.id.startsWith(prefix)).collect(Collectors.toList());
    }

    private static byte[] body(String id) {
        return TestOrigin.content(id, 2000);
    }
}
