package io.flowget.job.diff;

import io.flowget.udf.json.Json;
import io.flowget.udf.sql.LatencyBuckets;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** The gate's arithmetic and verdicts on summary records as the diff job writes them. */
class CanaryTest {
    private static final Instant T0 = Instant.parse("2026-11-28T10:00:00Z");
    private static final Canary.Thresholds GATE = new Canary.Thresholds(0.001, 0.01, 1.5, 1, 50);

    @Test
    void cleanWindowsPass() throws Exception {
        List<JsonNode> s = List.of(summary(0, 100, 0, 0, 0, 20, 20), summary(1, 150, 0, 0, 0, 20, 22));
        Canary.Verdict v = Canary.judge(Canary.aggregate(s, null, null), GATE);

        assertThat(v.pass()).isTrue();
        assertThat(v.exitStatus()).isZero();
        assertThat(v.reasons()).isEmpty();
        assertThat(v.totals().compared()).isEqualTo(250);
        assertThat(v.latencyRatio()).as("both p99s under the 50 ms floor").isEqualTo(1.0);
        JsonNode json = Json.readTree(v.toJson());
        assertThat(json.get("verdict").asText()).isEqualTo("PASS");
        assertThat(json.get("compared").asLong()).isEqualTo(250);
        assertThat(json.at("/thresholds/max_diff_rate").asDouble()).isEqualTo(0.001);
        assertThat(v.summaryLine()).startsWith("PASS: 250 compared, 0 differing");
    }

    @Test
    void diffRateAboveTheBoundFailsAndNamesTheKinds() throws Exception {
        Canary.Verdict v = Canary.judge(Canary.aggregate(List.of(summary(0, 200, 4, 0, 0, 20, 20)), null, null), GATE);

        assertThat(v.pass()).isFalse();
        assertThat(v.exitStatus()).isEqualTo(Canary.EXIT_FAIL);
        assertThat(v.reasons()).singleElement().asString()
                .contains("diff rate 0.0200 (4 of 200")
                .contains("status 4")
                .contains("--max-diff-rate 0.001");
        assertThat(Json.readTree(v.toJson()).at("/differing_by_kind/status").asLong()).isEqualTo(4);
    }

    @Test
    void unmatchedCountsAgainstAllResultsOnEitherSide() {
        Canary.Totals t = Canary.aggregate(List.of(summary(0, 96, 0, 3, 1, 20, 20)), null, null);
        assertThat(t.unmatchedRate()).isEqualTo(4.0 / 100);

        Canary.Verdict v = Canary.judge(t, GATE);
        assertThat(v.reasons()).singleElement().asString()
                .contains("unmatched rate 0.0400")
                .contains("3 production results without a candidate")
                .contains("1 candidate results without a production");
        assertThat(Canary.judge(t, new Canary.Thresholds(0.001, 0.05, 1.5, 1, 50)).pass()).isTrue();
    }

    @Test
    void p99RatioAboveTheFloorFails() {
        Canary.Verdict slow = Canary.judge(Canary.aggregate(List.of(summary(0, 200, 0, 0, 0, 400, 1000)), null, null), GATE);
        assertThat(slow.pass()).isFalse();
        assertThat(slow.latencyRatio()).isGreaterThan(2.3);
        assertThat(slow.reasons()).singleElement().asString().contains("p99 latency ratio").contains("--max-latency-ratio 1.5");

        Canary.Verdict fastButJittery = Canary.judge(Canary.aggregate(List.of(summary(0, 200, 0, 0, 0, 2, 30)), null, null), GATE);
        assertThat(fastButJittery.pass()).as("15x slower, but both under the floor").isTrue();
    }

    @Test
    void nothingComparedIsAFailNotAPass() {
        Canary.Verdict v = Canary.judge(Canary.aggregate(List.of(), null, null), GATE);
        assertThat(v.pass()).isFalse();
        assertThat(v.reasons()).singleElement().asString().contains("only 0 requests compared");
        assertThat(Double.isNaN(v.latencyRatio())).isTrue();
        assertThat(v.toJson()).contains("\"p99_latency_ratio\":null");
    }

    @Test
    void rangeKeepsWholeWindowsAndCountsARepeatedWindowOnce() {
        List<JsonNode> s = new ArrayList<>();
        for (int m = 0; m < 5; m++) {
            s.add(summary(m, 10, m == 3 ? 10 : 0, 0, 0, 20, 20));
        }
        s.add(summary(1, 10, 0, 0, 0, 20, 20)); // written again after a restart

        Canary.Totals all = Canary.aggregate(s, null, null);
        assertThat(all.windows()).isEqualTo(5);
        assertThat(all.compared()).isEqualTo(50);

        Canary.Totals firstThree = Canary.aggregate(s, T0, T0.plusSeconds(180));
        assertThat(firstThree.windows()).isEqualTo(3);
        assertThat(firstThree.differing()).isZero();
        assertThat(Canary.judge(firstThree, GATE).pass()).isTrue();

        Canary.Totals fromMinuteThree = Canary.aggregate(s, T0.plusSeconds(180), null);
        assertThat(fromMinuteThree.windows()).isEqualTo(2);
        assertThat(fromMinuteThree.differing()).isEqualTo(10);
        assertThat(LatencyBuckets.count(fromMinuteThree.latencyPrimary())).isEqualTo(20);
    }

    /** A summary of minute {@code m} after T0 as the diff job writes it; all latencies equal per side. */
    private static JsonNode summary(int m, long compared, long statusDiffs, long up, long uc, long latP, long latC) {
        String json = String.format(
                "{\"window_start\":\"%s\",\"window_end\":\"%s\",\"compared\":%d,\"matched\":%d,\"differing\":%d,"
                        + "\"diff_status\":%d,\"diff_http_status\":0,\"diff_bytes\":0,\"diff_sha256\":0,"
                        + "\"diff_error_class\":0,\"diff_latency\":0,\"unmatched_primary\":%d,"
                        + "\"unmatched_candidate\":%d,\"with_secondary\":0,\"noisy\":0,"
                        + "\"latency_primary\":{\"%d\":%d},\"latency_candidate\":{\"%d\":%d}}",
                T0.plusSeconds(60L * m),
                T0.plusSeconds(60L * (m + 1)),
                compared,
                compared - statusDiffs,
                statusDiffs,
                statusDiffs,
                up,
                uc,
                LatencyBuckets.upperBound(latP),
                compared,
                LatencyBuckets.upperBound(latC),
                compared);
        try {
            return Json.readTree(json);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void histogramsOfWindowsAddUp() {
        Canary.Totals t = Canary.aggregate(
                List.of(summary(0, 99, 0, 0, 0, 10, 10), summary(1, 1, 0, 0, 0, 5000, 5000)), null, null);
        assertThat(t.latencyPrimary()).containsEntry("10", 99L);
        assertThat(t.p99PrimaryMs()).isEqualTo(10);
        assertThat(Map.copyOf(t.latencyCandidate())).hasSize(2);
    }
}
