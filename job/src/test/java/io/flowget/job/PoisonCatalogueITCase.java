package io.flowget.job;

import io.flowget.job.diff.Topics;
import io.flowget.job.embedded.EmbeddedFlink;
import io.flowget.job.embedded.EmbeddedKafka;
import io.flowget.udf.body.Codecs;
import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.json.Json;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.RawOrigin;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.runtime.executiongraph.AccessExecutionGraph;
import org.apache.flink.runtime.executiongraph.AccessExecutionVertex;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The poison catalogue of issue 12, end to end: the unbounded job ({@code flowget job}) on a MiniCluster with RocksDB
 * and 1 s checkpoints over the embedded broker, fed 100 healthy requests mixed with every hostile input the issue
 * lists (and a few more): a redirect to port 70000, a Location of 1 MB and of 10 KB, Content-Range totals of 2^62,
 * negative and reversed ranges, a 206 shorter than its range, a coded 206, 100 coding layers, a 1 MB event of control
 * characters, a 600 KB record key, invalid UTF-8, 64 headers of 8 KB, ids with control characters. Every request gets
 * exactly one result, the healthy ones OK and byte-exact, every dead letter fits its topic, and the job never
 * restarts ({@code numRestarts} 0: no vertex beyond its first attempt, never RESTARTING).
 */
class PoisonCatalogueITCase {
    static final int HEALTHY = 100;

    @TempDir Path tmp;

