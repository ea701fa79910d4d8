package io.flowget.job;

import io.flowget.job.cli.ExitCodes;
import io.flowget.job.run.LocalRun;
import io.flowget.job.run.RunSummary;
import io.flowget.udf.body.Codecs;
import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.json.Json;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.Configuration;

import org.eclipse.jetty.http.HttpHeader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Mirror sync end to end: {@code flowget run} twice over the same list into the same {@code --out}, each time
 * with a fresh state directory (its own embedded broker and checkpoints). The second run sends the validators
 * recorded with the first run's files, every answer is a 304, every result NOT_MODIFIED with the first run's
 * size and digest, the exit status is 0, and the origins send no body at all.
 */
class ConditionalRefetchEndToEndITCase {
    private static final int FILES = 60;
    private static final String LAST_MODIFIED = "Tue, 01 Sep 2026 10:00:00 GMT";

    @TempDir Path tmp;

    private final AtomicInteger fullAnswers = new AtomicInteger();
    private final AtomicLong bodyBytesSent = new AtomicLong();
    private final AtomicInteger notModifiedAnswers = new AtomicInteger();

    @Test
    void aSecondRunOfTheSameListIsNotModifiedForEveryFileAndTransfersNoBodies() throws Exception {
        List<TestOrigin> origins = new ArrayList<>();
        try {
            origins.add(TestOrigin.start("127.0.0.1"));
            origins.add(TestOrigin.start("127.0.0.2"));
            List<String> lines = new ArrayList<>();
            Map<String, byte[]> expected = new HashMap<>();
            for (int i = 0; i < FILES; i++) {
                TestOrigin o = origins.get(i % 2);
                String path = "/mirror/file-" + i + ".dat";
                byte[] body = TestOrigin.content(path, 1_000 + (i * 7919) % 30_000);
                // A third each: ETag only, Last-Modified only, both (and then gzip-coded).
                String etag = i % 3 != 1 ? "\"e" + i + "\"" : null;
                String lastModified = i % 3 != 0 ? LAST_MODIFIED : null;
                boolean gzip = i % 3 == 2;
                o.route(path, (req, resp, cb, n) -> answer(req, resp, cb, body, etag, lastModified, gzip));
                lines.add(o.url(path));
                expected.put("line-" + lines.size(), body);
            }
            Path urls = tmp.resolve("urls.txt");
            Files.write(urls, lines);
            Path out = tmp.resolve("out");

            RunSummary first = run(urls, out, tmp.resolve("state-1"), tmp.resolve("results-1.jsonl"));
            assertThat(ExitCodes.of(first)).isEqualTo(ExitCodes.OK);
            assertThat(first.ok()).isEqualTo(FILES);
            assertThat(fullAnswers.get()).isEqualTo(FILES);
            Map<String, FetchResult> before = byId(tmp.resolve("results-1.jsonl"));
            fullAnswers.set(0);
            bodyBytesSent.set(0);

            RunSummary second = run(urls, out, tmp.resolve("state-2"), tmp.resolve("results-2.jsonl"));

            assertThat(ExitCodes.of(second)).isEqualTo(ExitCodes.OK);
            assertThat(second.notModified()).isEqualTo(FILES);
            assertThat(second.ok()).isZero();
            assertThat(fullAnswers.get()).as("200 answers in the second run").isZero();
            assertThat(bodyBytesSent.get()).as("body bytes sent in the second run").isZero();
            assertThat(notModifiedAnswers.get()).isEqualTo(FILES);
            Map<String, FetchResult> after = byId(tmp.resolve("results-2.jsonl"));
            assertThat(after).hasSize(FILES);
            for (Map.Entry<String, byte[]> e : expected.entrySet()) {
                FetchResult r = after.get(e.getKey());
                FetchResult was = before.get(e.getKey());
                assertThat(r.status).as("%s", r).isEqualTo(ResultStatus.NOT_MODIFIED);
                assertThat(r.httpStatus).isEqualTo(304);
                assertThat(r.path).isEqualTo(was.path);
                assertThat(r.bytes).isEqualTo(was.bytes).isEqualTo(e.getValue().length);
                assertThat(r.sha256).isEqualTo(was.sha256);
                assertThat(Files.readAllBytes(out.resolve(r.path))).isEqualTo(e.getValue());
            }
        } finally {
            for (TestOrigin o : origins) {
                o.close();
            }
        }
    }

    private RunSummary run(Path urls, Path out, Path state, Path results) throws Exception {
        Configuration settings = new Configuration();
        settings.set(FlowgetOptions.HOST_MAX_CONCURRENCY, 4);
        return new LocalRun(
                        new LocalRun.Request(
                                urls, null, out, results, state, 2, null, settings, true, false, Duration.ofMinutes(5)),
                        new PrintStream(new ByteArrayOutputStream()))
                .execute();
    }

    /** A server that honours If-None-Match (weak comparison) and, without it, If-Modified-Since. */
    private void answer(
            org.eclipse.jetty.server.Request req,
            org.eclipse.jetty.server.Response resp,
            org.eclipse.jetty.util.Callback cb,
            byte[] body,
            String etag,
            String lastModified,
            boolean gzip) {
        String inm = req.getHeaders().get(HttpHeader.IF_NONE_MATCH);
        String ims = req.getHeaders().get(HttpHeader.IF_MODIFIED_SINCE);
        if (etag != null) {
            resp.getHeaders().put(HttpHeader.ETAG, etag);
        }
        if (lastModified != null) {
            resp.getHeaders().put(HttpHeader.LAST_MODIFIED, lastModified);
        }
        boolean current = inm != null ? inm.equals(etag) : ims != null && ims.equals(lastModified);
        if (current) {
            notModifiedAnswers.incrementAndGet();
            resp.setStatus(304);
            resp.write(true, ByteBuffer.allocate(0), cb);
            return;
        }
        byte[] sent = body;
        if (gzip) {
            resp.getHeaders().put(HttpHeader.CONTENT_ENCODING, "gzip");
            sent = Codecs.gzip(body);
        }
        fullAnswers.incrementAndGet();
        bodyBytesSent.addAndGet(sent.length);
        TestOrigin.send(resp, cb, 200, sent);
    }

    private static Map<String, FetchResult> byId(Path results) throws Exception {
        Map<String, FetchResult> m = new HashMap<>();
        for (String l : Files.readAllLines(results)) {
            FetchResult r = Json.resultFromJson(l);
            m.put(r.id, r);
        }
        return m;
    }
}
