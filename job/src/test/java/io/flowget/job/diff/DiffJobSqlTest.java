package io.flowget.job.diff;

import io.flowget.job.JobOptions;
import io.flowget.job.embedded.EmbeddedFlink;
import io.flowget.job.embedded.EmbeddedKafka;
import io.flowget.udf.json.Json;
import io.flowget.udf.sql.LatencyBuckets;

import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.runtime.jobmaster.JobResult;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The diff job's SQL (with the udf functions) on real Kafka and a MiniCluster, over hand-written results whose
 * every disagreement is known: each kind, noise with and without a secondary result, equal error classes with
 * different messages, results on one side only, and a pair further apart than the join interval.
 */
class DiffJobSqlTest {
    private static final String SHA_A = "a".repeat(64);
    private static final String SHA_B = "b".repeat(64);
    private static final String SHA_C = "c".repeat(64);

    @TempDir Path tmp;

    @Test
    void reportsEveryKnownDisagreementAndOnlyThose() throws Exception {
        try (EmbeddedKafka kafka = EmbeddedKafka.start(tmp.resolve("kafka"));
                EmbeddedFlink flink = EmbeddedFlink.start(new Configuration(), tmp.resolve("checkpoints"), 2)) {
            String servers = kafka.bootstrapServers();
            kafka.createTopics(2, "p", "c", "s", "diffs", "summary");
            long t0 = System.currentTimeMillis() - Duration.ofMinutes(30).toMillis();
            List<Topics.Rec> p = new ArrayList<>();
            List<Topics.Rec> c = new ArrayList<>();
            List<Topics.Rec> s = new ArrayList<>();
            int[] n = {0};
            // id, primary, candidate, secondary (null = no result on that side)
            Map<String, String[]> cases = new LinkedHashMap<>();
            cases.put("same", new String[] {ok("same", SHA_A, 10, 50), ok("same", SHA_A, 10, 60), ok("same", SHA_A, 10, 40)});
            cases.put("sha", new String[] {ok("sha", SHA_A, 10, 50), ok("sha", SHA_B, 10, 50), ok("sha", SHA_A, 10, 50)});
            cases.put("failed", new String[] {ok("failed", SHA_A, 10, 50), failed("failed", 503, "http 503 (after 5 attempts)"), ok("failed", SHA_A, 10, 50)});
            cases.put("noisy", new String[] {ok("noisy", SHA_A, 10, 50), ok("noisy", SHA_C, 12, 50), ok("noisy", SHA_B, 11, 50)});
            cases.put("noisy-broken", new String[] {ok("noisy-broken", SHA_A, 10, 50), failed("noisy-broken", 500, "http 500"), ok("noisy-broken", SHA_B, 10, 50)});
            cases.put("slow", new String[] {ok("slow", SHA_A, 10, 100), ok("slow", SHA_A, 10, 5000), ok("slow", SHA_A, 10, 100)});
            cases.put("errors", new String[] {failed("errors", 503, "http 503 (after 5 attempts)"), failed("errors", 502, "http 502 (after 3 attempts)"), null});
            cases.put("no-secondary", new String[] {ok("no-secondary", SHA_A, 10, 50), ok("no-secondary", SHA_B, 10, 50), null});
            cases.put("missing", new String[] {ok("missing", SHA_A, 10, 50), null, ok("missing", SHA_A, 10, 50)});
            cases.put("extra", new String[] {null, ok("extra", SHA_A, 10, 50), null});
            cases.forEach((id, r) -> {
                long t = t0 + 100L * n[0]++;
                add(p, id, r[0], t);
                add(c, id, r[1], t + 2000);
                add(s, id, r[2], t + 1000);
            });
            // "errors" differ only in messages of the same class and in http_status: that is one kind.
            // "late": further apart than the interval (1 min), so two unmatched results, not a comparison.
            add(p, "late", ok("late", SHA_A, 10, 50), t0);
            add(c, "late", ok("late", SHA_A, 10, 50), t0 + Duration.ofMinutes(3).toMillis());
            Topics.produce(servers, "p", p);
            Topics.produce(servers, "c", c);
            Topics.produce(servers, "s", s);

            Configuration conf = flink.configuration();
            conf.set(JobOptions.KAFKA_BOOTSTRAP_SERVERS, servers);
            conf.set(DiffOptions.PRIMARY_TOPIC, "p");
            conf.set(DiffOptions.CANDIDATE_TOPIC, "c");
            conf.set(DiffOptions.SECONDARY_TOPIC, "s");
            conf.set(DiffOptions.DIFFS_TOPIC, "diffs");
            conf.set(DiffOptions.SUMMARY_TOPIC, "summary");
            conf.set(DiffOptions.JOIN_INTERVAL, Duration.ofMinutes(1));
            conf.set(DiffOptions.GROUP_ID, "sql-test");
            conf.set(DiffOptions.TRANSACTIONAL_ID_PREFIX, "sql-test");
            // As deployed: no generated uids (conf/config.yaml), the planner sets its own.
            conf.set(PipelineOptions.AUTO_GENERATE_UIDS, false);
            StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
            new DiffJob(conf, true).build(env);
            JobID job = flink.submit(env);
            JobResult result = flink.await(job, Duration.ofMinutes(3));
            assertThat(result.isSuccess()).as("diff job: %s", result.getSerializedThrowable()).isTrue();

            Map<String, List<String>> kinds = new TreeMap<>();
            Map<String, JsonNode> records = new HashMap<>();
            for (String v : Topics.readAll(servers, "diffs")) {
                JsonNode d = Json.readTree(v);
                String id = d.get("id").asText();
                List<String> k = new ArrayList<>();
                d.get("kinds").forEach(x -> k.add(x.asText()));
                kinds.merge(id, k, (a, b) -> {
                    List<String> both = new ArrayList<>(a);
                    both.addAll(b);
                    both.sort(null);
                    return both;
                });
                records.put(id, d);
            }
            assertThat(kinds)
                    .containsOnly(
                            Map.entry("sha", List.of("sha256")),
                            Map.entry("failed", List.of("status", "http_status", "bytes", "sha256", "error_class")),
                            Map.entry("noisy-broken", List.of("status", "http_status", "bytes", "error_class")),
                            Map.entry("slow", List.of("latency")),
                            Map.entry("errors", List.of("http_status")),
                            Map.entry("no-secondary", List.of("sha256")),
                            Map.entry("missing", List.of("unmatched_primary")),
                            Map.entry("extra", List.of("unmatched_candidate")),
                            Map.entry("late", List.of("unmatched_candidate", "unmatched_primary")));
            JsonNode broken = records.get("noisy-broken");
            assertThat(broken.get("noise").toString()).isEqualTo("[\"sha256\"]");
            assertThat(broken.at("/primary/status").asText()).isEqualTo("OK");
            assertThat(broken.at("/candidate/error").asText()).isEqualTo("http 500");
            assertThat(broken.at("/secondary/sha256").asText()).isEqualTo(SHA_B);
            assertThat(records.get("missing").has("candidate")).as("no candidate object for a missing result").isFalse();
            assertThat(records.get("no-secondary").has("noise")).isFalse();
            assertThat(records.get("sha").get("decided_at").asText()).endsWith("Z");

            Map<String, Long> totals = new TreeMap<>();
            Map<String, Long> latencyP = new HashMap<>();
            for (String v : Topics.readAll(servers, "summary")) {
                JsonNode w = Json.readTree(v);
                w.fields().forEachRemaining(e -> {
                    if (e.getValue().isNumber()) {
                        totals.merge(e.getKey(), e.getValue().asLong(), Long::sum);
                    }
                });
                w.get("latency_primary").fields().forEachRemaining(e -> latencyP.merge(e.getKey(), e.getValue().asLong(), Long::sum));
            }
            // errors = different http_status (503/502) with the same class: a diff, but not an error_class one.
            assertThat(totals)
                    .containsEntry("compared", 8L)
                    .containsEntry("matched", 2L)
                    .containsEntry("differing", 6L)
                    .containsEntry("diff_status", 2L)
                    .containsEntry("diff_http_status", 3L)
                    .containsEntry("diff_bytes", 2L)
                    .containsEntry("diff_sha256", 3L)
                    .containsEntry("diff_error_class", 2L)
                    .containsEntry("diff_latency", 1L)
                    .containsEntry("unmatched_primary", 2L)
                    .containsEntry("unmatched_candidate", 2L)
                    .containsEntry("with_secondary", 6L)
                    .containsEntry("noisy", 2L);
            assertThat(LatencyBuckets.count(latencyP)).as("one latency per compared request").isEqualTo(8);
        }
    }

    private static void add(List<Topics.Rec> side, String id, String json, long ts) {
        if (json != null) {
            side.add(new Topics.Rec(id, json, ts));
        }
    }

    private static String ok(String id, String sha, long bytes, long elapsed) {
        return String.format(
                "{\"id\":\"%s\",\"url\":\"http://h/%s\",\"status\":\"OK\",\"http_status\":200,\"bytes\":%d,"
                        + "\"sha256\":\"%s\",\"attempts\":1,\"elapsed_ms\":%d}",
                id, id, bytes, sha, elapsed);
    }

    private static String failed(String id, int http, String error) {
        return String.format(
                "{\"id\":\"%s\",\"url\":\"http://h/%s\",\"status\":\"FAILED\",\"http_status\":%d,\"error\":\"%s\","
                        + "\"attempts\":5,\"elapsed_ms\":30}",
                id, id, http, error);
    }
}
