package io.flowget.job;

import io.flowget.job.cli.ExitCodes;
import io.flowget.job.diff.Topics;
import io.flowget.job.embedded.EmbeddedKafka;
import io.flowget.job.run.LocalRun;
import io.flowget.job.run.RunSummary;
import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.json.Json;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.Configuration;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The whole pipeline on real components: an embedded KRaft broker, a MiniCluster with RocksDB, Jetty origins on
 * five loopback addresses, and the {@code run} command's driver.
 */
class EndToEndITCase {
    /** A URL line with bytes that are not UTF-8 (a lone continuation byte, an overlong NUL). */
    private static final byte[] BAD_UTF8 = "http://127.0.0.1:1/\u0001\u0002\u0003".getBytes(StandardCharsets.ISO_8859_1);

    private static final String BAD_UTF8_MARKER = "<the line of BAD_UTF8>";

    static {
        BAD_UTF8[BAD_UTF8.length - 3] = (byte) 0x80;
        BAD_UTF8[BAD_UTF8.length - 2] = (byte) 0xC0;
        BAD_UTF8[BAD_UTF8.length - 1] = (byte) 0x80;
    }

    @TempDir Path tmp;

    @Test
    void downloadsFiveHundredFilesOverFiveHostsAndReportsBadInput() throws Exception {
        List<TestOrigin> origins = new ArrayList<>();
        try (EmbeddedKafka kafka = EmbeddedKafka.start(tmp.resolve("kafka"))) {
            for (int h = 1; h <= 5; h++) {
                origins.add(TestOrigin.start("127.0.0." + h));
            }
            List<String> lines = new ArrayList<>();
            Map<String, byte[]> expected = new HashMap<>();
            for (int i = 0; i < 500; i++) {
                TestOrigin o = origins.get(i % 5);
                String path = "/data/file-" + i + ".bin";
                byte[] body = TestOrigin.content(path, 100 + (i * 7919) % 40_000);
                o.file(path, body);
                lines.add(o.url(path));
                expected.put("line-" + lines.size(), body);
            }
            TestOrigin first = origins.get(0);
            byte[] target = TestOrigin.content("target", 777);
            first.route("/r1", (req, resp, cb, n) -> TestOrigin.redirect(resp, cb, 301, "/r2"));
            first.route("/r2", (req, resp, cb, n) -> TestOrigin.redirect(resp, cb, 302, "/final.bin"));
            first.file("/final.bin", target);
            first.route("/loop-a", (req, resp, cb, n) -> TestOrigin.redirect(resp, cb, 302, "/loop-b"));
            first.route("/loop-b", (req, resp, cb, n) -> TestOrigin.redirect(resp, cb, 302, "/loop-a"));
            lines.add(first.url("/r1"));
            int redirectLine = lines.size();
            lines.add(first.url("/loop-a"));
            int loopLine = lines.size();
            lines.add("# a comment line, skipped");
            lines.add("");
            lines.add("{bad json");
            int badJson = lines.size();
            lines.add("{\"id\":\"no-url\"}"); // its own id wins over the line number
            lines.add("{\"url\":\"ftp://example.org/file\"}");
            int ftp = lines.size();
            lines.add("  javascript:alert(1)  \r");
            int js = lines.size();
            // Lines that once failed the whole run (exit 70) before any request was fetched: bytes that are not
            // UTF-8, and lines whose records exceeded Kafka's default 1 MiB (2 MiB; 1.4 MB of two-byte characters,
            // which the parser reads, being under its character bound).
            lines.add(BAD_UTF8_MARKER);
            int badUtf8 = lines.size();
            lines.add(first.url("/huge?q=") + "x".repeat(2 << 20));
            int huge = lines.size();
            lines.add(first.url("/wide?q=") + "\u00e9".repeat(700_000));
            int wide = lines.size();
            Path urls = tmp.resolve("urls.txt");
            ByteArrayOutputStream input = new ByteArrayOutputStream();
            for (String l : lines) {
                input.write(l.equals(BAD_UTF8_MARKER) ? BAD_UTF8 : l.getBytes(StandardCharsets.UTF_8));
                input.write('\n');
            }
            Files.write(urls, input.toByteArray());

            Configuration settings = new Configuration();
            settings.set(FlowgetOptions.HOST_MAX_CONCURRENCY, 4);
            // Issue 16: 100 requests per host, so run spreads every host over two shards (two subtasks).
            settings.set(JobOptions.RUN_SPREAD_MIN_REQUESTS, 50);
            Path out = tmp.resolve("out");
            Path results = tmp.resolve("results.jsonl");
            ByteArrayOutputStream stdout = new ByteArrayOutputStream();
            RunSummary summary =
                    new LocalRun(
                                    new LocalRun.Request(
                                            urls,
                                            null,
                                            out,
                                            results,
                                            tmp.resolve("state"),
                                            2,
                                            kafka.bootstrapServers(),
                                            settings,
                                            true,
                                            false,
                                            Duration.ofMinutes(5)),
                                    new PrintStream(stdout))
                            .execute();

            List<FetchResult> rs = new ArrayList<>();
            for (String l : Files.readAllLines(results)) {
                rs.add(Json.resultFromJson(l));
            }
            Map<String, FetchResult> byId = new HashMap<>();
            rs.forEach(r -> assertThat(byId.put(r.id, r)).as("one result per id: %s", r.id).isNull());
            assertThat(rs).as("one result per non-blank, non-comment line").hasSize(509);
            for (Map.Entry<String, byte[]> e : expected.entrySet()) {
                FetchResult r = byId.get(e.getKey());
                assertThat(r.status).as("%s", r).isEqualTo(ResultStatus.OK);
                assertThat(Files.readAllBytes(out.resolve(r.path))).isEqualTo(e.getValue());
                assertThat(r.bytes).isEqualTo(e.getValue().length);
            }
            FetchResult redirected = byId.get("line-" + redirectLine);
            assertThat(redirected.status).isEqualTo(ResultStatus.OK);
            assertThat(Files.readAllBytes(out.resolve(redirected.path))).isEqualTo(target);
            assertThat(byId.get("line-" + loopLine).error).startsWith("redirect loop");
            for (String bad : List.of("line-" + badJson, "no-url", "line-" + ftp, "line-" + js, "line-" + badUtf8,
                    "line-" + huge, "line-" + wide)) {
                FetchResult r = byId.get(bad);
                assertThat(r).as("result for line %s", bad).isNotNull();
                assertThat(r.status).isEqualTo(ResultStatus.FAILED);
                assertThat(r.error).isNotBlank();
            }
            assertThat(byId.get("line-" + ftp).error).contains("ftp");
            assertThat(byId.get("line-" + badUtf8).error).isEqualTo("invalid UTF-8 in record value");
            assertThat(byId.get("line-" + huge).error).startsWith("request too large");
            assertThat(ExitCodes.of(summary)).isEqualTo(ExitCodes.FAILED);
            assertThat(summary.ok()).isEqualTo(501);
            assertThat(summary.failed()).isEqualTo(8);

            List<String> deadLetters = Topics.readAll(kafka.bootstrapServers(), "flowget.dead-letter");
            assertThat(deadLetters).hasSize(7);
            assertThat(String.join("\n", deadLetters)).contains("{bad json").contains("ftp://example.org/file");

            try (var files = Files.walk(out)) {
                assertThat(files.filter(Files::isRegularFile).count())
                        .as("only finished files in --out, no partial files")
                        .isEqualTo(501);
            }
        } finally {
            for (TestOrigin o : origins) {
                o.close();
            }
        }
    }

}
