package io.flowget.job.diff;

import io.flowget.job.JobOptions;
import io.flowget.job.embedded.EmbeddedKafka;
import io.flowget.udf.json.Json;

import org.apache.flink.configuration.Configuration;

import com.fasterxml.jackson.databind.JsonNode;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The SQL test of the diff job (run inside {@link ShadowDiffITCase}'s fixture): hand-written results whose every
 * disagreement is known, covering each diff kind, noise with and without a secondary result, equal error
 * classes with different messages, a NOT_MODIFIED production result against a full fetch of the same bytes,
 * results on one side only, and a pair further apart than the join interval.
 * Topics {@code sql.p/c/s} in, {@code sql.diffs} and {@code sql.summary} out.
 */
final class SqlCases {
    private SqlCases() {}

    private static final String SHA_A = "a".repeat(64);
    private static final String SHA_B = "b".repeat(64);
    private static final String SHA_C = "c".repeat(64);

    static void produce(EmbeddedKafka kafka, String servers) {
        kafka.createTopics(2, "sql.p", "sql.c", "sql.s", "sql.diffs", "sql.summary");
        long t0 = System.currentTimeMillis() - Duration.ofMinutes(30).toMillis();
        List<Topics.Rec> p = new ArrayList<>();
        List<Topics.Rec> c = new ArrayList<>();
        List<Topics.Rec> s = new ArrayList<>();
        // id → primary, candidate, secondary (null: no result on that side)
        Map<String, String[]> cases = new LinkedHashMap<>();
        cases.put("same", new String[] {ok("same", SHA_A, 10, 50), ok("same", SHA_A, 10, 60), ok("same", SHA_A, 10, 40)});
        cases.put("sha", new String[] {ok("sha", SHA_A, 10, 50), ok("sha", SHA_B, 10, 50), ok("sha", SHA_A, 10, 50)});
        cases.put("failed", new String[] {ok("failed", SHA_A, 10, 50), failed("failed", 503, "http 503 (after 5 attempts)"), ok("failed", SHA_A, 10, 50)});
        cases.put("noisy", new String[] {ok("noisy", SHA_A, 10, 50), ok("noisy", SHA_C, 12, 50), ok("noisy", SHA_B, 11, 50)});
        cases.put("noisy-broken", new String[] {ok("noisy-broken", SHA_A, 10, 50), failed("noisy-broken", 500, "http 500"), ok("noisy-broken", SHA_B, 10, 50)});
        cases.put("slow", new String[] {ok("slow", SHA_A, 10, 100), ok("slow", SHA_A, 10, 5000), ok("slow", SHA_A, 10, 100)});
        // Different messages of one class, and different http_status: one kind, http_status.
        cases.put("errors", new String[] {failed("errors", 503, "http 503 (after 5 attempts)"), failed("errors", 502, "http 502 (after 3 attempts)"), null});
        cases.put("no-secondary", new String[] {ok("no-secondary", SHA_A, 10, 50), ok("no-secondary", SHA_B, 10, 50), null});
        // Production re-validated its copy (304), the digest-only candidate fetched it: the same bytes, a match.
        cases.put("revalidated", new String[] {notModified("revalidated", SHA_A, 10), ok("revalidated", SHA_A, 10, 50), null});
        cases.put("missing", new String[] {ok("missing", SHA_A, 10, 50), null, ok("missing", SHA_A, 10, 50)});
        cases.put("extra", new String[] {null, ok("extra", SHA_A, 10, 50), null});
        int n = 0;
        for (Map.Entry<String, String[]> e : cases.entrySet()) {
            long t = t0 + 100L * n++;
            add(p, e.getKey(), e.getValue()[0], t);
            add(c, e.getKey(), e.getValue()[1], t + 2000);
            add(s, e.getKey(), e.getValue()[2], t + 1000);
        }
        // Further apart than the interval (1 min): two unmatched results, not a comparison.
        add(p, "late", ok("late", SHA_A, 10, 50), t0);
        add(c, "late", ok("late", SHA_A, 10, 50), t0 + Duration.ofMinutes(3).toMillis());
        Topics.produce(servers, "sql.p", p);
        Topics.produce(servers, "sql.c", c);
        Topics.produce(servers, "sql.s", s);
    }

    static Configuration diffConfig(Configuration base, String servers) {
        Configuration conf = new Configuration(base);
        conf.set(JobOptions.KAFKA_BOOTSTRAP_SERVERS, servers);
        conf.set(DiffOptions.PRIMARY_TOPIC, "sql.p");
        conf.set(DiffOptions.CANDIDATE_TOPIC, "sql.c");
        conf.set(DiffOptions.SECONDARY_TOPIC, "sql.s");
        conf.set(DiffOptions.DIFFS_TOPIC, "sql.diffs");
        conf.set(DiffOptions.SUMMARY_TOPIC, "sql.summary");
        conf.set(DiffOptions.JOIN_INTERVAL, Duration.ofMinutes(1));
        conf.set(DiffOptions.GROUP_ID, "sql-test");
        conf.set(DiffOptions.TRANSACTIONAL_ID_PREFIX, "sql-test");
        return conf;
    }

    static void check(String servers) throws Exception {
        Map<String, List<String>> kinds = new HashMap<>();
        Map<String, JsonNode> records = new HashMap<>();
        for (String v : ShadowDiffITCase.read("sql.diffs")) {
            JsonNode d = Json.readTree(v);
            records.put(d.get("id").asText(), d);
        }
        kinds.putAll(ShadowDiffITCase.diffKinds("sql.diffs"));
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

        assertThat(ShadowDiffITCase.summaryTotals("sql.summary"))
                .containsEntry("compared", 9L)
                .containsEntry("matched", 3L)
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
                .containsEntry("noisy", 2L)
                .as("one latency per compared request and side")
                .containsEntry("latency_primary_count", 9L)
                .containsEntry("latency_candidate_count", 9L);
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

    private static String notModified(String id, String sha, long bytes) {
        return String.format(
                "{\"id\":\"%s\",\"url\":\"http://h/%s\",\"status\":\"NOT_MODIFIED\",\"http_status\":304,"
                        + "\"bytes\":%d,\"sha256\":\"%s\",\"attempts\":1,\"elapsed_ms\":5}",
                id, id, bytes, sha);
    }

    private static String failed(String id, int http, String error) {
        return String.format(
                "{\"id\":\"%s\",\"url\":\"http://h/%s\",\"status\":\"FAILED\",\"http_status\":%d,\"error\":\"%s\","
                        + "\"attempts\":5,\"elapsed_ms\":30}",
                id, id, http, error);
    }
}
