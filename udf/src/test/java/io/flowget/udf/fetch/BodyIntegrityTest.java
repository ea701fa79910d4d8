package io.flowget.udf.fetch;

import io.flowget.udf.body.Codecs;
import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.RawOrigin;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.Configuration;

import org.apache.commons.codec.digest.Blake3;
import org.eclipse.jetty.http.HttpHeader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What lands at a result's path is exactly what was asked for, or nothing: every content-coding decodes to the
 * exact bytes over a real Jetty origin, and bodies that a raw socket origin cuts short, resets or frames wrongly are
 * retried or FAILED — never OK with wrong bytes. Also the decode-ratio guard and BLAKE3 in results.
 */
class BodyIntegrityTest {
    @TempDir Path tmp;

    @RegisterExtension final FetchHarnessExtension fetch = new FetchHarnessExtension();

    /** Compressible but not trivial: text lines mixed with random runs. */
    static byte[] sample(String name, int size) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(size);
        byte[] noise = TestOrigin.content(name, 4096);
        int line = 0;
        while (out.size() < size) {
            out.writeBytes((name + " line " + line++ + ": the quick brown fox jumps over the lazy dog\n").getBytes());
            if (line % 16 == 0) {
                out.write(noise, (line * 37) % 3000, 64);
            }
        }
        byte[] b = out.toByteArray();
        return java.util.Arrays.copyOf(b, size);
    }

    @Test
    void everyCodingServedPreEncodedDecodesToTheExactBytes() throws Exception {
        TestOrigin origin = jetty();
        Map<String, String[]> codings =
                Map.of(
                        "gzip", new String[] {"gzip"},
                        "deflate", new String[] {"deflate"},
                        "br", new String[] {"br"},
                        "zstd", new String[] {"zstd"},
                        "gzip, br", new String[] {"gzip", "br"});
        FetchHarness h = harness(FetchHarness.config(tmp));
        Map<String, byte[]> plain = new java.util.HashMap<>();
        for (Map.Entry<String, String[]> e : codings.entrySet()) {
            String header = e.getKey();
            String urlPath = "/" + header.replace(", ", "-") + ".txt";
            byte[] body = sample(header, 300_000);
            byte[] coded = Codecs.encode(body, e.getValue());
            origin.route(urlPath, (req, resp, cb, n) -> {
                resp.getHeaders().put(HttpHeader.CONTENT_ENCODING, header);
                TestOrigin.send(resp, cb, 200, coded);
            });
            plain.put(header, body);
            h.submit(request(header, origin.url(urlPath), origin.host(), urlPath.substring(1)));
        }
        List<FetchResult> results = h.results(codings.size());

        for (FetchResult r : results) {
            byte[] expected = plain.get(r.id);
            assertThat(r.status).as("%s", r).isEqualTo(ResultStatus.OK);
            assertThat(r.contentEncoding).isEqualTo(r.id);
            assertThat(r.bytes).isEqualTo(expected.length);
            assertThat(r.sha256).isEqualTo(FetchOperatorTest.sha256(expected));
            assertThat(Files.readAllBytes(h.out().resolve(r.path))).as("stored bytes of %s", r.id).isEqualTo(expected);
        }
        assertThat(h.stagingFiles()).isEmpty();
        assertThat(h.hostsWithState()).isZero();
    }

    @Test
    void aBodyCutShortOfItsContentLengthIsRetriedThenStoredWhole() throws Exception {
        byte[] body = TestOrigin.content("cut", 200_000);
        RawOrigin origin = raw();
        origin.route("/cut", (ex, n) -> {
            ex.head(200, "Content-Length: " + body.length, "Connection: close");
            ex.write(body, 0, n == 1 ? body.length / 2 : body.length);
            if (n == 1) {
                ex.close(); // FIN in the middle of the body
            }
        });
        FetchHarness h = harness(FetchHarness.config(tmp));

        FetchResult r = h.fetch(request("cut", origin.url("/cut"), origin.host(), "cut.bin"));

        assertThat(r.status).as("%s", r).isEqualTo(ResultStatus.OK);
        assertThat(r.attempts).isEqualTo(2);
        assertThat(Files.readAllBytes(h.out().resolve("cut.bin"))).isEqualTo(body);
        assertThat(r.sha256).isEqualTo(FetchOperatorTest.sha256(body));
    }

    @Test
    void aResetInTheMiddleOfTheBodyIsRetriedThenStoredWhole() throws Exception {
        byte[] body = TestOrigin.content("reset", 200_000);
        RawOrigin origin = raw();
        origin.route("/reset", (ex, n) -> {
            ex.head(200, "Content-Length: " + body.length, "Connection: close");
            if (n == 1) {
                ex.write(body, 0, 70_000);
                ex.reset();
            } else {
                ex.write(body, 0, body.length);
            }
        });
        FetchHarness h = harness(FetchHarness.config(tmp));

        FetchResult r = h.fetch(request("reset", origin.url("/reset"), origin.host(), "reset.bin"));

        assertThat(r.status).as("%s", r).isEqualTo(ResultStatus.OK);
        assertThat(r.attempts).isEqualTo(2);
        assertThat(Files.readAllBytes(h.out().resolve("reset.bin"))).isEqualTo(body);
    }

    @Test
    void bodiesThatAreAlwaysBrokenFailWithAReasonAndLeaveNothing() throws Exception {
        byte[] body = TestOrigin.content("broken", 100_000);
        byte[] gz = Codecs.gzip(body);
        RawOrigin origin = raw();
        origin.route("/short", (ex, n) -> {
            ex.head(200, "Content-Length: " + (body.length + 1000), "Connection: close");
            ex.write(body, 0, body.length);
            ex.close();
        });
        origin.route("/reset", (ex, n) -> {
            ex.head(200, "Content-Length: " + body.length, "Connection: close");
            ex.write(body, 0, 30_000);
            ex.reset();
        });
        origin.route("/chunked", (ex, n) -> {
            // chunks without the terminating zero-length chunk, then FIN
            ex.head(200, "Transfer-Encoding: chunked", "Connection: close");
            ex.chunk(body, 0, 40_000);
            ex.chunk(body, 40_000, 40_000);
            ex.close();
        });
        origin.route("/gzip-cut", (ex, n) -> {
            // close-delimited (no length, not chunked): only the coded stream can tell that it ended early
            ex.head(200, "Content-Encoding: gzip", "Connection: close");
            ex.write(gz, 0, gz.length - 100);
            ex.close();
        });
        Configuration conf = FetchHarness.config(tmp);
        conf.set(FlowgetOptions.RETRY_MAX_ATTEMPTS, 3);
        FetchHarness h = harness(conf);
        for (String p : List.of("/short", "/reset", "/chunked", "/gzip-cut")) {
            h.submit(request(p.substring(1), origin.url(p), origin.host(), p.substring(1) + ".bin"));
        }
        List<FetchResult> results = h.results(4);

        for (FetchResult r : results) {
            assertThat(r.status).as("%s", r).isEqualTo(ResultStatus.FAILED);
            assertThat(Files.exists(h.out().resolve(r.id + ".bin"))).as("nothing at the path of %s", r.id).isFalse();
        }
        assertThat(byId(results, "short").error)
                .startsWith("connection closed: Premature end of Content-Length delimited message body")
                .endsWith("(after 3 attempts)");
        assertThat(byId(results, "reset").error).startsWith("connection error: Connection reset").endsWith("(after 3 attempts)");
        assertThat(byId(results, "chunked").error).startsWith("connection closed: ").endsWith("(after 3 attempts)");
        assertThat(byId(results, "gzip-cut").error).isEqualTo("corrupt gzip stream");
        assertThat(byId(results, "short").attempts).isEqualTo(3);
        assertThat(h.stagingFiles()).isEmpty();
        assertThat(h.hostsWithState()).isZero();
    }

    /**
     * HTTP/1.1 frames a body by its Content-Length: bytes beyond it are not part of the response (the client drops
     * the connection when it cannot parse them as the next one). So the stored file is exactly the declared body, as
     * with curl, and the excess never reaches the next response. (On HTTP/2, DATA beyond content-length fails the
     * exchange in StagingResponseConsumer.)
     */
    @Test
    void aBodyLongerThanItsContentLengthIsStoredAsDeclaredAndNeverLeaksIntoTheNextResponse() throws Exception {
        byte[] body = TestOrigin.content("long", 50_000);
        byte[] next = TestOrigin.content("next", 30_000);
        RawOrigin origin = raw();
        origin.route("/long", (ex, n) -> {
            ex.head(200, "Content-Length: 40000");
            ex.write(body, 0, body.length);
        });
        origin.route("/next", (ex, n) -> {
            ex.head(200, "Content-Length: " + next.length);
            ex.write(next, 0, next.length);
        });
        Configuration conf = FetchHarness.config(tmp);
        conf.set(FlowgetOptions.HOST_MAX_CONCURRENCY, 1);
        FetchHarness h = harness(conf);

        FetchResult r = h.fetch(request("long", origin.url("/long"), origin.host(), "long.bin"));
        FetchResult after = h.fetch(request("next", origin.url("/next"), origin.host(), "next.bin"));

        assertThat(r.status).isEqualTo(ResultStatus.OK);
        assertThat(r.bytes).isEqualTo(40_000);
        assertThat(Files.readAllBytes(h.out().resolve("long.bin"))).isEqualTo(java.util.Arrays.copyOf(body, 40_000));
        assertThat(after.status).as("%s", after).isEqualTo(ResultStatus.OK);
        assertThat(Files.readAllBytes(h.out().resolve("next.bin"))).isEqualTo(next);
    }

    @Test
    void anUnknownCodingFailsNamingIt() throws Exception {
        TestOrigin origin = jetty();
        origin.route("/z", (req, resp, cb, n) -> {
            resp.getHeaders().put(HttpHeader.CONTENT_ENCODING, "gzip, compress");
            TestOrigin.send(resp, cb, 200, Codecs.gzip("x".getBytes()));
        });
        FetchHarness h = harness(FetchHarness.config(tmp));

        FetchResult r = h.fetch(request("z", origin.url("/z"), origin.host(), "z.bin"));

        assertThat(r.status).isEqualTo(ResultStatus.FAILED);
        assertThat(r.error).isEqualTo("unsupported content-coding 'compress'");
        assertThat(r.attempts).isEqualTo(1);
        assertThat(Files.exists(h.out().resolve("z.bin"))).isFalse();
        assertThat(h.stagingFiles()).isEmpty();
    }

    @Test
    void theDecodeRatioGuardStopsABombThatHasNoSizeLimit() throws Exception {
        byte[] zeros = new byte[16 << 20];
        byte[] bomb = Codecs.zstd(zeros);
        TestOrigin origin = jetty();
        origin.route("/bomb", (req, resp, cb, n) -> {
            resp.getHeaders().put(HttpHeader.CONTENT_ENCODING, "zstd");
            TestOrigin.send(resp, cb, 200, bomb);
        });
        FetchHarness guarded = harness(FetchHarness.config(tmp.resolve("guarded")));

        FetchResult stopped = guarded.fetch(request("bomb", origin.url("/bomb"), origin.host(), "bomb.bin"));

        assertThat(stopped.status).isEqualTo(ResultStatus.FAILED);
        assertThat(stopped.error).startsWith("decode ratio exceeded (limit 1000:1, ");
        assertThat(stopped.attempts).isEqualTo(1);
        assertThat(Files.exists(guarded.out().resolve("bomb.bin"))).isFalse();

        Configuration off = FetchHarness.config(tmp.resolve("off"));
        off.set(FlowgetOptions.FETCH_MAX_DECODE_RATIO, 0);
        FetchHarness unguarded = harness(off);
        FetchResult stored = unguarded.fetch(request("bomb", origin.url("/bomb"), origin.host(), "bomb.bin"));
        assertThat(stored.status).as("0 turns the guard off: %s", stored).isEqualTo(ResultStatus.OK);
        assertThat(stored.bytes).isEqualTo(zeros.length);
    }

    @Test
    void blake3IsReportedWhenConfigured() throws Exception {
        byte[] body = sample("b3", 100_000);
        TestOrigin origin = jetty();
        origin.file("/plain", body);
        origin.route("/coded", (req, resp, cb, n) -> {
            resp.getHeaders().put(HttpHeader.CONTENT_ENCODING, "br");
            TestOrigin.send(resp, cb, 200, Codecs.br(body));
        });
        Configuration conf = FetchHarness.config(tmp);
        conf.set(FlowgetOptions.DIGEST_BLAKE3, true);
        FetchHarness h = harness(conf);
        h.submit(
                request("plain", origin.url("/plain"), origin.host(), "plain.bin"),
                request("coded", origin.url("/coded"), origin.host(), "coded.bin"));
        List<FetchResult> results = h.results(2);

        String expected = HexFormat.of().formatHex(Blake3.hash(body));
        for (FetchResult r : results) {
            assertThat(r.status).isEqualTo(ResultStatus.OK);
            assertThat(r.blake3).as("%s", r.id).isEqualTo(expected);
            assertThat(r.sha256).isEqualTo(FetchOperatorTest.sha256(body));
        }
    }

    @Test
    void digestOnlyDecodesAndDigestsEveryBodyButStoresNothing() throws Exception {
        byte[] body = sample("shadow", 200_000);
        TestOrigin origin = jetty();
        origin.file("/plain", body);
        origin.route("/coded", (req, resp, cb, n) -> {
            resp.getHeaders().put(HttpHeader.CONTENT_ENCODING, "zstd");
            TestOrigin.send(resp, cb, 200, Codecs.zstd(body));
        });
        Configuration conf = FetchHarness.config(tmp);
        conf.set(FlowgetOptions.SINK_MODE, FlowgetOptions.SinkMode.DIGEST_ONLY);
        FetchHarness h = harness(conf);
        h.submit(
                request("plain", origin.url("/plain"), origin.host(), "plain.bin"),
                request("coded", origin.url("/coded"), origin.host(), "coded.bin"));
        List<FetchResult> results = h.results(2);

        for (FetchResult r : results) {
            assertThat(r.status).as("%s", r).isEqualTo(ResultStatus.OK);
            assertThat(r.bytes).isEqualTo(body.length);
            assertThat(r.sha256).isEqualTo(FetchOperatorTest.sha256(body));
        }
        assertThat(byId(results, "coded").contentEncoding).isEqualTo("zstd");
        try (var files = Files.walk(tmp)) {
            assertThat(files.filter(Files::isRegularFile).filter(p -> !p.toString().contains("rocksdb")))
                    .as("nothing stored")
                    .isEmpty();
        }
    }

    @Test
    void blake3IsLeftOutByDefault() throws Exception {
        TestOrigin origin = jetty();
        origin.file("/plain", "abc".getBytes(StandardCharsets.US_ASCII));
        FetchHarness h = harness(FetchHarness.config(tmp));
        FetchResult r = h.fetch(request("plain", origin.url("/plain"), origin.host(), "plain.bin"));
        assertThat(r.status).isEqualTo(ResultStatus.OK);
        assertThat(r.blake3).isNull();
    }

    // ------------------------------------------------------------------------------------------------

    private TestOrigin jetty() throws Exception {
        return fetch.track(TestOrigin.start());
    }

    private RawOrigin raw() throws Exception {
        return fetch.track(new RawOrigin());
    }

    private FetchHarness harness(Configuration conf) throws Exception {
        return fetch.harness(conf, FetchHarness.Clock.STEPPED);
    }

    static FetchRequest request(String id, String url, String host, String path) {
        return new FetchRequest(id, url, host, path);
    }

    static FetchResult byId(List<FetchResult> results, String id) {
        return results.stream().filter(r -> r.id.equals(id)).findFirst().orElseThrow();
    }
}
