package io.flowget.udf.fetch;

import io.flowget.udf.body.Codecs;
import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.RangeRoute;
import io.flowget.udf.testing.RawOrigin;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MemorySize;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What an origin says is checked before flowget acts on it, and one request's trouble stays that request's result
 * (issue 12): a redirect to an impossible port, a Content-Range total of 2^62, a 206 shorter than its range, a coded
 * 206, hundreds of content-coding layers, a chunked file over {@code max_bytes}, and an exception inside the
 * operator each end one request (FAILED with a reason, or OK with the exact bytes of a plain GET) while a healthy
 * request beside it completes byte-exact. Real Jetty and raw-socket origins on loopback, the operator on RocksDB.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class HostileOriginTest {
    @TempDir Path tmp;

    @RegisterExtension final FetchHarnessExtension fetch = new FetchHarnessExtension();

    @Test
    void aRedirectToAnImpossiblePortFailsThatRequestOnly() throws Exception {
        TestOrigin origin = fetch.track(TestOrigin.start());
        byte[] ok = TestOrigin.content("ok", 10_000);
        origin.file("/ok.bin", ok);
        origin.route("/bad", (req, resp, cb, n) -> TestOrigin.redirect(resp, cb, 302, "http://127.0.0.1:70000/x"));
        RawOrigin raw = fetch.track(new RawOrigin());
        raw.route("/huge", (ex, n) -> ex.head(302, "Location: /" + "a".repeat(10_000), "Content-Length: 0",
                "Connection: close"));
        raw.route("/mega", (ex, n) -> ex.head(302, "Location: /" + "a".repeat(1 << 20), "Content-Length: 0",
                "Connection: close"));
        FetchHarness h = harness(FetchHarness.config(tmp));

        h.submit(request("bad", origin, "/bad"), request("huge", raw.url("/huge"), raw.host(), "huge"),
                request("mega", raw.url("/mega"), raw.host(), "mega"), request("ok", origin, "/ok.bin"));
        List<FetchResult> results = h.results(4);

        assertThat(byId(results, "bad").status).isEqualTo(ResultStatus.FAILED);
        assertThat(byId(results, "bad").error).isEqualTo("invalid redirect target: invalid port 70000");
        assertThat(byId(results, "huge").error).isEqualTo("invalid redirect Location: over 8192 characters");
        // A head line over the client's limit is a protocol error, retried and then FAILED like one.
        assertThat(byId(results, "mega").error).startsWith("i/o error: Maximum line length limit exceeded");
        assertOk(h, byId(results, "ok"), ok);
    }

    @Test
    void anExceptionInsideTheOperatorEndsOnlyItsRequest() throws Exception {
        TestOrigin origin = fetch.track(TestOrigin.start());
        byte[] ok = TestOrigin.content("ok", 10_000);
        origin.file("/ok.bin", ok);
        FetchHarness h = harness(FetchHarness.config(tmp));
        // A request that bypassed the parser (old state, another producer): the HTTP client throws on its port
        // when the attempt is sent, on the task thread.
        FetchRequest broken = new FetchRequest("broken", "http://127.0.0.1:70000/x", origin.host(), "broken/x");

        h.submit(broken, request("ok", origin, "/ok.bin"));
        List<FetchResult> results = h.results(2);

        FetchResult r = byId(results, "broken");
        assertThat(r.status).isEqualTo(ResultStatus.FAILED);
        assertThat(r.error).startsWith("internal error: java.lang.IllegalArgumentException");
        assertOk(h, byId(results, "ok"), ok);
    }

    @Test
    void malformedRequestsAreRefusedAtTheDoorWithASafeId() throws Exception {
        TestOrigin origin = fetch.track(TestOrigin.start());
        FetchHarness h = harness(FetchHarness.config(tmp));
        FetchRequest controls = request("a\u0001b", origin, "/x");
        FetchRequest longId = request("k".repeat(600_000), origin, "/x");
        FetchRequest noPath = new FetchRequest("nopath", origin.url("/x"), origin.host(), null);

        h.submit(controls, longId, noPath);
        List<FetchResult> results = h.results(3);

        assertThat(results).extracting(r -> r.id).containsExactly("unknown", "unknown", "nopath");
        assertThat(results).allSatisfy(r -> assertThat(r.status).isEqualTo(ResultStatus.FAILED));
        assertThat(results.get(0).error).isEqualTo("invalid id");
        assertThat(results.get(2).error).startsWith("invalid request");
        assertThat(origin.totalRequests()).isZero();
    }

    @Test
    void aContentRangeTotalOf2To62IsNeverActedOn() throws Exception {
        RawOrigin raw = fetch.track(new RawOrigin());
        byte[] first = TestOrigin.content("first", 100);
        RawOrigin.Handler liar = (ex, n) -> ex.head(206, "Content-Range: bytes 0-99/4611686018427387904",
                "Content-Length: 100", "ETag: \"strong\"", "Connection: close").write(first, 0, 100);
        raw.route("/liar", liar).route("/liar2", liar);
        FetchHarness h = harness(chunked());
        FetchRequest limited = request("limited", raw.url("/liar2"), raw.host(), "liar2");
        limited.maxBytes = 1_000_000L;

        h.submit(request("liar", raw.url("/liar"), raw.host(), "liar"), limited);
        List<FetchResult> results = h.results(2);

        assertThat(byId(results, "liar").error).isEqualTo("implausible Content-Range total 4611686018427387904");
        assertThat(byId(results, "limited").error)
                .isEqualTo("max_bytes exceeded (limit 1000000 bytes): the origin announced 4611686018427387904");
        assertThat(h.stagingFiles()).isEmpty();
    }

    @Test
    void aShort206IsNotTrustedTheFileComesFromOnePlainGet() throws Exception {
        RawOrigin raw = fetch.track(new RawOrigin());
        byte[] body = TestOrigin.content("short206", 300_000);
        raw.route("/f", (ex, n) -> {
            if (ex.head().toLowerCase().contains("\r\nrange:")) {
                // claims the first 256 KiB but sends 1000 bytes, framed correctly by its Content-Length
                ex.head(206, "Content-Range: bytes 0-262143/" + body.length, "Content-Length: 1000",
                        "ETag: \"s\"", "Connection: close").write(body, 0, 1000);
            } else {
                ex.head(200, "Content-Length: " + body.length, "Connection: close").write(body, 0, body.length);
            }
        });
        FetchHarness h = harness(chunked());

        FetchResult r = h.fetch(request("short", raw.url("/f"), raw.host(), "f"));

        assertOk(h, r, body);
        assertThat(r.httpStatus).isEqualTo(200);
        // The probe, then the plain GET; the probe's head (a 206 of a larger file) plans the other chunk and, over
        // HTTP/1.1, ends the host's warm-up, so that chunk's request may go out before the short body is seen: it is
        // dropped with its generation.
        assertThat(raw.hits("/f")).isBetween(2, 3);
    }

    @Test
    void aCoded206IsNotTrustedTheFileComesFromOnePlainGet() throws Exception {
        RawOrigin raw = fetch.track(new RawOrigin());
        byte[] body = TestOrigin.content("coded206", 5_000);
        byte[] coded = Codecs.gzip(TestOrigin.content("something else", 9_000));
        raw.route("/f", (ex, n) -> {
            if (ex.head().toLowerCase().contains("\r\nrange:")) {
                // a "whole file" 206 whose body is gzip of other bytes: decoding it would store the wrong file
                ex.head(206, "Content-Range: bytes 0-" + (coded.length - 1) + "/" + coded.length,
                        "Content-Length: " + coded.length, "Content-Encoding: gzip", "ETag: \"c\"",
                        "Connection: close").write(coded, 0, coded.length);
            } else {
                ex.head(200, "Content-Length: " + body.length, "Connection: close").write(body, 0, body.length);
            }
        });
        FetchHarness h = harness(chunked());

        FetchResult r = h.fetch(request("coded", raw.url("/f"), raw.host(), "f"));

        assertOk(h, r, body);
        assertThat(r.contentEncoding).isNull();
        assertThat(raw.hits("/f")).isEqualTo(2);
    }

    @Test
    void aHundredContentCodingLayersFail() throws Exception {
        RawOrigin raw = fetch.track(new RawOrigin());
        byte[] body = Codecs.gzip("x".getBytes());
        String layers = String.join(", ", java.util.Collections.nCopies(100, "gzip"));
        raw.route("/f", (ex, n) -> ex.head(200, "Content-Length: " + body.length, "Content-Encoding: " + layers,
                "Connection: close").write(body, 0, body.length));
        FetchHarness h = harness(FetchHarness.config(tmp));

        FetchResult r = h.fetch(request("layers", raw.url("/f"), raw.host(), "f"));

        assertThat(r.status).isEqualTo(ResultStatus.FAILED);
        assertThat(r.error).isEqualTo("too many content-coding layers (more than 5)");
        assertThat(raw.hits("/f")).isEqualTo(1);
    }

    @Test
    void maxBytesHoldsForChunkedDownloads() throws Exception {
        TestOrigin origin = fetch.track(TestOrigin.start());
        byte[] body = TestOrigin.content("big", 4 * 1024 * 1024);
        RangeRoute route = RangeRoute.of(body, "\"big\"");
        origin.route("/big.bin", route);
        Configuration conf = FetchHarness.config(tmp);
        conf.set(FlowgetOptions.CHUNK_SIZE, MemorySize.parse("1mb"));
        FetchHarness h = harness(conf);
        FetchRequest req = request("big", origin, "/big.bin");
        req.maxBytes = 2_000_000L;

        FetchResult r = h.fetch(req);

        assertThat(r.status).isEqualTo(ResultStatus.FAILED);
        assertThat(r.error).isEqualTo("max_bytes exceeded (limit 2000000 bytes): the origin announced 4194304");
        assertThat(route.requests).as("nothing is planned past the first answer").hasSize(1);
        assertThat(Files.exists(h.out().resolve(req.path))).isFalse();
        assertThat(h.stagingFiles()).isEmpty();
    }

    /**
     * A host's queue sequence numbers start again at 0 once it goes idle. Download A (seq 0) is checkpointed
     * mid-flight and then finishes; B gets seq 0 as well and writes its first chunks; the job fails and restores
     * the older checkpoint, where A is still running. A must not adopt B's staging file (before unique download
     * ids it did, and reported OK with B's bytes in it).
     */
    @Test
    void aDownloadRestoredFromAnOlderCheckpointNeverAdoptsAnotherRequestsStagingFile() throws Exception {
        TestOrigin origin = fetch.track(TestOrigin.start());
        int chunk = 256 * 1024;
        byte[] a = TestOrigin.content("A", 8 * chunk);
        byte[] b = TestOrigin.content("B", 8 * chunk);
        RangeRoute routeA = RangeRoute.of(a, "\"a\"").holdRangesWhere(start -> start >= 4 * chunk);
        RangeRoute routeB = RangeRoute.of(b, "\"b\"").holdRangesWhere(start -> start >= 2 * chunk);
        origin.route("/a.bin", routeA).route("/b.bin", routeB);
        Configuration conf = chunked();
        conf.set(FlowgetOptions.HOST_MAX_CONCURRENCY, 2);
        FetchHarness first = fetch.harness(conf, FetchHarness.Clock.MANUAL);
        first.submit(request("A", origin, "/a.bin"));
        first.drainUntil(() -> routeA.requests.size() >= 6 && first.getOperator().forTests().inFlightCount() == 2);
        org.apache.flink.runtime.checkpoint.OperatorSubtaskState older = first.snapshot(1L, 1L);
        routeA.release();
        first.drainUntil(() -> first.extractOutputValues().size() == 1);
        assertOk(first, first.extractOutputValues().get(0), a);
        first.submit(request("B", origin, "/b.bin"));
        first.drainUntil(() -> routeB.requests.size() >= 4 && first.getOperator().forTests().inFlightCount() == 2);
        first.crash("fails while B is in flight; the older checkpoint (A in flight) is restored");
        routeB.release();
        Files.delete(first.out().resolve(request("A", origin, "/a.bin").path)); // so the restored A must publish

        FetchHarness second = fetch.harness(conf, older, FetchHarness.Clock.MANUAL);
        FetchResult r = second.results(1).get(0);

        assertThat(r.id).isEqualTo("A");
        assertOk(second, r, a);
    }

    // ------------------------------------------------------------------------------------------------

    private Configuration chunked() {
        Configuration c = FetchHarness.config(tmp);
        c.set(FlowgetOptions.CHUNK_SIZE, MemorySize.parse("256kb"));
        return c;
    }

    private FetchHarness harness(Configuration conf) throws Exception {
        return fetch.harness(conf, FetchHarness.Clock.STEPPED);
    }

    private static void assertOk(FetchHarness h, FetchResult r, byte[] expected) throws Exception {
        assertThat(r.status).as("%s", r).isEqualTo(ResultStatus.OK);
        assertThat(r.sha256).isEqualTo(FetchOperatorTest.sha256(expected));
        assertThat(Files.readAllBytes(h.out().resolve(r.path))).isEqualTo(expected);
    }

    static FetchRequest request(String id, TestOrigin origin, String path) {
        return FetchOperatorTest.request(id, origin, path);
    }

    static FetchRequest request(String id, String url, String host, String path) {
        return new FetchRequest(id, url, host, path);
    }

    static FetchResult byId(List<FetchResult> results, String id) {
        return results.stream().filter(r -> r.id.equals(id)).findFirst().orElseThrow();
    }
}
