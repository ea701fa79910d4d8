package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.RangeRoute;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link FetchOperator} in Flink's keyed operator test harness with RocksDB state, against a real Jetty origin.
 * Harnesses come from {@link FetchHarnessExtension}, which checks that each test leaves the operator at zero state;
 * their clock is {@link FetchHarness.Clock#MANUAL}: processing time moves only when a test sets it.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class FetchOperatorTest {
    static final Duration WAIT = Duration.ofSeconds(60);

    @TempDir Path tmp;

    @RegisterExtension final FetchHarnessExtension fetch = new FetchHarnessExtension();

    @Test
    void downloadsFilesByteExactAndClearsState() throws Exception {
        TestOrigin origin = origin("127.0.0.1");
        byte[] a = TestOrigin.content("a", 100_000);
        byte[] b = TestOrigin.content("b", 0);
        origin.file("/a.bin", a).file("/dir/b.bin", b);
        var h = harness(config(8, 4));

        h.processElement(request("1", origin, "/a.bin"), 0);
        h.processElement(request("2", origin, "/dir/b.bin"), 0);
        List<FetchResult> results = h.results(2);

        assertThat(results).allSatisfy(r -> assertThat(r.status).isEqualTo(ResultStatus.OK));
        assertThat(Files.readAllBytes(out().resolve(path(origin, "/a.bin")))).isEqualTo(a);
        assertThat(Files.readAllBytes(out().resolve(path(origin, "/dir/b.bin")))).isEqualTo(b);
        FetchResult ra = byId(results, "1");
        assertThat(ra.bytes).isEqualTo(100_000);
        assertThat(ra.httpStatus).isEqualTo(200);
        assertThat(ra.attempts).isEqualTo(1);
        assertThat(ra.sha256).isEqualTo(sha256(a));
        assertThat(h.hostsWithState()).as("state of finished downloads is cleared").isZero();
        assertThat(h.stagingFiles()).isEmpty();
        h.close();
    }

    @Test
    void hostsTakeTurnsForTheGlobalPermits() throws Exception {
        TestOrigin hostA = origin("127.0.0.1");
        TestOrigin hostB = origin("127.0.0.2");
        List<String> arrivals = Collections.synchronizedList(new ArrayList<>());
        TestOrigin.Route logging =
                (req, resp, cb, n) -> {
                    arrivals.add(req.getHttpURI().getHost() + req.getHttpURI().getPath());
                    TestOrigin.send(resp, cb, 200, new byte[10]);
                };
        for (int i = 0; i < 20; i++) {
            hostA.route("/a" + i, logging);
        }
        for (int i = 0; i < 5; i++) {
            hostB.route("/b" + i, logging);
        }
        // One global permit: requests go out one at a time, so the arrival order is the scheduling order.
        var h = harness(config(1, 4));
        for (int i = 0; i < 20; i++) {
            h.processElement(request("a" + i, hostA, "/a" + i), 0);
        }
        for (int i = 0; i < 5; i++) {
            h.processElement(request("b" + i, hostB, "/b" + i), 0);
        }
        h.results(25);

        // a0 was issued before any other request existed; then host A's backlog must not starve host B.
        List<String> hostsInOrder =
                arrivals.stream().map(s -> s.startsWith("127.0.0.1") ? "A" : "B").collect(Collectors.toList());
        int lastB = hostsInOrder.lastIndexOf("B");
        assertThat(lastB).as("all of B is served within the first 11 requests: %s", hostsInOrder).isLessThan(11);
        for (int i = 1; i < lastB; i++) {
            assertThat(hostsInOrder.get(i)).as("no host is served twice in a row while both wait: %s", hostsInOrder)
                    .isNotEqualTo(hostsInOrder.get(i + 1));
        }
        h.close();
    }

    @Test
    void perHostLimitIsNeverExceeded() throws Exception {
        TestOrigin origin = origin("127.0.0.1");
        TestOrigin.Route slow =
                (req, resp, cb, n) -> {
                    Thread.sleep(30);
                    TestOrigin.send(resp, cb, 200, new byte[1000]);
                };
        for (int i = 0; i < 30; i++) {
            origin.route("/s" + i, slow);
        }
        var h = harness(config(64, 3));
        for (int i = 0; i < 30; i++) {
            h.processElement(request("s" + i, origin, "/s" + i), 0);
        }
        List<FetchResult> results = h.results(30);

        assertThat(results).allSatisfy(r -> assertThat(r.status).isEqualTo(ResultStatus.OK));
        assertThat(origin.maxConcurrent()).isLessThanOrEqualTo(3).isGreaterThanOrEqualTo(2);
        h.close();
    }

    @Test
    void retriesA503WithBackoffOnTimersThenSucceeds() throws Exception {
        TestOrigin origin = origin("127.0.0.1");
        byte[] body = TestOrigin.content("flaky", 5000);
        origin.route(
                "/flaky",
                (req, resp, cb, n) -> {
                    if (n <= 2) {
                        TestOrigin.send(resp, cb, 503, "busy".getBytes());
                    } else {
                        TestOrigin.send(resp, cb, 200, body);
                    }
                });
        Configuration conf = config(8, 2);
        conf.set(FlowgetOptions.RETRY_INITIAL_BACKOFF, Duration.ofSeconds(10));
        var h = harness(conf);
        h.setProcessingTime(1_000);
        h.processElement(request("f", origin, "/flaky"), 0);

        h.drainUntil(() -> h.numProcessingTimeTimers() == 1);
        assertThat(origin.hits("/flaky")).isEqualTo(1);
        // Backoff for the first retry is 5..10 s (10 s with jitter in [50 %, 100 %]): nothing before 5 s.
        h.setProcessingTime(1_000 + 4_999);
        h.drainFor(Duration.ofMillis(300));
        assertThat(origin.hits("/flaky")).as("no retry before the backoff").isEqualTo(1);
        h.setProcessingTime(1_000 + 10_000);
        h.drainUntil(() -> origin.hits("/flaky") == 2 && h.numProcessingTimeTimers() == 1);
        h.setProcessingTime(1_000 + 10_000 + 20_000);
        List<FetchResult> results = h.results(1);

        FetchResult r = results.get(0);
        assertThat(r.status).isEqualTo(ResultStatus.OK);
        assertThat(r.attempts).isEqualTo(3);
        assertThat(r.httpStatus).isEqualTo(200);
        assertThat(Files.readAllBytes(out().resolve(path(origin, "/flaky")))).isEqualTo(body);
        assertThat(h.numProcessingTimeTimers()).isZero();
        assertThat(h.hostsWithState()).isZero();
        h.close();
    }

    @Test
    void honoursRetryAfterSeconds() throws Exception {
        TestOrigin origin = origin("127.0.0.1");
        origin.route(
                "/ra",
                (req, resp, cb, n) -> {
                    if (n == 1) {
                        resp.getHeaders().put("Retry-After", "120");
                        TestOrigin.send(resp, cb, 429, new byte[0]);
                    } else {
                        TestOrigin.send(resp, cb, 200, new byte[3]);
                    }
                });
        var h = harness(config(8, 2));
        h.setProcessingTime(0);
        h.processElement(request("r", origin, "/ra"), 0);
        h.drainUntil(() -> h.numProcessingTimeTimers() == 1);
        h.setProcessingTime(119_000);
        h.drainFor(Duration.ofMillis(300));
        assertThat(origin.hits("/ra")).isEqualTo(1);
        h.setProcessingTime(120_000);
        assertThat(h.results(1).get(0).status).isEqualTo(ResultStatus.OK);
        h.close();
    }

    @Test
    void doesNotRetryA404() throws Exception {
        TestOrigin origin = origin("127.0.0.1");
        var h = harness(config(8, 2));
        h.processElement(request("missing", origin, "/missing"), 0);
        FetchResult r = h.results(1).get(0);

        assertThat(r.status).isEqualTo(ResultStatus.FAILED);
        assertThat(r.error).isEqualTo("http 404");
        assertThat(r.httpStatus).isEqualTo(404);
        assertThat(r.attempts).isEqualTo(1);
        assertThat(origin.hits("/missing")).isEqualTo(1);
        assertThat(h.numProcessingTimeTimers()).isZero();
        assertThat(Files.exists(out().resolve(path(origin, "/missing")))).isFalse();
        h.close();
    }

    @Test
    void failsAfterMaxAttemptsWithTheLastError() throws Exception {
        TestOrigin origin = origin("127.0.0.1");
        origin.route("/down", (req, resp, cb, n) -> TestOrigin.send(resp, cb, 500, new byte[0]));
        Configuration conf = config(8, 2);
        conf.set(FlowgetOptions.RETRY_MAX_ATTEMPTS, 3);
        var h = harness(conf);
        h.processElement(request("d", origin, "/down"), 0);
        for (int i = 1; i <= 2; i++) {
            int attempt = i;
            h.drainUntil(() -> origin.hits("/down") == attempt && h.numProcessingTimeTimers() == 1);
            h.setProcessingTime(h.getProcessingTime() + 60_000);
        }
        FetchResult r = h.results(1).get(0);
        assertThat(r.status).isEqualTo(ResultStatus.FAILED);
        assertThat(r.error).isEqualTo("http 500 (after 3 attempts)");
        assertThat(r.attempts).isEqualTo(3);
        h.close();
    }

    @Test
    void connectErrorsAreRetriedAndReported() throws Exception {
        TestOrigin origin = origin("127.0.0.1");
        String url = origin.url("/x");
        fetch.close(origin);
        Configuration conf = config(8, 2);
        conf.set(FlowgetOptions.RETRY_MAX_ATTEMPTS, 2);
        var h = harness(conf);
        h.processElement(new FetchRequest("c", url, "127.0.0.1", "127.0.0.1/x"), 0);
        h.drainUntil(() -> h.numProcessingTimeTimers() == 1);
        h.setProcessingTime(h.getProcessingTime() + 60_000);
        FetchResult r = h.results(1).get(0);
        assertThat(r.status).isEqualTo(ResultStatus.FAILED);
        assertThat(r.error).startsWith("connect error: ").endsWith("(after 2 attempts)");
        assertThat(r.httpStatus).isNull();
        h.close();
    }

    @Test
    void followsRedirectsAndStopsLoops() throws Exception {
        TestOrigin origin = origin("127.0.0.1");
        byte[] body = TestOrigin.content("target", 1234);
        origin.route("/r1", (req, resp, cb, n) -> TestOrigin.redirect(resp, cb, 301, "/r2"));
        origin.route("/r2", (req, resp, cb, n) -> TestOrigin.redirect(resp, cb, 302, origin.url("/r3")));
        origin.route("/r3", (req, resp, cb, n) -> TestOrigin.redirect(resp, cb, 307, "target.bin"));
        origin.file("/target.bin", body);
        origin.route("/loop1", (req, resp, cb, n) -> TestOrigin.redirect(resp, cb, 302, "/loop2"));
        origin.route("/loop2", (req, resp, cb, n) -> TestOrigin.redirect(resp, cb, 302, "/loop1"));
        origin.route("/ftp", (req, resp, cb, n) -> TestOrigin.redirect(resp, cb, 302, "ftp://example.org/x"));
        var h = harness(config(8, 2));
        h.processElement(request("chain", origin, "/r1"), 0);
        h.processElement(request("loop", origin, "/loop1"), 0);
        h.processElement(request("ftp", origin, "/ftp"), 0);
        List<FetchResult> results = h.results(3);

        FetchResult chain = byId(results, "chain");
        assertThat(chain.status).isEqualTo(ResultStatus.OK);
        assertThat(chain.attempts).isEqualTo(1);
        assertThat(Files.readAllBytes(out().resolve(path(origin, "/r1")))).isEqualTo(body);
        FetchResult loop = byId(results, "loop");
        assertThat(loop.status).isEqualTo(ResultStatus.FAILED);
        assertThat(loop.error).startsWith("redirect loop");
        assertThat(byId(results, "ftp").error).isEqualTo("redirect to unsupported URL scheme 'ftp'");
        h.close();
    }

    @Test
    void checksumMismatchFailsAndLeavesNoFile() throws Exception {
        TestOrigin origin = origin("127.0.0.1");
        byte[] body = TestOrigin.content("sum", 4096);
        origin.file("/sum.bin", body).file("/good.bin", body);
        var h = harness(config(8, 2));
        FetchRequest bad = request("bad", origin, "/sum.bin");
        bad.sha256 = "0".repeat(64);
        FetchRequest good = request("good", origin, "/good.bin");
        good.sha256 = sha256(body);
        h.processElement(bad, 0);
        h.processElement(good, 0);
        List<FetchResult> results = h.results(2);

        assertThat(byId(results, "bad").error).isEqualTo("checksum mismatch (expected " + "0".repeat(64) + ", got " + sha256(body) + ")");
        assertThat(Files.exists(out().resolve(path(origin, "/sum.bin")))).isFalse();
        assertThat(byId(results, "good").status).isEqualTo(ResultStatus.OK);
        assertThat(h.stagingFiles()).isEmpty();
        h.close();
    }

    @Test
    void refusesBodiesOverMaxBytes() throws Exception {
        TestOrigin origin = origin("127.0.0.1");
        origin.file("/big.bin", new byte[10_000]);
        var h = harness(config(8, 2));
        FetchRequest req = request("big", origin, "/big.bin");
        req.maxBytes = 5000L;
        h.processElement(req, 0);
        FetchResult r = h.results(1).get(0);
        assertThat(r.status).isEqualTo(ResultStatus.FAILED);
        assertThat(r.error).isEqualTo("max_bytes exceeded (limit 5000 bytes)");
        assertThat(r.attempts).isEqualTo(1);
        h.close();
    }

    @Test
    void decodesGzipAndStopsAGzipBombAtMaxBytes() throws Exception {
        TestOrigin origin = origin("127.0.0.1");
        byte[] plain = "hello, flowget\n".repeat(10_000).getBytes();
        byte[] gz = gzip(plain, 1);
        byte[] bomb = gzip(new byte[64 << 20], 1); // 64 MiB of zeros in about 64 KiB
        origin.route("/text", (req, resp, cb, n) -> {
            resp.getHeaders().put("Content-Encoding", "gzip");
            TestOrigin.send(resp, cb, 200, gz);
        });
        origin.route("/bomb", (req, resp, cb, n) -> {
            resp.getHeaders().put("Content-Encoding", "gzip");
            TestOrigin.send(resp, cb, 200, bomb);
        });
        origin.route("/corrupt", (req, resp, cb, n) -> {
            byte[] bad = gz.clone();
            bad[bad.length / 2] ^= 0x55;
            resp.getHeaders().put("Content-Encoding", "gzip");
            TestOrigin.send(resp, cb, 200, bad);
        });
        var h = harness(config(8, 4));
        h.processElement(request("text", origin, "/text"), 0);
        FetchRequest b = request("bomb", origin, "/bomb");
        b.maxBytes = 1L << 20;
        h.processElement(b, 0);
        h.processElement(request("corrupt", origin, "/corrupt"), 0);
        List<FetchResult> results = h.results(3);

        FetchResult text = byId(results, "text");
        assertThat(text.status).isEqualTo(ResultStatus.OK);
        assertThat(text.contentEncoding).isEqualTo("gzip");
        assertThat(text.bytes).isEqualTo(plain.length);
        assertThat(text.sha256).isEqualTo(sha256(plain));
        assertThat(Files.readAllBytes(out().resolve(text.path))).isEqualTo(plain);
        FetchResult bombResult = byId(results, "bomb");
        assertThat(bombResult.status).isEqualTo(ResultStatus.FAILED);
        assertThat(bombResult.error).isEqualTo("max_bytes exceeded (limit 1048576 bytes)");
        assertThat(byId(results, "corrupt").error).isEqualTo("corrupt gzip stream");
        assertThat(Files.exists(out().resolve(bombResult.id))).isFalse();
        assertThat(h.stagingFiles()).isEmpty();
        h.close();
    }

    private static byte[] gzip(byte[] plain, int level) throws Exception {
        var bos = new java.io.ByteArrayOutputStream();
        try (var gz = new java.util.zip.GZIPOutputStream(bos) {
            {
                def.setLevel(level);
            }
        }) {
            gz.write(plain);
        }
        return bos.toByteArray();
    }

    @Test
    void distinctUrlsNeverOverwriteEachOthersFiles() throws Exception {
        TestOrigin origin = origin("127.0.0.1");
        origin.file("/one", "one".getBytes()).file("/two", "two".getBytes());
        var h = harness(config(1, 1));
        FetchRequest first = request("first", origin, "/one");
        FetchRequest second = request("second", origin, "/two");
        second.path = first.path;
        FetchRequest again = request("again", origin, "/one");
        h.processElement(first, 0);
        h.processElement(second, 0);
        h.processElement(again, 0);
        List<FetchResult> results = h.results(3);

        assertThat(byId(results, "first").status).isEqualTo(ResultStatus.OK);
        assertThat(byId(results, "second").error).startsWith("path conflict: " + first.path);
        assertThat(byId(results, "again").status)
                .as("same URL again replaces its own file (%s)", byId(results, "again").error)
                .isEqualTo(ResultStatus.OK);
        assertThat(Files.readString(out().resolve(first.path))).isEqualTo("one");
        h.close();
    }

    @Test
    void restoresRequestsInFlightAndCompletesEachExactlyOnce() throws Exception {
        TestOrigin origin = origin("127.0.0.1");
        CountDownLatch gate = new CountDownLatch(1);
        int n = 12;
        for (int i = 0; i < n; i++) {
            byte[] body = TestOrigin.content("f" + i, 2000 + i);
            int idx = i;
            origin.route(
                    "/f" + i,
                    (req, resp, cb, hit) -> {
                        if (idx >= 3) {
                            gate.await(WAIT.toMillis(), TimeUnit.MILLISECONDS); // held until after the snapshot
                        }
                        TestOrigin.send(resp, cb, 200, body);
                    });
        }
        var first = harness(config(4, 4));
        for (int i = 0; i < n; i++) {
            first.processElement(request("f" + i, origin, "/f" + i), 0);
        }
        // f0..f2 complete; f3..f5 hang in flight (4 permits), the rest wait in the queue.
        List<FetchResult> before = first.results(3);
        assertThat(first.getOperator()).isInstanceOf(FetchOperator.class);
        first.drainUntil(() -> ((FetchOperator) first.getOperator()).forTests().inFlightCount() == 4);
        OperatorSubtaskState snapshot = first.snapshot(1L, 1L);
        // Crash: the first instance goes away without finishing its work.
        first.crash("a crash after the snapshot: the restored instance finishes the work");
        gate.countDown();

        var second = harness(config(4, 4), snapshot);
        List<FetchResult> after = second.results(n - 3);

        List<String> ids = new ArrayList<>();
        before.forEach(r -> ids.add(r.id));
        after.forEach(r -> ids.add(r.id));
        assertThat(ids).hasSize(n).doesNotHaveDuplicates();
        assertThat(after).allSatisfy(r -> assertThat(r.status).isEqualTo(ResultStatus.OK));
        for (int i = 0; i < n; i++) {
            assertThat(Files.readAllBytes(out().resolve(path(origin, "/f" + i))))
                    .isEqualTo(TestOrigin.content("f" + i, 2000 + i));
        }
        assertThat(second.hostsWithState()).isZero();
        second.close();
    }

    // ---- large files: Range chunks ---------------------------------------------------------------

    private Configuration chunked(int hostLimit) {
        Configuration c = config(16, hostLimit);
        c.set(FlowgetOptions.CHUNK_SIZE, org.apache.flink.configuration.MemorySize.parse("256kb"));
        c.set(FlowgetOptions.CHUNK_MIN_SPLIT, org.apache.flink.configuration.MemorySize.parse("64kb"));
        return c;
    }

    @Test
    void fetchesALargeFileInParallelChunks() throws Exception {
        TestOrigin origin = origin("127.0.0.1");
        byte[] body = TestOrigin.content("large", 5 * 1024 * 1024 + 123);
        // A little latency per chunk, so that parallel chunks overlap at the origin even on a fast machine.
        RangeRoute route = RangeRoute.of(body, "\"v1\"").delayPerRange(Duration.ofMillis(20));
        origin.route("/large.bin", route);
        var h = harness(chunked(4));
        h.processElement(request("large", origin, "/large.bin"), 0);
        FetchResult r = h.results(1).get(0);

        assertThat(r.status).as("%s", r).isEqualTo(ResultStatus.OK);
        assertThat(r.bytes).isEqualTo(body.length);
        assertThat(r.sha256).isEqualTo(sha256(body));
        assertThat(Files.readAllBytes(out().resolve(r.path))).isEqualTo(body);
        assertThat(route.requests).first().isEqualTo("0-262143");
        assertThat(route.requests).doesNotContain("whole").hasSizeGreaterThanOrEqualTo(21);
        assertThat(origin.maxConcurrent()).as("chunks in parallel, within the host limit").isBetween(2, 4);
        assertThat(r.restarts).isNull();
        assertThat(h.hostsWithState()).isZero();
        assertThat(h.stagingFiles()).isEmpty();
        h.close();
    }

    @Test
    void smallFilesFinishInTheFirstAnswer() throws Exception {
        TestOrigin origin = origin("127.0.0.1");
        byte[] body = TestOrigin.content("small", 1000);
        RangeRoute route = RangeRoute.of(body, "\"s\"");
        origin.route("/small.bin", route);
        var h = harness(chunked(4));
        h.processElement(request("small", origin, "/small.bin"), 0);
        FetchResult r = h.results(1).get(0);
        assertThat(r.status).isEqualTo(ResultStatus.OK);
        assertThat(r.httpStatus).isEqualTo(206);
        assertThat(route.requests).containsExactly("0-262143");
        assertThat(Files.readAllBytes(out().resolve(r.path))).isEqualTo(body);
        h.close();
    }

    @Test
    void restoreFetchesOnlyTheChunksThatWereNotDone() throws Exception {
        TestOrigin origin = origin("127.0.0.1");
        byte[] body = TestOrigin.content("resume", 4 * 256 * 1024 * 2); // 8 chunks of 256 KiB
        RangeRoute route = RangeRoute.of(body, "\"r1\"").holdRangesWhere(start -> start >= 4 * 256 * 1024);
        origin.route("/resume.bin", route);
        var first = harness(chunked(2));
        first.processElement(request("resume", origin, "/resume.bin"), 0);
        // chunks 0..3 complete; 4 and 5 hang in flight (host limit 2), 6 and 7 wait
        first.drainUntil(() -> route.requests.size() >= 6 && ((FetchOperator) first.getOperator()).forTests().inFlightCount() == 2);
        first.drainFor(Duration.ofMillis(200));
        OperatorSubtaskState snapshot = first.snapshot(1L, 1L);
        first.crash("a crash after the snapshot: the restored instance finishes the work");
        route.release();
        List<String> beforeRestore = new ArrayList<>(route.requests);

        var second = harness(chunked(2), snapshot);
        FetchResult r = second.results(1).get(0);

        assertThat(r.status).as("%s", r).isEqualTo(ResultStatus.OK);
        assertThat(Files.readAllBytes(out().resolve(r.path))).isEqualTo(body);
        List<String> afterRestore = new ArrayList<>(route.requests.subList(beforeRestore.size(), route.requests.size()));
        // Chunks 0..3 were done at the snapshot: nothing below byte 1 MiB is asked for again. (The slow-tail
        // splitter may cut the last ranges further, so the exact list varies.)
        assertThat(afterRestore)
                .as("only the chunks that were in flight or waiting are fetched again")
                .isNotEmpty()
                .allSatisfy(range -> assertThat(Long.parseLong(range.substring(0, range.indexOf('-'))))
                        .isGreaterThanOrEqualTo(4 * 256 * 1024));
        // Chunks are asked for in windows (a quarter chunk each): the chunks that were not done are asked again.
        for (long chunk : new long[] {1048576, 1310720, 1572864}) {
            assertThat(afterRestore).anySatisfy(range -> assertThat(range).startsWith(chunk + "-"));
        }
        assertThat(second.hostsWithState()).isZero();
        second.close();
    }

    @Test
    void aChangedEtagRestartsAndKeepsOnlyTheNewVersion() throws Exception {
        TestOrigin origin = origin("127.0.0.1");
        byte[] v1 = TestOrigin.content("v1", 1024 * 1024);
        byte[] v2 = TestOrigin.content("v2", 1024 * 1024 + 7);
        RangeRoute route =
                new RangeRoute(n -> n <= 2
                        ? new RangeRoute.Version(v1, "\"one\"", null)
                        : new RangeRoute.Version(v2, "\"two\"", null));
        origin.route("/changing.bin", route);
        var h = harness(chunked(1));
        h.processElement(request("changing", origin, "/changing.bin"), 0);
        FetchResult r = h.results(1).get(0);

        assertThat(r.status).as("%s", r).isEqualTo(ResultStatus.OK);
        assertThat(r.restarts).isEqualTo(1);
        assertThat(r.sha256).isEqualTo(sha256(v2));
        assertThat(Files.readAllBytes(out().resolve(r.path))).isEqualTo(v2);
        assertThat(h.stagingFiles()).isEmpty();
        h.close();
    }

    @Test
    void failsWhenTheResourceKeepsChanging() throws Exception {
        TestOrigin origin = origin("127.0.0.1");
        RangeRoute route =
                new RangeRoute(n -> new RangeRoute.Version(TestOrigin.content("x" + (n + 1) / 2, 600_000), "\"e" + (n + 1) / 2 + "\"", null));
        origin.route("/flux.bin", route);
        var h = harness(chunked(1));
        h.processElement(request("flux", origin, "/flux.bin"), 0);
        FetchResult r = h.results(1).get(0);
        assertThat(r.status).isEqualTo(ResultStatus.FAILED);
        assertThat(r.error).isEqualTo("resource changed during download (4 times)");
        assertThat(Files.exists(out().resolve(path(origin, "/flux.bin")))).isFalse();
        assertThat(h.stagingFiles()).isEmpty();
        h.close();
    }

    @Test
    void a200ToAMidFileRangeFallsBackToOneStream() throws Exception {
        TestOrigin origin = origin("127.0.0.1");
        byte[] body = TestOrigin.content("fallback", 1024 * 1024 + 5);
        RangeRoute route = RangeRoute.of(body, "\"f\"").ignoreRangeWhen(n -> n > 1);
        origin.route("/fallback.bin", route);
        var h = harness(chunked(2));
        h.processElement(request("fallback", origin, "/fallback.bin"), 0);
        FetchResult r = h.results(1).get(0);

        assertThat(r.status).as("%s", r).isEqualTo(ResultStatus.OK);
        assertThat(r.httpStatus).isEqualTo(200);
        assertThat(Files.readAllBytes(out().resolve(r.path))).isEqualTo(body);
        assertThat(route.requests).contains("whole");
        h.close();
    }

    @Test
    void acceptsShort206sAndPlansTheRest() throws Exception {
        TestOrigin origin = origin("127.0.0.1");
        byte[] body = TestOrigin.content("short", 1024 * 1024);
        RangeRoute route = RangeRoute.of(body, "\"s\"").maxRangeBytes(100_000);
        origin.route("/short.bin", route);
        var h = harness(chunked(3));
        h.processElement(request("short", origin, "/short.bin"), 0);
        FetchResult r = h.results(1).get(0);
        assertThat(r.status).as("%s", r).isEqualTo(ResultStatus.OK);
        assertThat(Files.readAllBytes(out().resolve(r.path))).isEqualTo(body);
        assertThat(route.requests).doesNotContain("whole");
        h.close();
    }

    @Test
    void withoutAValidatorTheFileIsFetchedAsOneStream() throws Exception {
        TestOrigin origin = origin("127.0.0.1");
        byte[] body = TestOrigin.content("novalidator", 700_000);
        RangeRoute route = new RangeRoute(n -> new RangeRoute.Version(body, null, null));
        origin.route("/nv.bin", route);
        var h = harness(chunked(4));
        h.processElement(request("nv", origin, "/nv.bin"), 0);
        FetchResult r = h.results(1).get(0);
        assertThat(r.status).isEqualTo(ResultStatus.OK);
        assertThat(route.requests).containsExactly("0-262143", "whole");
        assertThat(Files.readAllBytes(out().resolve(r.path))).isEqualTo(body);
        h.close();
    }

    // ------------------------------------------------------------------------------------------------

    private TestOrigin origin(String address) throws Exception {
        return fetch.track(TestOrigin.start(address));
    }

    private Path out() {
        return tmp.resolve("out");
    }

    private Configuration config(int maxInFlight, int hostLimit) {
        return FetchHarness.config(tmp, maxInFlight, hostLimit);
    }

    /** A harness whose processing time only the test moves: these tests time retries themselves. */
    private FetchHarness harness(Configuration conf) throws Exception {
        return harness(conf, null);
    }

    private FetchHarness harness(Configuration conf, OperatorSubtaskState restore) throws Exception {
        return fetch.harness(conf, restore, FetchHarness.Clock.MANUAL);
    }

    static FetchRequest request(String id, TestOrigin origin, String path) {
        return new FetchRequest(id, origin.url(path), origin.host(), path(origin, path));
    }

    static String path(TestOrigin origin, String urlPath) {
        return origin.host() + "_" + origin.port() + urlPath;
    }

    private static FetchResult byId(List<FetchResult> results, String id) {
        return results.stream().filter(r -> r.id.equals(id)).findFirst().orElseThrow();
    }

    static String sha256(byte[] b) throws Exception {
        return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(b));
    }

    // ---- for the harness benchmarks, which build their own harness: the MANUAL clock policy of FetchHarness ----

    /** Runs mail on the test thread until {@code n} results are out; fails after {@link #WAIT}. */
    static List<FetchResult> drainUntilResults(
            KeyedOneInputStreamOperatorTestHarness<String, FetchRequest, FetchResult> h, int n) throws Exception {
        FetchHarness.drain(h, FetchHarness.Clock.MANUAL, () -> h.extractOutputValues().size() >= n, WAIT, true);
        List<FetchResult> out = h.extractOutputValues();
        assertThat(out).hasSize(n);
        return out;
    }
}
