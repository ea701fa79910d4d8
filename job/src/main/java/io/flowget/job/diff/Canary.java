package io.flowget.job.diff;

import io.flowget.job.kafka.KafkaClients;
import io.flowget.udf.json.Json;
import io.flowget.udf.sql.DiffKinds;
import io.flowget.udf.sql.LatencyBuckets;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;

/**
 * The release gate ({@code flowget canary}): reads the diff job's summary records for a time range, adds them up
 * and judges the candidate against thresholds. PASS needs all of: at least {@code minCompared} compared
 * requests; a diff rate ({@code differing / compared}) of at most {@code maxDiffRate}; an unmatched rate
 * ({@code (unmatched_primary + unmatched_candidate) / (compared + unmatched_primary + unmatched_candidate)}) of at
 * most {@code maxUnmatched}; and a p99 latency ratio (candidate / primary, over the compared requests, each p99
 * raised to {@code latencyFloorMs} first so that millisecond jitter on fast origins is no ratio) of at most
 * {@code maxLatencyRatio}. Anything else is FAIL with one reason per broken bound.
 *
 * <p>Range: a summary window counts when it starts at or after {@code since} and ends at or before
 * {@code until} (either may be open). Windows are keyed by their start, so a window written twice (an
 * at-least-once diff job after a restart) counts once.
 */
public final class Canary {
    private static final Logger LOG = LoggerFactory.getLogger(Canary.class);

    public static final int EXIT_PASS = 0;
    public static final int EXIT_FAIL = 1;

    /** The gate's bounds. */
    public record Thresholds(
            double maxDiffRate, double maxUnmatched, double maxLatencyRatio, long minCompared, long latencyFloorMs) {}

    /** The summaries of a range, added up. */
    public record Totals(
            Instant since,
            Instant until,
            int windows,
            long compared,
            long matched,
            long differing,
            Map<String, Long> differingByKind,
            long unmatchedPrimary,
            long unmatchedCandidate,
            long withSecondary,
            long noisy,
            Map<String, Long> latencyPrimary,
            Map<String, Long> latencyCandidate) {
        public double diffRate() {
            return compared == 0 ? 0 : (double) differing / compared;
        }

        public double unmatchedRate() {
            long all = compared + unmatchedPrimary + unmatchedCandidate;
            return all == 0 ? 0 : (double) (unmatchedPrimary + unmatchedCandidate) / all;
        }

        /** p99 of the primary's elapsed_ms over the compared requests (bucket upper bound), -1 if none. */
        public long p99PrimaryMs() {
            return LatencyBuckets.quantile(latencyPrimary, 0.99);
        }

        public long p99CandidateMs() {
            return LatencyBuckets.quantile(latencyCandidate, 0.99);
        }
    }

    /** The outcome: PASS or FAIL, why, and the figures it rests on. */
    public record Verdict(boolean pass, List<String> reasons, Totals totals, Thresholds thresholds) {
        public int exitStatus() {
            return pass ? EXIT_PASS : EXIT_FAIL;
        }

        /** p99 latency ratio after raising both sides to the floor; NaN when a side has no latency. */
        public double latencyRatio() {
            return Canary.latencyRatio(totals, thresholds);
        }

        /** One JSON object (one line) with the verdict, the reasons, the figures and the bounds. */
        public String toJson() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("verdict", pass ? "PASS" : "FAIL");
            m.put("reasons", reasons);
            m.put("since", totals.since() == null ? null : totals.since().toString());
            m.put("until", totals.until() == null ? null : totals.until().toString());
            m.put("windows", totals.windows());
            m.put("compared", totals.compared());
            m.put("matched", totals.matched());
            m.put("differing", totals.differing());
            m.put("diff_rate", totals.diffRate());
            m.put("differing_by_kind", totals.differingByKind());
            m.put("unmatched_primary", totals.unmatchedPrimary());
            m.put("unmatched_candidate", totals.unmatchedCandidate());
            m.put("unmatched_rate", totals.unmatchedRate());
            m.put("with_secondary", totals.withSecondary());
            m.put("noisy", totals.noisy());
            m.put("p99_primary_ms", totals.p99PrimaryMs());
            m.put("p99_candidate_ms", totals.p99CandidateMs());
            double ratio = latencyRatio();
            m.put("p99_latency_ratio", Double.isNaN(ratio) ? null : ratio);
            Map<String, Object> th = new LinkedHashMap<>();
            th.put("max_diff_rate", thresholds.maxDiffRate());
            th.put("max_unmatched", thresholds.maxUnmatched());
            th.put("max_latency_ratio", thresholds.maxLatencyRatio());
            th.put("min_compared", thresholds.minCompared());
            th.put("latency_floor_ms", thresholds.latencyFloorMs());
            m.put("thresholds", th);
            try {
                return Json.writer().writeValueAsString(m);
            } catch (JsonProcessingException e) {
                throw new IllegalStateException("cannot write the verdict as JSON", e);
            }
        }

