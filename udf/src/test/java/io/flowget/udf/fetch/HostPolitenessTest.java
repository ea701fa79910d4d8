package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.http.FetchOutcome;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.ConnectException;
import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * {@link HostPoliteness}: the adaptive per-host limit, the overload cap and the host-wide Retry-After pause, in the
 * fetch operator's keyed harness against real Jetty origins. Processing time follows the wall clock here
 * ({@link FetchHarness.Clock#WALL}), so Retry-After pauses end as they would in a job; assertions are on counts.
 */
class HostPolitenessTest {
    @TempDir Path tmp;

    @RegisterExtension final FetchHarnessExtension fetch = new FetchHarnessExtension();

    /** A host that refuses (429, Retry-After: 1) any request beyond 3 at once. */
    private static final class Picky {
        final TestOrigin origin;
        final List<Integer> concurrencyAtArrival = Collections.synchronizedList(new ArrayList<>());
        final List<Long> refusedAtNanos = Collections.synchronizedList(new ArrayList<>());
        final AtomicInteger refused = new AtomicInteger();

        Picky(TestOrigin origin, int files) {
            this.origin = origin;
            TestOrigin.Route route =
                    (req, resp, cb, n) -> {
                        int now = origin.activeRequests();
                        concurrencyAtArrival.add(now);
                        if (now > 3) {
                            refused.incrementAndGet();
                            refusedAtNanos.add(System.nanoTime());
                            resp.getHeaders().put("Retry-After", "1");
                            TestOrigin.send(resp, cb, 429, new byte[0]);
                        } else {
                            Thread.sleep(20); // a small server: each request takes a while
                            TestOrigin.send(resp, cb, 200, new byte[1000]);
                        }
                    };
            for (int i = 0; i < files; i++) {
                origin.route("/p" + i, route);
            }
        }
    }

    @Test
    void convergesUnderAPickyHostsCapWithoutSlowingAFastHostAndKeepsItAcrossARestore() throws Exception {
        Picky picky = new Picky(origin("127.0.0.3"), 170);
        TestOrigin fast = origin("127.0.0.4");
        for (int i = 0; i < 400; i++) {
            fast.route("/f" + i, (req, resp, cb, n) -> {
                Thread.sleep(5); // fast, but not instant: concurrency shows
                TestOrigin.send(resp, cb, 200, new byte[1000]);
            });
        }
        Configuration conf = config(64, 16);
        conf.set(FlowgetOptions.HOST_INITIAL_CONCURRENCY, 16); // start high, so the host must push back
        // Counts, not wall time: the cap rises by rounds of answers only (the probe interval's raise by elapsed time
        // is AdaptiveLimitTest's, on a manual clock), and no latency drop (the next test's subject) can shrink the
        // fast host's limit when a loaded machine delays an answer.
        conf.set(FlowgetOptions.HOST_PROBE_INTERVAL, Duration.ofHours(1));
        conf.set(FlowgetOptions.HOST_LATENCY_DROP_FACTOR, 0.0);
        var h = harness(conf, null);

        for (int i = 0; i < 400; i++) {
            if (i < 150) {
                h.processElement(FetchOperatorTest.request("p" + i, picky.origin, "/p" + i), 0);
            }
            h.processElement(FetchOperatorTest.request("f" + i, fast, "/f" + i), 0);
        }
        h.drainUntil(() -> h.extractOutputValues().size() >= 550);
        List<FetchResult> results = h.extractOutputValues();

        assertThat(results).hasSize(550).allSatisfy(r -> assertThat(r.status).isEqualTo(ResultStatus.OK));
        List<Integer> arrivals = new ArrayList<>(picky.concurrencyAtArrival);
        int lastRefused = -1;
        // The first request goes alone (warm-up), then the initial burst of 16 meets the host's refusals and caps it.
        // The cap then rises by one per round of answers and a refused probe doubles the rounds before the next
        // one, so probes thin out exponentially: the refusals are the burst's and a few probes'.
        List<Integer> refusedAt = new ArrayList<>();
        for (int i = 0; i < arrivals.size(); i++) {
            if (arrivals.get(i) > 3) {
                lastRefused = i;
                refusedAt.add(i);
            }
        }
        assertThat(picky.refused.get()).as("429s: the burst and probes that thin out").isBetween(1, 24);
        List<Integer> secondHalf = arrivals.subList(arrivals.size() / 2, arrivals.size());
        assertThat(refusedAt.stream().filter(i -> i >= arrivals.size() / 2).count())
                .as("at most two probes in the second half of %s arrivals: %s", arrivals.size(), arrivals)
                .isLessThanOrEqualTo(2);
        assertThat(Collections.max(secondHalf)).as("the cap and a probe above it").isLessThanOrEqualTo(4);
        List<Integer> converged = secondHalf;
        assertThat(converged.stream().filter(c -> c == 3).count())
                .as("flowget still uses the host's capacity").isGreaterThan(10);
        System.out.printf(
                "politeness: %d arrivals at the picky host, %d refused, converged after arrival %d, %d ms from"
                        + " the first 429 to the last; fast host max concurrent %d%n",
                arrivals.size(),
                picky.refused.get(),
                lastRefused + 1,
                (picky.refusedAtNanos.get(picky.refusedAtNanos.size() - 1) - picky.refusedAtNanos.get(0)) / 1_000_000,
                fast.maxConcurrent());
        HostState pickyState = hostState(h, picky.origin.host());
        assertThat(pickyState.ceiling).as("cap learned from the 429s").isBetween(2, 3);
        assertThat(pickyState.pausedUntil).as("a Retry-After pause was recorded").isPositive();

        // The fast host is another key: no cap, no pause, its limit grew to the maximum, it had more than the
        // picky host's 3 at once, and it finished before the picky host did.
        HostState fastState = hostState(h, fast.host());
        assertThat(fastState.ceiling).isZero();
        assertThat(fastState.pausedUntil).isZero();
        assertThat(fastState.limit).isEqualTo(16);
        assertThat(fast.maxConcurrent()).isGreaterThan(3);
        int lastFast = lastIndex(results, "f");
        int lastPicky = lastIndex(results, "p");
        assertThat(lastFast).as("the fast host was not held behind the picky one").isLessThan(lastPicky);

        // Restart: the learned cap is in keyed state; the restored operator does not burst into the host again.
        OperatorSubtaskState snapshot = h.snapshot(1L, 1L);
        h.close();
        int refusedBefore = picky.refused.get();
        int arrivalsBefore = picky.concurrencyAtArrival.size();
        var restored = harness(conf, snapshot);
        assertThat(hostState(restored, picky.origin.host())).isEqualTo(pickyState);
        for (int i = 150; i < 170; i++) {
            restored.processElement(FetchOperatorTest.request("p" + i, picky.origin, "/p" + i), 0);
        }
        restored.drainUntil(() -> restored.extractOutputValues().size() >= 20);
        assertThat(restored.extractOutputValues()).allSatisfy(r -> assertThat(r.status).isEqualTo(ResultStatus.OK));
        assertThat(picky.refused.get() - refusedBefore)
                .as("no burst after the restore, and the probes' pace (in host-health) kept")
                .isLessThanOrEqualTo(1);
        List<Integer> afterRestore =
                new ArrayList<>(picky.concurrencyAtArrival).subList(arrivalsBefore, picky.concurrencyAtArrival.size());
        assertThat(Collections.max(afterRestore)).isLessThanOrEqualTo(4);
    }

    @Test
    void retryAfterPausesTheWholeHostNotJustTheRequest() throws Exception {
        TestOrigin origin = origin("127.0.0.5");
        AtomicInteger served = new AtomicInteger();
        origin.route(
                "/first",
                (req, resp, cb, n) -> {
                    if (n == 1) {
                        resp.getHeaders().put("Retry-After", "120");
                        TestOrigin.send(resp, cb, 503, new byte[0]);
                    } else {
                        TestOrigin.send(resp, cb, 200, new byte[1]);
                    }
                });
        for (int i = 0; i < 5; i++) {
            origin.route("/other" + i, (req, resp, cb, n) -> {
                served.incrementAndGet();
                TestOrigin.send(resp, cb, 200, new byte[1]);
            });
        }
        var h = fetch.harness(config(8, 4), FetchHarness.Clock.MANUAL); // the test times the pause itself
        h.setProcessingTime(1_000);
        // The first request goes alone (warm-up), so the others are still queued when the 503 arrives.
        h.processElement(FetchOperatorTest.request("first", origin, "/first"), 0);
        for (int i = 0; i < 5; i++) {
            h.processElement(FetchOperatorTest.request("o" + i, origin, "/other" + i), 0);
        }
        h.drainUntil(() -> h.numProcessingTimeTimers() == 1);
        h.drainFor(Duration.ofMillis(300));
        assertThat(served.get()).as("no new request while the host is paused").isZero();
        assertThat(hostState(h, origin.host()).pausedUntil).isEqualTo(121_000);

        h.setProcessingTime(121_000);
        h.drainUntil(() -> h.extractOutputValues().size() >= 6);
        assertThat(h.extractOutputValues()).allSatisfy(r -> assertThat(r.status).isEqualTo(ResultStatus.OK));
        assertThat(served.get()).isEqualTo(5);
    }

    @Test
    void aUrlThatKeepsRefusingWithRetryAfterPausesItsHostOnceNotAtEveryRetry() throws Exception {
        // A hostile-origin run: one URL answering 503 with Retry-After at every attempt re-paused its host at each
        // retry, for the 5-minute cap each time: 25 minutes in which no other request to the host went out.
        TestOrigin origin = origin("127.0.0.7");
        AtomicInteger refusals = new AtomicInteger();
        AtomicInteger served = new AtomicInteger();
        origin.route("/always", (req, resp, cb, n) -> {
            refusals.incrementAndGet();
            resp.getHeaders().put("Retry-After", "120");
            TestOrigin.send(resp, cb, 503, new byte[0]);
        });
        for (int i = 0; i < 5; i++) {
            origin.route("/other" + i, (req, resp, cb, n) -> {
                served.incrementAndGet();
                TestOrigin.send(resp, cb, 200, new byte[1]);
            });
        }
        Configuration conf = config(8, 4);
        conf.set(FlowgetOptions.RETRY_MAX_ATTEMPTS, 3);
        var h = fetch.harness(conf, FetchHarness.Clock.MANUAL);
        h.setProcessingTime(1_000);
        h.processElement(FetchOperatorTest.request("always", origin, "/always"), 0); // alone: the host's warm-up
        h.drainUntil(() -> refusals.get() == 1 && h.numProcessingTimeTimers() >= 1);
        assertThat(hostState(h, origin.host()).pausedUntil).as("the first refusal pauses the host").isEqualTo(121_000);

        h.setProcessingTime(121_000); // the pause ends; the URL's retry goes, and is refused again
        h.drainUntil(() -> refusals.get() == 2);
        h.drainFor(Duration.ofMillis(200));
        assertThat(hostState(h, origin.host()).pausedUntil)
                .as("the same request's second refusal does not pause the host again")
                .isEqualTo(121_000);
        for (int i = 0; i < 5; i++) {
            h.processElement(FetchOperatorTest.request("o" + i, origin, "/other" + i), 0);
        }
        h.drainUntil(() -> h.extractOutputValues().size() >= 5);
        assertThat(served.get()).isEqualTo(5);
        assertThat(h.extractOutputValues()).as("the host's other requests went while the URL waits for its retry")
                .hasSize(5)
                .allSatisfy(r -> assertThat(r.status).isEqualTo(ResultStatus.OK));

        h.setProcessingTime(241_000); // the URL's own Retry-After wait: its last attempt
        h.drainUntil(() -> h.extractOutputValues().size() == 6);
        FetchResult refused = h.extractOutputValues().get(5);
        assertThat(refused.id).isEqualTo("always");
        assertThat(refused.status).isEqualTo(ResultStatus.FAILED);
        assertThat(refused.attempts).isEqualTo(3);
        assertThat(refusals.get()).isEqualTo(3);
    }

    @Test
    void deadHostsAreParkedThenFailedWithinTheirBudgetWhileAHealthyHostRunsOn() throws Exception {
        TestOrigin healthy = origin("127.0.0.6");
        for (int i = 0; i < 300; i++) {
            healthy.route("/h" + i, (req, resp, cb, n) -> {
                Thread.sleep(2);
                TestOrigin.send(resp, cb, 200, new byte[2000]);
            });
        }
        Configuration conf = config(64, 8);
        conf.set(FlowgetOptions.HTTP_CONNECT_TIMEOUT, Duration.ofMillis(300));
        conf.set(FlowgetOptions.RETRY_INITIAL_BACKOFF, Duration.ofMillis(100));
        conf.set(FlowgetOptions.RETRY_MAX_BACKOFF, Duration.ofMillis(400));
        conf.set(FlowgetOptions.HOST_BREAKER_FAILURES, 3);
        conf.set(FlowgetOptions.HOST_BREAKER_OPEN, Duration.ofMillis(200));
        conf.set(FlowgetOptions.HOST_BREAKER_MAX_OPEN, Duration.ofMillis(800));
        conf.set(FlowgetOptions.HOST_GIVE_UP_AFTER, Duration.ofSeconds(1));

        // Baseline: the healthy host alone.
        var alone = harness(conf, null);
        long t0 = System.nanoTime();
        for (int i = 0; i < 300; i++) {
            alone.processElement(FetchOperatorTest.request("h" + i, healthy, "/h" + i), 0);
        }
        alone.drainUntil(() -> alone.extractOutputValues().size() >= 300);
        long aloneNanos = System.nanoTime() - t0;
        alone.close();

        // Same again beside a host that refuses connections and one that never answers a SYN.
        int refusedPort;
        try (java.net.ServerSocket probe = new java.net.ServerSocket(0, 1, InetAddress.getByName("127.0.0.7"))) {
            refusedPort = probe.getLocalPort();
        }
        List<java.net.Socket> fillers = new ArrayList<>();
        try (java.net.ServerSocket blackhole =
                new java.net.ServerSocket(0, 1, InetAddress.getByName("127.0.0.8"))) {
            // Never accepted: once its accept queue is full the kernel drops further SYNs, so connects hang.
            for (int i = 0; i < 4; i++) {
                java.net.Socket s = new java.net.Socket();
                try {
                    s.connect(blackhole.getLocalSocketAddress(), 200);
                    fillers.add(s);
                } catch (IOException full) {
                    s.close();
                    break;
                }
            }
            var h = harness(conf, null);
            long t1 = System.nanoTime();
            for (int i = 0; i < 300; i++) {
                h.processElement(FetchOperatorTest.request("h" + i, healthy, "/h" + i), 0);
                if (i < 40) {
                    h.processElement(new FetchRequest("r" + i, "http://127.0.0.7:" + refusedPort + "/r" + i,
                            "127.0.0.7", "r/" + i), 0);
                    h.processElement(new FetchRequest("b" + i, "http://127.0.0.8:" + blackhole.getLocalPort()
                            + "/b" + i, "127.0.0.8", "b/" + i), 0);
                }
            }
            h.drainUntil(() -> h.extractOutputValues().stream().filter(r -> r.id.startsWith("h")).count() >= 300);
            long withDeadNanos = System.nanoTime() - t1;
            h.drainUntil(() -> h.extractOutputValues().size() >= 380);
            List<FetchResult> results = h.extractOutputValues();

            assertThat(results.stream().filter(r -> r.id.startsWith("h")))
                    .allSatisfy(r -> assertThat(r.status).isEqualTo(ResultStatus.OK));
            List<FetchResult> refused = results.stream().filter(r -> r.id.startsWith("r")).toList();
            List<FetchResult> blackholed = results.stream().filter(r -> r.id.startsWith("b")).toList();
            assertThat(refused).hasSize(40).allSatisfy(r -> {
                assertThat(r.status).isEqualTo(ResultStatus.FAILED);
                assertThat(r.error).matches("(host unreachable: )?connect error: .*");
            });
            assertThat(blackholed).hasSize(40).allSatisfy(r -> {
                assertThat(r.status).isEqualTo(ResultStatus.FAILED);
                assertThat(r.error).matches("(host unreachable: )?connect timeout: .*");
            });
            // The budget: most requests of a dead host were parked and then failed without being sent.
            int refusedAttempts = refused.stream().mapToInt(r -> r.attempts).sum();
            int blackholedAttempts = blackholed.stream().mapToInt(r -> r.attempts).sum();
            assertThat(refused.stream().filter(r -> r.error.startsWith("host unreachable")).count())
                    .isGreaterThan(30);
            assertThat(refusedAttempts).as("connects tried at the refusing host").isLessThan(40);
            assertThat(blackholedAttempts).as("connects tried at the blackholed host").isLessThan(40);
            System.out.printf(
                    "dead hosts: healthy host 300 files in %d ms alone, %d ms beside a refusing and a blackholed"
                            + " host (ratio %.2f); %d/%d attempts for 40+40 dead-host requests; e.g. '%s'%n",
                    aloneNanos / 1_000_000,
                    withDeadNanos / 1_000_000,
                    (double) aloneNanos / withDeadNanos,
                    refusedAttempts,
                    blackholedAttempts,
                    blackholed.get(blackholed.size() - 1).error);
        } finally {
            for (java.net.Socket s : fillers) {
                s.close();
            }
        }
    }

    @Test
    void tokenBucketsLimitRequestsAndBytesPerSecondPerHost() throws Exception {
        TestOrigin byRequests = origin("127.0.0.9");
        TestOrigin byBytes = origin("127.0.0.10");
        List<Long> requestArrivals = Collections.synchronizedList(new ArrayList<>());
        List<Long> byteArrivals = Collections.synchronizedList(new ArrayList<>());
        for (int i = 0; i < 100; i++) {
            byRequests.route("/r" + i, (req, resp, cb, n) -> {
                requestArrivals.add(System.nanoTime());
                TestOrigin.send(resp, cb, 200, new byte[100]);
            });
        }
        for (int i = 0; i < 6; i++) {
            byBytes.route("/b" + i, (req, resp, cb, n) -> {
                byteArrivals.add(System.nanoTime());
                TestOrigin.send(resp, cb, 200, new byte[10_000]);
            });
        }
        Configuration conf = config(64, 8);
        conf.set(FlowgetOptions.HOST_MAX_REQUESTS_PER_SECOND, 20.0);
        var h = harness(conf, null);
        Configuration bytesConf = config(64, 1);
        bytesConf.set(FlowgetOptions.HOST_MAX_BYTES_PER_SECOND, org.apache.flink.configuration.MemorySize.parse("20kb"));
        bytesConf.set(FlowgetOptions.STORAGE_OUT_DIR, tmp.resolve("out2").toString());
        var hb = harness(bytesConf, null);
        for (int i = 0; i < 100; i++) {
            h.processElement(FetchOperatorTest.request("r" + i, byRequests, "/r" + i), 0);
        }
        for (int i = 0; i < 6; i++) {
            hb.processElement(FetchOperatorTest.request("b" + i, byBytes, "/b" + i), 0);
        }
        h.drainUntil(() -> h.extractOutputValues().size() >= 100);
        hb.drainUntil(() -> hb.extractOutputValues().size() >= 6);

        assertThat(h.extractOutputValues()).allSatisfy(r -> assertThat(r.status).isEqualTo(ResultStatus.OK));
        assertThat(hb.extractOutputValues()).allSatisfy(r -> assertThat(r.status).isEqualTo(ResultStatus.OK));
        // A bucket of one second's worth plus two seconds of refill: 60 requests in any two seconds, and some
        // slack because arrivals at the server jitter against the moments the requests were sent.
        assertThat(mostWithin(requestArrivals, 2)).isBetween(2, 66);
        // 20 KB of burst and 20 KB/s at 10 KB a file, charged after each body: at most 5 starts in a second.
        assertThat(mostWithin(byteArrivals, 1)).isBetween(1, 5);
    }

    /** The most timestamps (nanoTime) that fall into any window of {@code seconds}. */
    private static int mostWithin(List<Long> nanos, int seconds) {
        List<Long> t = new ArrayList<>(nanos);
        Collections.sort(t);
        int most = 0;
        for (int i = 0, j = 0; i < t.size(); i++) {
            while (t.get(i) - t.get(j) >= seconds * 1_000_000_000L) {
                j++;
            }
            most = Math.max(most, i - j + 1);
        }
        return most;
    }

    @Test
    void overridesByHostPattern() {
        Configuration conf = new Configuration();
        conf.set(FlowgetOptions.HOST_MAX_CONCURRENCY, 8);
        conf.set(FlowgetOptions.HOST_OVERRIDES, "*.cdn.example.com=32, slow.example.org=2;static.example.net=0x");
        assertThatThrownBy(() -> HostPoliteness.Settings.from(conf))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'static.example.net=0x'");

        conf.set(FlowgetOptions.HOST_OVERRIDES, "*.cdn.example.com=32, slow.example.org=2");
        HostPoliteness.Settings s = HostPoliteness.Settings.from(conf);
        assertThat(s.maxFor("a.cdn.example.com")).isEqualTo(32);
        assertThat(s.maxFor("x.y.cdn.example.com")).isEqualTo(32);
        assertThat(s.maxFor("cdn.example.com")).as("*. means a subdomain").isEqualTo(8);
        assertThat(s.maxFor("slow.example.org")).isEqualTo(2);
        assertThat(s.maxFor("other.example.org")).isEqualTo(8);

        conf.set(FlowgetOptions.HOST_MIN_CONCURRENCY, 9);
        assertThatThrownBy(() -> HostPoliteness.Settings.from(conf)).hasMessageContaining("min-concurrency");
    }

    @Test
    void aHostWhoseFirstByteSlowsWithConcurrencyEndsWithASmallerLimitThanAFlatOne() throws Exception {
        // Both hosts send headers after 30 ms per request they are serving (the slow one) or after 30 ms flat; the
        // bodies are equal. Latency drops at the default factor 3 and at least 120 ms above the minimum (default 50
        // ms): at load 20 the flat host's answers came 60 ms late often enough to shrink its limit at the end of a
        // run; the queueing host reaches 120 ms above its minimum at 5 in flight (and holds from 3 on, half-way).
        TestOrigin queueing = origin("127.0.0.14");
        TestOrigin flat = origin("127.0.0.15");
        List<Integer> activeAtArrival = Collections.synchronizedList(new ArrayList<>());
        List<Integer> flatActiveAtArrival = Collections.synchronizedList(new ArrayList<>());
        int files = 120;
        for (int i = 0; i < files; i++) {
            queueing.route("/q" + i, (req, resp, cb, n) -> {
                int active = queueing.activeRequests();
                activeAtArrival.add(active);
                Thread.sleep(30L * active); // a server that queues: each request waits for the ones before it
                TestOrigin.send(resp, cb, 200, new byte[1000]);
            });
            flat.route("/f" + i, (req, resp, cb, n) -> {
                flatActiveAtArrival.add(flat.activeRequests());
                Thread.sleep(30);
                TestOrigin.send(resp, cb, 200, new byte[1000]);
            });
        }
        Configuration conf = config(64, 12);
        conf.set(FlowgetOptions.HOST_INITIAL_CONCURRENCY, 8);
        conf.set(FlowgetOptions.HOST_LATENCY_DROP_MIN, Duration.ofMillis(120));
        var h = harness(conf, null);
        // Each host's latency baseline (its smoothed minimum time to first byte) comes from its first answers, at
        // one in flight: the first few go one at a time, so that one answer a loaded machine (or a cold JIT) delayed
        // does not set the baseline for the whole run. With the warm-up's single answer as the baseline, a first
        // answer 30 ms late made 7 in flight look normal at the queueing host (limit 8, mean concurrency 6.9).
        int oneByOne = 5;
        for (int i = 0; i < files; i++) {
            h.processElement(FetchOperatorTest.request("q" + i, queueing, "/q" + i), 0);
            h.processElement(FetchOperatorTest.request("f" + i, flat, "/f" + i), 0);
            if (i < oneByOne) {
                int answered = 2 * (i + 1);
                h.drainUntil(() -> h.extractOutputValues().size() >= answered);
            }
        }
        h.drainUntil(() -> h.extractOutputValues().size() >= 2 * files);
        assertThat(h.extractOutputValues()).allSatisfy(r -> assertThat(r.status).isEqualTo(ResultStatus.OK));

        int queueingLimit = hostState(h, queueing.host()).limit;
        int flatLimit = hostState(h, flat.host()).limit;
        // AIMD saws (+1 per answer, x0.9 per round with a slow first byte), so compare where the hosts settled:
        // the second half of each host's arrivals.
        double queueingMean = secondHalfMean(activeAtArrival);
        double flatMean = secondHalfMean(flatActiveAtArrival);
        System.out.printf(
                "latency: queueing host limit %d, mean concurrency at arrival %.1f (max %d); flat host limit %d,"
                        + " mean %.1f (max %d)%n",
                queueingLimit, queueingMean, queueing.maxConcurrent(), flatLimit, flatMean, flat.maxConcurrent());
        assertThat(queueing.maxConcurrent()).as("the initial burst reached the host").isGreaterThanOrEqualTo(6);
        assertThat(queueingLimit).as("shrunk below its start by slow first bytes").isLessThan(8);
        assertThat(flatLimit).as("flat latency: no latency drops, grew to the maximum").isEqualTo(12);
        assertThat(queueingMean).as("settled concurrency: %s", activeAtArrival).isLessThanOrEqualTo(6.0);
        assertThat(flatMean).isGreaterThan(queueingMean + 3);
    }

    private static double secondHalfMean(List<Integer> values) {
        List<Integer> copy = new ArrayList<>(values);
        return copy.subList(copy.size() / 2, copy.size()).stream().mapToInt(Integer::intValue).average().orElse(0);
    }

    @Test
    void classifiesOutcomesIntoLimiterSignals() {
        assertThat(HostPoliteness.classify(status(200), null)).isEqualTo(HostPoliteness.Signal.SUCCESS);
        assertThat(HostPoliteness.classify(status(404), null)).isEqualTo(HostPoliteness.Signal.SUCCESS);
        assertThat(HostPoliteness.classify(status(429), null)).isEqualTo(HostPoliteness.Signal.OVERLOAD);
        assertThat(HostPoliteness.classify(status(503), null)).isEqualTo(HostPoliteness.Signal.OVERLOAD);
        assertThat(HostPoliteness.classify(status(500), null))
                .as("one URL's 5xx: the host's only in a streak").isEqualTo(HostPoliteness.Signal.SUSPECT);
        assertThat(HostPoliteness.classify(FetchOutcome.failure(new ConnectException("refused")), null))
                .isEqualTo(HostPoliteness.Signal.DROP);
        assertThat(HostPoliteness.classify(FetchOutcome.failure(new IOException("reset")), null))
                .isEqualTo(HostPoliteness.Signal.DROP);
        assertThat(HostPoliteness.classify(FetchOutcome.failure(new Exception()), "timeout: no response headers"))
                .as("a connection made, no head in time: the URL's unless the host's others fail alike")
                .isEqualTo(HostPoliteness.Signal.SUSPECT);
        assertThat(HostPoliteness.classify(FetchOutcome.failure(new Exception()), "shutdown"))
                .isEqualTo(HostPoliteness.Signal.NONE);
        assertThat(HostPoliteness.classify(
                        FetchOutcome.failure(ExchangeFailure.of(new IllegalStateException("Connection already assigned"))),
                        null))
                .as("the client's own failure of one exchange: the request's (retried), not the host's")
                .isEqualTo(HostPoliteness.Signal.NONE);
        assertThat(Blame.of(
                        FetchOutcome.failure(ExchangeFailure.of(new IllegalStateException("Connection already assigned"))),
                        null, false))
                .isEqualTo(Blame.URL);
        assertThat(HostPoliteness.classify(
                        FetchOutcome.failure(new io.flowget.udf.http.BlockedAddressException("blocked")), null))
                .isEqualTo(HostPoliteness.Signal.NONE);
    }

    // ------------------------------------------------------------------------------------------------

    private static FetchOutcome status(int s) {
        FetchOutcome o = new FetchOutcome();
        o.status = s;
        return o;
    }

    private static int lastIndex(List<FetchResult> results, String idPrefix) {
        int last = -1;
        for (int i = 0; i < results.size(); i++) {
            if (results.get(i).id.startsWith(idPrefix)) {
                last = i;
            }
        }
        return last;
    }

    /**
     * Reads a host's {@link HostState} straight from the operator's keyed state backend, after writing what the
     * operator holds behind (as its next snapshot would).
     */
    static HostState hostState(FetchHarness h, String host) throws Exception {
        h.getOperator().forTests().flushHostState();
        return h.keyedValue(host, HostPoliteness.stateDescriptor(FlowgetOptions.HOST_STATE_TTL.defaultValue()));
    }

    private TestOrigin origin(String address) throws Exception {
        return fetch.track(TestOrigin.start(address));
    }

    private Configuration config(int maxInFlight, int hostLimit) {
        return FetchHarness.config(tmp, maxInFlight, hostLimit);
    }

    /** A harness whose processing time follows the wall clock while it drains: politeness sees time pass. */
    private FetchHarness harness(Configuration conf, OperatorSubtaskState restore) throws Exception {
        return fetch.harness(conf, restore, FetchHarness.Clock.WALL);
    }

    /** For the harness benchmarks, which build their own harness: the WALL clock policy of {@link FetchHarness}. */
    static void drainRealTime(
            KeyedOneInputStreamOperatorTestHarness<String, FetchRequest, FetchResult> h, BooleanSupplier done)
            throws Exception {
        FetchHarness.drain(h, FetchHarness.Clock.WALL, done, FetchHarness.WAIT, true);
    }
}
