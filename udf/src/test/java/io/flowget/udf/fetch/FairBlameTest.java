package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.RawOrigin;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MemorySize;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Blame and bounded time against one host that serves healthy files beside hostile URLs (issue 13): a body that
 * stalls after its head, one that trickles, one reset mid-body, a permanent 500 and a 503 with Retry-After. The
 * healthy files come from a Jetty origin and the hostile URLs from a raw-socket origin on the same loopback address,
 * so flowget sees one host (its politeness key is the host without port). Processing time follows the wall clock
 * ({@link FetchHarness.Clock#WALL}); the pace of the healthy files is compared as a same-run ratio.
 */
class FairBlameTest {
    static final int KIB = 1024;
    /** The healthy files' server time: long enough that a 1 s Retry-After pause is a small part of the run. */
    static final long HEALTHY_MILLIS = 500;

    @TempDir Path tmp;

    @RegisterExtension final FetchHarnessExtension fetch = new FetchHarnessExtension();

    /** Short timeouts for the default suite: 2 s per stalled attempt, 3 s of no progress per request. */
    private Configuration shortConfig(Path dir) {
        Configuration c = FetchHarness.config(dir, 64, 8);
        c.set(FlowgetOptions.HTTP_IDLE_TIMEOUT, Duration.ofSeconds(2));
        c.set(FlowgetOptions.HTTP_RESPONSE_TIMEOUT, Duration.ofSeconds(2));
        c.set(FlowgetOptions.FETCH_LOW_SPEED_TIME, Duration.ofSeconds(2));
        c.set(FlowgetOptions.FETCH_LOW_SPEED_LIMIT, MemorySize.parse("1kb"));
        c.set(FlowgetOptions.FETCH_NO_PROGRESS_BUDGET, Duration.ofSeconds(3));
        c.set(FlowgetOptions.RETRY_INITIAL_BACKOFF, Duration.ofMillis(100));
        c.set(FlowgetOptions.RETRY_MAX_BACKOFF, Duration.ofMillis(400));
        return c;
    }

    @Test
    void healthyFilesKeepTheirPaceBesideHostileUrlsOnTheSameHostAndEveryBadUrlEndsInTime() throws Exception {
        Mixed m = mixed("127.0.0.20", 200, 10, 10, 10, 5, 2);
        Configuration conf = shortConfig(tmp.resolve("mixed"));
        Configuration aloneConf = shortConfig(tmp.resolve("alone"));

        long aloneMillis = m.runHealthyAlone(fetch.harness(aloneConf, FetchHarness.Clock.WALL));
        Mixed.Run run = m.runMixed(fetch.harness(conf, FetchHarness.Clock.WALL));
        double ratio = (double) run.healthyMillis() / aloneMillis;
        System.out.printf(
                "mixed host: 200 healthy files in %d ms alone, %d ms beside 37 hostile URLs (ratio %.2f); %s%n",
                aloneMillis, run.healthyMillis(), ratio, run.badSummary());

        m.assertOutcomes(run.results());
        assertThat(ratio).as("healthy files beside the hostile URLs, against alone").isLessThanOrEqualTo(1.5);
        // Every bad URL is bounded by its budget: at most two stalled attempts of 2 s (3 s budget), backoffs of at
        // most 0.4 s, and a Retry-After of 1 s; 10 s is three times that.
        for (FetchResult r : run.results()) {
            if (!r.id.startsWith("h")) {
                assertThat(r.elapsedMs).as("%s ended in time: %s", r.id, r.error).isLessThan(10_000);
            }
        }
    }

    @Test
    void aUrlWhoseFirstAttemptStallsAndWhoseRetryIsFastEndsOk() throws Exception {
        RawOrigin origin = fetch.track(new RawOrigin("127.0.0.21"));
        byte[] body = TestOrigin.content("late", 10 * KIB);
        origin.route("/late", (ex, n) -> {
            if (n == 1) {
                stall(origin, ex, body.length);
            } else {
                ex.head(200, "Content-Length: " + body.length, "Connection: close").write(body, 0, body.length);
            }
        });
        origin.route("/trickle-once", (ex, n) -> {
            if (n == 1) {
                trickle(origin, ex, body.length);
            } else {
                ex.head(200, "Content-Length: " + body.length, "Connection: close").write(body, 0, body.length);
            }
        });
        FetchHarness h = fetch.harness(shortConfig(tmp), FetchHarness.Clock.STEPPED);
        h.submit(raw("late", origin, "/late"), raw("trickle-once", origin, "/trickle-once"));
        Map<String, FetchResult> results = byId(h.results(2));

        assertThat(results.values()).allSatisfy(r -> {
            assertThat(r.status).isEqualTo(ResultStatus.OK);
            assertThat(r.attempts).isEqualTo(2);
            assertThat(r.bytes).isEqualTo((long) body.length);
        });
    }

    @Test
    void aStallATrickleAndSilenceEachFailWithATimeoutWithinTheirBudget() throws Exception {
        RawOrigin origin = fetch.track(new RawOrigin("127.0.0.22"));
        origin.route("/stall", (ex, n) -> stall(origin, ex, 100 * KIB));
        origin.route("/trickle", (ex, n) -> trickle(origin, ex, 100 * KIB));
        origin.route("/silent", (ex, n) -> hold(origin));
        FetchHarness h = fetch.harness(shortConfig(tmp), FetchHarness.Clock.STEPPED);
        h.submit(raw("stall", origin, "/stall"), raw("trickle", origin, "/trickle"), raw("silent", origin, "/silent"));
        Map<String, FetchResult> results = byId(h.results(3));

        assertThat(results.get("stall").error).matches("timeout: no progress for \\d+s over 2 attempts \\(last: (no data for 2s|below 1024 bytes/s for 2s)\\)");
        assertThat(results.get("trickle").error)
                .matches("timeout: no progress for \\d+s over 2 attempts \\(last: below 1024 bytes/s for 2s\\)");
        assertThat(results.get("silent").error)
                .matches("timeout: no progress for \\d+s over 2 attempts \\(last: (no data for 2s|no response headers within 2s)\\)");
        assertThat(results.values()).allSatisfy(r -> assertThat(r.status).isEqualTo(ResultStatus.FAILED));
    }

    /**
     * Silent URLs (no response head; a body that stalls after its head would stop holding the slot, see
     * {@link #bodiesThatStallAfterTheirHeadDoNotHoldTheHostsSlotsFromTheFilesBehindThem}) on a host of one slot.
     */
    @Test
    void theBudgetRunsOnWhileAStalledUrlWaitsForItsHostsSlot() throws Exception {
        RawOrigin origin = fetch.track(new RawOrigin("127.0.0.24"));
        List<FetchRequest> requests = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            origin.route("/s" + i, (ex, n) -> hold(origin));
            requests.add(raw("s" + i, origin, "/s" + i));
        }
        Configuration conf = shortConfig(tmp);
        conf.set(FlowgetOptions.HOST_MAX_CONCURRENCY, 1); // one slot: each retry waits for the others' 2 s silences
        FetchHarness h = fetch.harness(conf, FetchHarness.Clock.WALL);
        h.setProcessingTime(System.currentTimeMillis()); // the budget's timers are at wall-clock times
        h.submit(requests.toArray(FetchRequest[]::new));
        List<FetchResult> results = h.results(4);

        assertThat(results).allSatisfy(r -> {
            assertThat(r.status).isEqualTo(ResultStatus.FAILED);
            assertThat(r.error).startsWith("timeout: no progress for ");
        });
        // Counting attempt time only, every URL would need two 2 s stalls; the first ones stall once and then spend
        // their budget waiting for the slot.
        assertThat(results).anySatisfy(r -> assertThat(r.error).startsWith("timeout: no progress for 3s over 1 attempt"));
    }

    /**
     * A body that stalls after its head is its URL's trouble (README "Who is blamed"), so it must not hold its host's
     * slot even when the host has served nobody else since: here two stalls take both slots of a host before its
     * healthy files. (The hostile 119-URL run: once a host's healthy files were done, its remaining bad URLs held
     * its slots one after the other, 30 s each, and the run took 280 s instead of about 80.) The budget ends the
     * stalls after 3 s; the idle and low-speed timeouts are longer, so only detaching lets the healthy files pass.
     */
    @Test
    void bodiesThatStallAfterTheirHeadDoNotHoldTheHostsSlotsFromTheFilesBehindThem() throws Exception {
        RawOrigin origin = fetch.track(new RawOrigin("127.0.0.25"));
        byte[] body = TestOrigin.content("healthy", 4 * KIB);
        List<FetchRequest> requests = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            origin.route("/s" + i, (ex, n) -> stall(origin, ex, 100 * KIB));
            requests.add(raw("s" + i, origin, "/s" + i));
        }
        for (int i = 0; i < 5; i++) {
            origin.route("/h" + i, (ex, n) ->
                    ex.head(200, "Content-Length: " + body.length, "Connection: close").write(body, 0, body.length));
            requests.add(raw("h" + i, origin, "/h" + i));
        }
        Configuration conf = shortConfig(tmp);
        conf.set(FlowgetOptions.HOST_MAX_CONCURRENCY, 2);
        conf.set(FlowgetOptions.HTTP_IDLE_TIMEOUT, Duration.ofSeconds(20));
        conf.set(FlowgetOptions.FETCH_LOW_SPEED_TIME, Duration.ofSeconds(20));
        FetchHarness h = fetch.harness(conf, FetchHarness.Clock.WALL);
        h.setProcessingTime(System.currentTimeMillis()); // the budget's timers are at wall-clock times
        h.submit(requests.toArray(FetchRequest[]::new));
        List<FetchResult> results = h.results(7);

        assertThat(results).extracting(r -> r.id.substring(0, 1))
                .as("healthy files end while the stalls still stall, not after them")
                .containsExactly("h", "h", "h", "h", "h", "s", "s");
        assertThat(results.subList(5, 7)).allSatisfy(r -> assertThat(r.error).startsWith("timeout: no progress"));
    }

    /**
     * The bound with the default settings: a URL that stalls, trickles or never answers ends FAILED with a
     * {@code timeout: ...} reason within 2 minutes of its first request, while healthy files of its host go on.
     */
    @Test
    @Tag("slow")
    void withDefaultSettingsAStallATrickleAndSilenceFailWithinTwoMinutes() throws Exception {
        RawOrigin origin = fetch.track(new RawOrigin("127.0.0.23"));
        TestOrigin healthy = fetch.track(TestOrigin.start("127.0.0.23"));
        byte[] file = TestOrigin.content("ok", 100 * KIB);
        for (int i = 0; i < 3; i++) {
            origin.route("/stall" + i, (ex, n) -> stall(origin, ex, 100 * KIB));
            origin.route("/trickle" + i, (ex, n) -> trickle(origin, ex, 100 * KIB));
            origin.route("/silent" + i, (ex, n) -> hold(origin));
        }
        for (int i = 0; i < 100; i++) {
            healthy.route("/h" + i, (req, resp, cb, n) -> {
                Thread.sleep(HEALTHY_MILLIS);
                TestOrigin.send(resp, cb, 200, file);
            });
        }
        Configuration conf = FetchHarness.config(tmp, 64, 8);
        FetchHarness h = fetch.harness(conf, FetchHarness.Clock.WALL);
        List<FetchRequest> requests = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            requests.add(FetchOperatorTest.request("h" + i, healthy, "/h" + i));
            if (i % 10 == 0 && i < 30) {
                int k = i / 10;
                requests.add(raw("stall" + k, origin, "/stall" + k));
                requests.add(raw("trickle" + k, origin, "/trickle" + k));
                requests.add(raw("silent" + k, origin, "/silent" + k));
            }
        }
        h.submit(requests.toArray(FetchRequest[]::new));
        // Longer than the harness's usual bound: with the defaults a bad URL may take up to 2 minutes.
        FetchHarness.drain(h.harness, h.clock, () -> h.extractOutputValues().size() >= 109, Duration.ofMinutes(3), true);
        List<FetchResult> results = h.results(109);
        for (FetchResult r : results) {
            if (r.id.startsWith("h")) {
                assertThat(r.status).as(r.id).isEqualTo(ResultStatus.OK);
            } else {
                assertThat(r.status).as(r.id).isEqualTo(ResultStatus.FAILED);
                assertThat(r.error).as(r.id).startsWith("timeout: ");
                assertThat(r.elapsedMs).as("%s: %s", r.id, r.error).isLessThan(120_000);
            }
        }
        System.out.println("defaults, time to FAILED: " + results.stream()
                .filter(r -> !r.id.startsWith("h"))
                .map(r -> r.id + "=" + r.elapsedMs + "ms (" + r.attempts + " attempts, " + r.error + ")")
                .collect(Collectors.joining("; ")));
    }

    // ---- the mixed host ----

    /** One host with healthy files (Jetty) and hostile URLs (raw sockets) on the same address. */
    static final class Mixed {
        final TestOrigin healthy;
        final RawOrigin bad;
        final int healthyCount;
        final List<FetchRequest> badRequests = new ArrayList<>();
        final byte[] file = TestOrigin.content("healthy", 100 * KIB);

        record Run(long healthyMillis, List<FetchResult> results) {
            String badSummary() {
                return results.stream()
                        .filter(r -> !r.id.startsWith("h"))
                        .collect(Collectors.groupingBy(
                                r -> r.id.replaceAll("\\d+$", ""),
                                Collectors.summarizingLong(r -> r.elapsedMs)))
                        .entrySet().stream()
                        .map(e -> e.getKey() + " ends after " + e.getValue().getMin() + "-" + e.getValue().getMax() + " ms")
                        .sorted()
                        .collect(Collectors.joining(", "));
            }
        }

        Mixed(TestOrigin healthy, RawOrigin bad, int healthyCount) {
            this.healthy = healthy;
            this.bad = bad;
            this.healthyCount = healthyCount;
        }

        FetchRequest healthyRequest(int i) {
            return FetchOperatorTest.request("h" + i, healthy, "/h" + i);
        }

        long runHealthyAlone(FetchHarness h) throws Exception {
            long t0 = System.nanoTime();
            for (int i = 0; i < healthyCount; i++) {
                h.submit(healthyRequest(i));
            }
            List<FetchResult> results = h.results(healthyCount);
            long millis = (System.nanoTime() - t0) / 1_000_000;
            assertThat(results).allSatisfy(r -> assertThat(r.status).isEqualTo(ResultStatus.OK));
            h.close();
            return millis;
        }

        /** Submits the healthy files with the hostile URLs spread evenly among them; times the healthy ones. */
        Run runMixed(FetchHarness h) throws Exception {
            int total = healthyCount + badRequests.size();
            long t0 = System.nanoTime();
            int b = 0;
            for (int i = 0; i < healthyCount; i++) {
                h.submit(healthyRequest(i));
                while (b < badRequests.size() && (long) b * healthyCount <= (long) i * badRequests.size()) {
                    h.submit(badRequests.get(b++));
                }
            }
            while (b < badRequests.size()) {
                h.submit(badRequests.get(b++));
            }
            h.drainUntil(() -> h.extractOutputValues().stream().filter(r -> r.id.startsWith("h")).count()
                    >= healthyCount);
            long healthyMillis = (System.nanoTime() - t0) / 1_000_000;
            List<FetchResult> results = h.results(total);
            return new Run(healthyMillis, results);
        }

        void assertOutcomes(List<FetchResult> results) {
            for (FetchResult r : results) {
                String kind = r.id.replaceAll("\\d+$", "");
                switch (kind) {
                    case "h", "unavailable" -> assertThat(r.status).as("%s: %s", r.id, r.error)
                            .isEqualTo(ResultStatus.OK);
                    case "stall" -> assertThat(r.error).as(r.id).startsWith("timeout: no progress");
                    case "trickle" -> assertThat(r.error).as(r.id).startsWith("timeout: no progress");
                    case "reset" -> assertThat(r.error).as(r.id).contains("(after 5 attempts)");
                    case "e" -> assertThat(r.error).as(r.id).isEqualTo("http 500 (after 5 attempts)");
                    default -> throw new AssertionError("unexpected result " + r.id);
                }
            }
        }
    }

    /** A host at {@code address} with healthy files and the given numbers of hostile URLs of each kind. */
    Mixed mixed(String address, int healthyCount, int stalls, int trickles, int resets, int errors, int unavailable)
            throws Exception {
        TestOrigin healthy = fetch.track(TestOrigin.start(address));
        RawOrigin bad = fetch.track(new RawOrigin(address));
        Mixed m = new Mixed(healthy, bad, healthyCount);
        for (int i = 0; i < healthyCount; i++) {
            healthy.route("/h" + i, (req, resp, cb, n) -> {
                Thread.sleep(HEALTHY_MILLIS); // a server that takes its time: the host's slots are what counts
                TestOrigin.send(resp, cb, 200, m.file);
            });
        }
        byte[] small = TestOrigin.content("small", KIB);
        List<FetchRequest> kinds = new ArrayList<>();
        for (int i = 0; i < Math.max(Math.max(stalls, trickles), Math.max(resets, Math.max(errors, unavailable))); i++) {
            if (i < stalls) {
                bad.route("/stall" + i, (ex, n) -> stall(bad, ex, 100 * KIB));
                kinds.add(raw("stall" + i, bad, "/stall" + i));
            }
            if (i < trickles) {
                bad.route("/trickle" + i, (ex, n) -> trickle(bad, ex, 100 * KIB));
                kinds.add(raw("trickle" + i, bad, "/trickle" + i));
            }
            if (i < resets) {
                bad.route("/reset" + i, (ex, n) -> {
                    ex.head(200, "Content-Length: " + 100 * KIB, "Connection: close").write(small, 0, small.length);
                    ex.reset();
                });
                kinds.add(raw("reset" + i, bad, "/reset" + i));
            }
            if (i < errors) {
                bad.route("/e" + i, (ex, n) -> ex.head(500, "Content-Length: 0", "Connection: close"));
                kinds.add(raw("e" + i, bad, "/e" + i));
            }
            if (i < unavailable) {
                bad.route("/unavailable" + i, (ex, n) -> {
                    if (n == 1) {
                        ex.head(503, "Retry-After: 1", "Content-Length: 0", "Connection: close");
                    } else {
                        // Served like the healthy files: a host whose URLs differ in time to first byte looks
                        // like rising latency to the limiter (its baseline is the host's fastest answer).
                        sleep(HEALTHY_MILLIS);
                        ex.head(200, "Content-Length: " + small.length, "Connection: close")
                                .write(small, 0, small.length);
                    }
                });
                kinds.add(raw("unavailable" + i, bad, "/unavailable" + i));
            }
        }
        m.badRequests.addAll(kinds);
        return m;
    }

    // ---- hostile handlers (each returns when the client gives up or the origin closes) ----

    /** A response head and the first KiB, then silence. */
    static void stall(RawOrigin origin, RawOrigin.Exchange ex, int length) throws IOException {
        byte[] first = new byte[KIB];
        ex.head(200, "Content-Length: " + length, "Connection: close").write(first, 0, first.length);
        hold(origin);
    }

    /** A response head, then one byte every 100 ms (10 bytes/s) until the client goes away (at most 60 s). */
    static void trickle(RawOrigin origin, RawOrigin.Exchange ex, int length) throws IOException {
        ex.head(200, "Content-Length: " + length, "Connection: close");
        byte[] one = {42};
        for (int i = 0; i < 600 && i < length && !origin.isClosed(); i++) {
            ex.write(one, 0, 1); // fails once the client has reset the connection
            sleep(100);
        }
    }

    /** Holds the connection without a byte until the origin closes (at most 60 s). */
    static void hold(RawOrigin origin) {
        for (int i = 0; i < 600 && !origin.isClosed(); i++) {
            sleep(100);
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static FetchRequest raw(String id, RawOrigin origin, String path) {
        return new FetchRequest(id, origin.url(path), origin.host(), origin.host() + "_" + origin.port() + path);
    }

    private static Map<String, FetchResult> byId(List<FetchResult> results) {
        return results.stream().collect(Collectors.toMap(r -> r.id, Function.identity()));
    }
}