        /** One line for people: the verdict and its reasons, or the key figures of a PASS. */
        public String summaryLine() {
            if (!pass) {
                return "FAIL: " + String.join("; ", reasons);
            }
            return String.format(
                    Locale.ROOT,
                    "PASS: %d compared, %d differing (%.4f), %d unmatched, p99 latency ratio %s",
                    totals.compared(),
                    totals.differing(),
                    totals.diffRate(),
                    totals.unmatchedPrimary() + totals.unmatchedCandidate(),
                    Double.isNaN(latencyRatio()) ? "n/a" : String.format(Locale.ROOT, "%.2f", latencyRatio()));
        }
    }

    private Canary() {}

    /**
     * Reads every committed record of the summary topic, from its beginning to its end offsets at the time of
     * the call. Records that are not JSON objects are skipped with a warning.
     *
     * @throws IllegalStateException if the topic does not exist or cannot be read to its end within {@code timeout}
     */
    public static List<JsonNode> readSummaries(String bootstrapServers, String topic, Duration timeout) {
        return readSummaries(bootstrapServers, new Properties(), topic, timeout);
    }

    /** As {@link #readSummaries(String, String, Duration)}, with Kafka client settings ({@code KafkaProperties}). */
    public static List<JsonNode> readSummaries(
            String bootstrapServers, Properties kafkaProps, String topic, Duration timeout) {
        List<JsonNode> out = new ArrayList<>();
        long deadline = System.nanoTime() + timeout.toNanos();
        // The diff job writes in transactions: only committed summaries are final.
        try (KafkaConsumer<String, String> c =
                KafkaClients.committedConsumer(bootstrapServers).properties(kafkaProps).build()) {
            List<TopicPartition> parts = KafkaClients.assignFromBeginning(c, topic, timeout);
            if (parts.isEmpty()) {
                throw new IllegalStateException("summary topic " + topic + " does not exist");
            }
            Map<TopicPartition, Long> end = c.endOffsets(parts, timeout);
            while (parts.stream().anyMatch(tp -> c.position(tp) < end.get(tp))) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("could not read " + topic + " to its end within " + timeout);
                }
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                    try {
                        JsonNode n = Json.readTree(r.value());
                        if (n != null && n.isObject()) {
                            out.add(n);
                            continue;
                        }
                    } catch (JsonProcessingException | IllegalArgumentException e) {
                        // fall through to the warning
                    }
                    LOG.warn("Skipping a record of {} that is not a summary at offset {}", topic, r.offset());
                }
            }
        }
        return out;
    }

    /** Adds up the summaries whose window lies in [since, until] (null = open). */
    public static Totals aggregate(List<JsonNode> summaries, Instant since, Instant until) {
        Map<Instant, JsonNode> byWindow = new TreeMap<>();
        for (JsonNode s : summaries) {
            Instant start = instant(s.get("window_start"));
            Instant end = instant(s.get("window_end"));
            if (start == null || end == null) {
                LOG.warn("Skipping a summary without window bounds: {}", s);
                continue;
            }
            if ((since == null || !start.isBefore(since)) && (until == null || !end.isAfter(until))) {
                byWindow.put(start, s); // the same window written twice counts once
            }
        }
        long compared = 0, matched = 0, differing = 0, up = 0, uc = 0, withSecondary = 0, noisy = 0;
        Map<String, Long> byKind = new LinkedHashMap<>();
        DiffKinds.FIELDS.forEach(k -> byKind.put(k, 0L));
        Map<String, Long> latP = new TreeMap<>();
        Map<String, Long> latC = new TreeMap<>();
        for (JsonNode s : byWindow.values()) {
            compared += s.path("compared").asLong();
            matched += s.path("matched").asLong();
            differing += s.path("differing").asLong();
            for (String k : DiffKinds.FIELDS) {
                byKind.merge(k, s.path("diff_" + k).asLong(), Long::sum);
            }
            up += s.path("unmatched_primary").asLong();
            uc += s.path("unmatched_candidate").asLong();
            withSecondary += s.path("with_secondary").asLong();
            noisy += s.path("noisy").asLong();
            LatencyBuckets.mergeInto(latP, histogram(s.get("latency_primary")));
            LatencyBuckets.mergeInto(latC, histogram(s.get("latency_candidate")));
        }
        return new Totals(
                since, until, byWindow.size(), compared, matched, differing, byKind, up, uc, withSecondary, noisy,
                latP, latC);
    }

    /** Judges the totals against the thresholds. */
    public static Verdict judge(Totals t, Thresholds th) {
        List<String> reasons = new ArrayList<>();
        if (t.compared() < th.minCompared()) {
            reasons.add(String.format(
                    Locale.ROOT,
                    "only %d requests compared in %d summary windows, at least %d needed (is the shadow running and"
                            + " the diff job caught up?)",
                    t.compared(), t.windows(), th.minCompared()));
        }
        if (t.compared() > 0 && t.diffRate() > th.maxDiffRate()) {
            StringBuilder kinds = new StringBuilder();
            t.differingByKind().forEach((k, v) -> {
                if (v > 0) {
                    kinds.append(kinds.length() == 0 ? "" : ", ").append(k).append(' ').append(v);
                }
            });
            reasons.add(String.format(
                    Locale.ROOT,
                    "diff rate %.4f (%d of %d compared requests differ: %s) above --max-diff-rate %s",
                    t.diffRate(), t.differing(), t.compared(), kinds, th.maxDiffRate()));
        }
        if (t.unmatchedRate() > th.maxUnmatched()) {
            reasons.add(String.format(
                    Locale.ROOT,
                    "unmatched rate %.4f (%d production results without a candidate result, %d candidate results"
                            + " without a production result) above --max-unmatched %s",
                    t.unmatchedRate(), t.unmatchedPrimary(), t.unmatchedCandidate(), th.maxUnmatched()));
        }
        double ratio = latencyRatio(t, th);
        if (!Double.isNaN(ratio) && ratio > th.maxLatencyRatio()) {
            reasons.add(String.format(
                    Locale.ROOT,
                    "p99 latency ratio %.2f (candidate %d ms, production %d ms, floor %d ms) above"
                            + " --max-latency-ratio %s",
                    ratio, t.p99CandidateMs(), t.p99PrimaryMs(), th.latencyFloorMs(), th.maxLatencyRatio()));
        }
        return new Verdict(reasons.isEmpty(), List.copyOf(reasons), t, th);
    }

    private static double latencyRatio(Totals t, Thresholds th) {
        long p = t.p99PrimaryMs();
        long c = t.p99CandidateMs();
        if (p < 0 || c < 0) {
            return Double.NaN;
        }
        long floor = Math.max(1, th.latencyFloorMs());
        return (double) Math.max(c, floor) / Math.max(p, floor);
    }

    private static Map<String, Long> histogram(JsonNode n) {
        Map<String, Long> m = new TreeMap<>();
        if (n != null && n.isObject()) {
            n.fields().forEachRemaining(e -> m.put(e.getKey(), e.getValue().asLong()));
        }
        return m;
    }

    private static Instant instant(JsonNode n) {
        if (n == null || !n.isTextual()) {
            return null;
        }
        try {
            return Instant.parse(n.asText());
        } catch (DateTimeParseException e) {
            return null;
        }
    }
}