    @Test
    void everyRequestGetsOneResultAndTheJobNeverRestarts() throws Exception {
        try (TestOrigin jetty = TestOrigin.start("127.0.0.1");
                RawOrigin raw = new RawOrigin();
                EmbeddedKafka kafka = EmbeddedKafka.start(tmp.resolve("kafka"))) {
            kafka.createTopics(2, "flowget.requests", "flowget.results", "flowget.dead-letter");
            Map<String, byte[]> healthy = new LinkedHashMap<>();
            List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
            for (int i = 0; i < HEALTHY; i++) {
                String id = "healthy-" + i;
                byte[] body = TestOrigin.content(id, 500 + i * 3001);
                jetty.file("/ok/" + i, body);
                healthy.put(id, body);
                records.add(record(id, "{\"id\":\"" + id + "\",\"url\":\"" + jetty.url("/ok/" + i) + "\"}"));
            }
            Map<String, String> poison = poison(jetty, raw);
            poison.forEach((id, value) -> records.add(record(id, value)));
            // Raw record keys and values that are hostile by themselves (their ids are whatever is safe).
            String longKey = "k".repeat(600_000);
            records.add(new ProducerRecord<>("flowget.requests", bytes(longKey), bytes(jetty.url("/ok/0"))));
            records.add(new ProducerRecord<>("flowget.requests", bytes("p-big"), bytes("\u0001".repeat(1_000_000))));
            records.add(new ProducerRecord<>("flowget.requests", bytes("p-utf8"),
                    new byte[] {'h', 't', 't', 'p', ':', (byte) 0xC3, (byte) 0x28, (byte) 0xFF}));
            Collections.shuffle(records, new java.util.Random(12));
            produce(kafka.bootstrapServers(), records);

            Configuration conf = new Configuration();
            conf.set(FlowgetOptions.STORAGE_OUT_DIR, tmp.resolve("out").toString());
            conf.set(FlowgetOptions.STORAGE_STAGING_DIR, tmp.resolve("partial").toString());
            conf.set(FlowgetOptions.HOST_MAX_CONCURRENCY, 8);
            conf.set(FlowgetOptions.RETRY_INITIAL_BACKOFF, Duration.ofMillis(10));
            conf.set(FlowgetOptions.RETRY_MAX_BACKOFF, Duration.ofMillis(100));
            conf.set(FlowgetOptions.CHUNK_SIZE, MemorySize.parse("256kb"));
            conf.set(FlowgetOptions.NET_POSTURE, FlowgetOptions.NetPosture.LOCAL); // the origins are on loopback
            conf.set(JobOptions.KAFKA_BOOTSTRAP_SERVERS, kafka.bootstrapServers());
            conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
            conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, 100);
            conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofMillis(200));
            try (EmbeddedFlink flink =
                    EmbeddedFlink.start(conf, tmp.resolve("checkpoints"), tmp.resolve("flink-tmp"), 2, 1)) {
                Configuration jobConf = flink.configuration();
                jobConf.set(PipelineOptions.NAME, "flowget poison catalogue");
                StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(jobConf);
                FlowgetJob.kafka(jobConf, false).build(env);
                JobID job = flink.submit(env);

                List<FetchResult> results = awaitResults(kafka.bootstrapServers(), records.size(), flink, job);
                flink.triggerCheckpoint(job);
                AccessExecutionGraph graph = flink.executionGraph(job);
                int restarts = restarts(graph);
                long completed = graph.getCheckpointStatsSnapshot().getCounts().getNumberOfCompletedCheckpoints();
                results = Topics.readAll(kafka.bootstrapServers(), "flowget.results").stream()
                        .map(PoisonCatalogueITCase::result).toList();
                List<String> deadLetters = Topics.readAll(kafka.bootstrapServers(), "flowget.dead-letter");
                System.out.printf("PoisonCatalogueITCase: %d requests (%d healthy, %d poison), %d results,"
                        + " %d dead letters, numRestarts %d, %d checkpoints completed%n", records.size(), HEALTHY,
                        records.size() - HEALTHY, results.size(), deadLetters.size(), restarts, completed);

                assertThat(restarts).as("numRestarts").isZero();
                assertThat(graph.getStatusTimestamp(JobStatus.RESTARTING)).as("never RESTARTING").isZero();
                assertThat(completed).as("checkpoints completed").isPositive();
                assertThat(results).as("exactly one result per request").hasSize(records.size());
                Map<String, FetchResult> byId = new HashMap<>();
                for (FetchResult r : results) {
                    assertThat(r.id.length()).as("ids are bounded").isLessThanOrEqualTo(512);
                    assertThat(r.error == null ? 0 : r.error.length()).as("errors are bounded").isLessThanOrEqualTo(1024);
                    if (!r.id.equals("unknown")) {
                        assertThat(byId.put(r.id, r)).as("one result for id %s", r.id).isNull();
                    }
                }
                for (Map.Entry<String, byte[]> e : healthy.entrySet()) {
                    FetchResult r = byId.get(e.getKey());
                    assertThat(r.status).as("%s", r).isEqualTo(ResultStatus.OK);
                    assertThat(Files.readAllBytes(tmp.resolve("out").resolve(r.path))).isEqualTo(e.getValue());
                }
                for (String id : poison.keySet()) {
                    FetchResult r = byId.get(id);
                    assertThat(r).as("result of %s", id).isNotNull();
                    System.out.printf("PoisonCatalogueITCase: %s -> %s %s%n", id, r.status,
                            r.error == null ? "" : r.error.substring(0, Math.min(120, r.error.length())));
                    if (r.status == ResultStatus.OK) {
                        // a hostile 206 that the plain GET fallback turned into the right file
                        assertThat(Files.readAllBytes(tmp.resolve("out").resolve(r.path)))
                                .as("%s stored byte-exact", id).isEqualTo(PLAIN);
                    }
                }
                assertThat(byId.get("p-port").error).isEqualTo("invalid redirect target: invalid port 70000");
                assertThat(byId.get("p-cr62").error).startsWith("implausible Content-Range total");
                assertThat(byId.get("p-layers").error).isEqualTo("too many content-coding layers (more than 5)");
                assertThat(byId.get("p-big").status).isEqualTo(ResultStatus.FAILED);
                assertThat(byId.get("p-utf8").status).isEqualTo(ResultStatus.FAILED);
                assertThat(deadLetters).allSatisfy(d -> assertThat(d.length()).isLessThan(64 * 1024));
            }
        }
    }

    /** The body every raw poison route serves to a plain GET (without Range). */
    static final byte[] PLAIN = TestOrigin.content("plain", 300_000);

    /** Hostile events by id (the value of each record). */
    private static Map<String, String> poison(TestOrigin jetty, RawOrigin raw) {
        Map<String, String> p = new LinkedHashMap<>();
        jetty.route("/port", (req, resp, cb, n) -> TestOrigin.redirect(resp, cb, 302, "http://127.0.0.1:70000/x"));
        p.put("p-port", event("p-port", jetty.url("/port")));
        rawRange(raw, "/cr62", "bytes 0-99/4611686018427387904", 100, null);
        p.put("p-cr62", event("p-cr62", raw.url("/cr62")));
        rawRange(raw, "/negative", "bytes -5-99/300000", 100, null);
        p.put("p-negative", event("p-negative", raw.url("/negative")));
        rawRange(raw, "/reversed", "bytes 99-5/300000", 100, null);
        p.put("p-reversed", event("p-reversed", raw.url("/reversed")));
        rawRange(raw, "/short", "bytes 0-262143/300000", 1000, null);
        p.put("p-short206", event("p-short206", raw.url("/short")));
        rawRange(raw, "/coded", "bytes 0-299999/300000", 1000, "gzip");
        p.put("p-coded206", event("p-coded206", raw.url("/coded")));
        byte[] gz = Codecs.gzip("x".getBytes(StandardCharsets.US_ASCII));
        String layers = String.join(", ", Collections.nCopies(100, "gzip"));
        raw.route("/layers", (ex, n) -> ex.head(200, "Content-Length: " + gz.length, "Content-Encoding: " + layers,
                "Connection: close").write(gz, 0, gz.length));
        p.put("p-layers", event("p-layers", raw.url("/layers")));
        raw.route("/loc1m", (ex, n) -> ex.head(302, "Location: /" + "a".repeat(1 << 20), "Content-Length: 0",
                "Connection: close"));
        p.put("p-loc1m", event("p-loc1m", raw.url("/loc1m")));
        raw.route("/loc10k", (ex, n) -> ex.head(302, "Location: /" + "a".repeat(10_000), "Content-Length: 0",
                "Connection: close"));
        p.put("p-loc10k", event("p-loc10k", raw.url("/loc10k")));
        StringBuilder headers = new StringBuilder("{");
        for (int i = 0; i < 64; i++) {
            headers.append(i == 0 ? "" : ",").append("\"X-H").append(i).append("\":\"").append("v".repeat(8000)).append('"');
        }
        headers.append('}');
        p.put("p-headers", "{\"id\":\"p-headers\",\"url\":\"" + jetty.url("/ok/1") + "\",\"headers\":" + headers + "}");
        p.put("p-ctlid", "{\"id\":\"a\\u0001b\",\"url\":\"" + jetty.url("/ok/2") + "\"}");
        p.put("p-ctlline", "\u0007".repeat(200_000));
        return p;
    }

    /** A raw route: a 206 with {@code contentRange} and {@code bodyBytes} of body to a ranged GET, else a 200. */
    private static void rawRange(RawOrigin raw, String path, String contentRange, int bodyBytes, String coding) {
        raw.route(path, (ex, n) -> {
            if (ex.head().toLowerCase(java.util.Locale.ROOT).contains("\r\nrange:")) {
                List<String> head = new ArrayList<>(List.of("Content-Range: " + contentRange,
                        "Content-Length: " + bodyBytes, "ETag: \"strong\"", "Connection: close"));
                if (coding != null) {
                    head.add("Content-Encoding: " + coding);
                }
                ex.head(206, head.toArray(String[]::new)).write(PLAIN, 0, bodyBytes);
            } else {
                ex.head(200, "Content-Length: " + PLAIN.length, "Connection: close").write(PLAIN, 0, PLAIN.length);
            }
        });
    }

    private static String event(String id, String url) {
        return "{\"id\":\"" + id + "\",\"url\":\"" + url + "\"}";
    }

    private static ProducerRecord<byte[], byte[]> record(String key, String value) {
        return new ProducerRecord<>("flowget.requests", bytes(key), bytes(value));
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static void produce(String servers, List<ProducerRecord<byte[], byte[]>> records) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, servers);
        p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, 2 * 1024 * 1024);
        try (KafkaProducer<byte[], byte[]> producer =
                new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
            for (ProducerRecord<byte[], byte[]> r : records) {
                producer.send(r);
            }
            producer.flush();
        }
    }

    /** Polls the committed results until {@code n} are there (or the job ended); bounded by 4 minutes. */
    private static List<FetchResult> awaitResults(String servers, int n, EmbeddedFlink flink, JobID job)
            throws Exception {
        long deadline = System.nanoTime() + Duration.ofMinutes(4).toNanos();
        List<String> values = List.of();
        while (System.nanoTime() < deadline) {
            values = Topics.readAll(servers, "flowget.results");
            if (values.size() >= n) {
                break;
            }
            assertThat(flink.status(job).isGloballyTerminalState()).as("job ended early").isFalse();
            Thread.sleep(500);
        }
        return values.stream().map(PoisonCatalogueITCase::result).toList();
    }

    static FetchResult result(String json) {
        try {
            return Json.resultFromJson(json);
        } catch (Exception e) {
            throw new AssertionError("unreadable result " + json, e);
        }
    }

    /** Restarts of the job: the highest attempt number of any of its vertices (0 when none ever restarted). */
    static int restarts(AccessExecutionGraph graph) {
        int max = 0;
        for (AccessExecutionVertex v : graph.getAllExecutionVertices()) {
            max = Math.max(max, v.getCurrentExecutionAttempt().getAttemptNumber());
        }
        return max;
    }
}
