package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.TestCertificates;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.Configuration;

import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.util.Callback;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

import static io.flowget.udf.fetch.FetchOperatorTest.request;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Many concurrent requests to one HTTP/2 origin, over TLS (ALPN) and over h2c (prior knowledge), through the
 * operator against a real Jetty origin: a bounded list of small files at a host concurrency of 128–256, among them
 * requests that end on their own — a {@code max_bytes} below their size, a stream the origin resets once after part
 * of the body (one request's trouble each) — and every other request must end OK at its first attempt with its
 * bytes, all over HTTP/2.
 *
 * <p>Why: with HttpClient 5.6's HTTP/2 sharing pool ({@code setMessageMultiplexing(true)}), one failed or cancelled
 * exchange closed the shared connection under all its streams: the siblings failed with the first one's error (here
 * {@code max_bytes exceeded} on hundreds of requests that had no {@code max_bytes}), were retried and blamed on the
 * host (its circuit opened), and exchanges that had leased the shared entry reconnected it together, all but one
 * failing {@code internal error: java.lang.IllegalStateException: Connection already assigned}. {@code
 * HttpClientHolder} no longer shares HTTP/2 connections between exchanges.
 */
class Http2ManyStreamsTest {
    private static final int FILES = 2_000;
    /** Every this-many-th request has a max_bytes below its size; the one after it gets its stream reset once. */
    private static final int TROUBLE_EVERY = 100;

    @TempDir Path tmp;

    @RegisterExtension final FetchHarnessExtension fetch = new FetchHarnessExtension();

    @Test
    void manyStreamsOverTlsEndEachOnItsOwn() throws Exception {
        TestOrigin origin = fetch.track(TestOrigin.startTls("127.0.0.1", TestCertificates.get(), 256));
        Configuration conf = config(128);
        conf.set(FlowgetOptions.TLS_CA_CERT, TestCertificates.get().caPem().toString());

        fetchAll(origin, conf);
    }

    @Test
    void manyStreamsOverH2cEndEachOnItsOwn() throws Exception {
        TestOrigin origin = fetch.track(TestOrigin.startH2c("127.0.0.1", 256));
        Configuration conf = config(256);
        conf.set(FlowgetOptions.HTTP_VERSION, FlowgetOptions.HttpVersion.HTTP_2);

        fetchAll(origin, conf);
    }

    private Configuration config(int hostConcurrency) {
        Configuration conf = FetchHarness.config(tmp, hostConcurrency, hostConcurrency);
        conf.set(FlowgetOptions.HTTP_POOL_MAX_PER_ROUTE, hostConcurrency);
        conf.set(FlowgetOptions.HTTP_POOL_MAX_TOTAL, hostConcurrency);
        return conf;
    }

    private void fetchAll(TestOrigin origin, Configuration conf) throws Exception {
        Set<String> versions = ConcurrentHashMap.newKeySet();
        for (int i = 0; i < FILES; i++) {
            byte[] body = body(i);
            long delayMs = i % 11; // responses overlap and end out of order
            boolean resetOnce = i % TROUBLE_EVERY == 1;
            origin.route("/m" + i, (req, resp, cb, n) -> {
                versions.add(req.getConnectionMetaData().getHttpVersion().asString());
                req.getComponents().getScheduler().schedule(() -> {
                    if (resetOnce && n == 1) {
                        // head and part of the body, then the stream fails: Jetty resets it (RST_STREAM)
                        resp.setStatus(200);
                        resp.getHeaders().put(HttpHeader.CONTENT_LENGTH, body.length);
                        resp.write(false, ByteBuffer.wrap(body, 0, 1000),
                                Callback.from(() -> cb.failed(new IOException("reset by the test"))));
                    } else {
                        TestOrigin.send(resp, cb, 200, body);
                    }
                }, delayMs, TimeUnit.MILLISECONDS);
            });
        }
        FetchHarness h = fetch.harness(conf, FetchHarness.Clock.STEPPED);
        for (int i = 0; i < FILES; i++) {
            FetchRequest r = request("m" + i, origin, "/m" + i);
            if (i % TROUBLE_EVERY == 0) {
                r.maxBytes = 1000L;
            }
            h.processElement(r, 0);
        }
        List<FetchResult> results = h.results(FILES);

        Map<String, List<String>> unexpected = new TreeMap<>();
        for (FetchResult r : results) {
            int i = Integer.parseInt(r.id.substring(1));
            String expected;
            if (i % TROUBLE_EVERY == 0) {
                expected = "FAILED max_bytes exceeded (limit 1000 bytes) 1";
            } else {
                expected = "OK null " + (i % TROUBLE_EVERY == 1 ? 2 : 1);
            }
            String got = r.status + " " + r.error + " " + r.attempts;
            if (r.status == ResultStatus.OK && !FetchOperatorTest.sha256(body(i)).equals(r.sha256)) {
                got += " wrong bytes";
            }
            if (!got.equals(expected)) {
                unexpected.computeIfAbsent(got, g -> new ArrayList<>()).add(r.id);
            }
        }
        Map<String, String> summary = new TreeMap<>();
        unexpected.forEach(
                (got, ids) -> summary.put(got, ids.size() + " requests, e.g. " + ids.subList(0, Math.min(3, ids.size()))));
        System.out.printf(
                "%d requests to one HTTP/2 origin: %d connections, at most %d served at once, unexpected: %s%n",
                FILES, origin.connectionsOpened(), origin.maxConcurrent(), summary);
        assertThat(summary).as("results other than expected (status error attempts)").isEmpty();
        assertThat(versions).containsExactly("HTTP/2.0");
        assertThat(origin.maxConcurrent()).as("requests served at once").isGreaterThan(16);
    }

    private static byte[] body(int i) {
        return TestOrigin.content("m" + i, 2_000 + (i % 7) * 3_000);
    }
}
