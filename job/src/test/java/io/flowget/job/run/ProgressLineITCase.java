package io.flowget.job.run;

import io.flowget.job.embedded.EmbeddedKafka;
import io.flowget.udf.json.Json;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.Configuration;

import org.eclipse.jetty.http.HttpHeader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * "A user sees why a run waits": {@code flowget run}'s live progress line, captured from a run on an embedded
 * broker and MiniCluster against two Jetty origins on loopback, one of which answers its first request with
 * {@code 503 Retry-After: 10}: while that host is paused, the line shows one paused host and its requests
 * waiting; the run still ends with every request OK and the usual summary.
 */
class ProgressLineITCase {
    private static final Pattern WAITING = Pattern.compile(
            "(\\d+) in flight, (\\d+) waiting; hosts: (\\d+) paused, (\\d+) throttled, (\\d+) circuit open");

    @TempDir Path tmp;

    @Test
    void theLineShowsAPausedHostAndTheRequestsWaitingForIt() throws Exception {
        try (EmbeddedKafka kafka = EmbeddedKafka.start(tmp.resolve("kafka"));
                TestOrigin healthy = TestOrigin.start("127.0.0.131");
                TestOrigin busy = TestOrigin.start("127.0.0.132")) {
            List<String> lines = new ArrayList<>();
            for (int i = 0; i < 10; i++) {
                String path = "/h/" + i + ".bin";
                healthy.file(path, TestOrigin.content(path, 2_000));
                lines.add(healthy.url(path));
            }
            AtomicInteger busyRequests = new AtomicInteger();
            for (int i = 0; i < 10; i++) {
                String path = "/b/" + i + ".bin";
                byte[] body = TestOrigin.content(path, 2_000);
                busy.route(path, (req, resp, cb, n) -> {
                    if (busyRequests.incrementAndGet() == 1) {
                        resp.getHeaders().put(HttpHeader.RETRY_AFTER, "10");
                        TestOrigin.send(resp, cb, 503, new byte[0]);
                    } else {
                        TestOrigin.send(resp, cb, 200, body);
                    }
                });
                lines.add(busy.url(path));
            }
            Path urls = tmp.resolve("urls.txt");
            Files.write(urls, lines);
            ByteArrayOutputStream stdout = new ByteArrayOutputStream();

            RunSummary summary = new LocalRun(
                            new LocalRun.Request(
                                    urls,
                                    null,
                                    tmp.resolve("out"),
                                    tmp.resolve("results.jsonl"),
                                    tmp.resolve("state"),
                                    1,
                                    kafka.bootstrapServers(),
                                    new Configuration(),
                                    false,
                                    true, // as on a terminal: the live line, redrawn in place
                                    Duration.ofMinutes(3)),
                            new PrintStream(stdout, true, StandardCharsets.UTF_8))
                    .execute();

            assertThat(summary.ok()).as("every request OK once the pause ended").isEqualTo(20);
            assertThat(Files.readAllLines(tmp.resolve("results.jsonl")))
                    .hasSize(20)
                    .allSatisfy(l -> assertThat(Json.resultFromJson(l).status).isEqualTo(ResultStatus.OK));
            String[] drawn = stdout.toString(StandardCharsets.UTF_8).split("\r\033\\[K");
            boolean sawPaused = false;
            for (String line : drawn) {
                Matcher m = WAITING.matcher(line);
                if (m.find() && Integer.parseInt(m.group(3)) >= 1 && Long.parseLong(m.group(2)) > 0) {
                    if (!sawPaused) {
                        System.out.println("first line with the paused host: " + line);
                    }
                    sawPaused = true;
                }
            }
            assertThat(sawPaused)
                    .as("a progress line with a paused host and requests waiting, among: %s", String.join(" | ", drawn))
                    .isTrue();
            assertThat(busyRequests.get()).as("the paused host's first request was retried").isGreaterThanOrEqualTo(11);
            assertThat(drawn[drawn.length - 1]).as("the last line is the final count").startsWith("20/20 done");
        }
    }
}
