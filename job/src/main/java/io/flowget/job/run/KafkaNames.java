package io.flowget.job.run;

import io.flowget.job.JobOptions;

import org.apache.flink.configuration.Configuration;

import com.fasterxml.jackson.databind.JsonNode;

import java.security.SecureRandom;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The Kafka names one {@code flowget run} uses: its requests, results and dead-letter topics, the transactional-id
 * prefix of its sinks and the group id of its source. A fresh run on the embedded broker gets names of its own
 * ({@link #forRun}: the configured names with {@code .<run id>} appended, the prefix and group with
 * {@code -<run id>}), because a daemon's broker outlives its runs: a new run must not read an old run's requests or
 * results, nor find the old run's transactions under its prefix (a read_committed reader stops at an open one).
 * {@link RunState} records them in {@code run.json}, so a resumed run uses the same names, cold or through a daemon.
 *
 * <p>An immutable value.
 */
record KafkaNames(String requests, String results, String deadLetter, String transactionalIdPrefix, String groupId) {
    private static final SecureRandom RANDOM = new SecureRandom();

    /** The names {@code conf} configures (the run's group is the configured one with {@code -run}). */
    static KafkaNames configured(Configuration conf) {
        return new KafkaNames(
                conf.get(JobOptions.KAFKA_REQUESTS_TOPIC),
                conf.get(JobOptions.KAFKA_RESULTS_TOPIC),
                conf.get(JobOptions.KAFKA_DEAD_LETTER_TOPIC),
                conf.get(JobOptions.KAFKA_TRANSACTIONAL_ID_PREFIX),
                conf.get(JobOptions.KAFKA_GROUP_ID) + "-run");
    }

    /** A new run id: the time in base 36 and four random hex digits, e.g. {@code mi9x2k1c-3f0a}. */
    static String newRunId() {
        return Long.toString(System.currentTimeMillis(), 36) + "-"
                + String.format(Locale.ROOT, "%04x", RANDOM.nextInt(0x10000));
    }

    /** These names made a run's own (topics stay valid Kafka names: letters, digits, '.', '-', '_'). */
    KafkaNames forRun(String runId) {
        return new KafkaNames(requests + "." + runId, results + "." + runId, deadLetter + "." + runId,
                transactionalIdPrefix + "-" + runId, groupId + "-" + runId);
    }

    /** The three topics. */
    List<String> topics() {
        return List.of(requests, results, deadLetter);
    }

    /** Sets these names in a job's configuration. */
    void applyTo(Configuration conf) {
        conf.set(JobOptions.KAFKA_REQUESTS_TOPIC, requests);
        conf.set(JobOptions.KAFKA_RESULTS_TOPIC, results);
        conf.set(JobOptions.KAFKA_DEAD_LETTER_TOPIC, deadLetter);
        conf.set(JobOptions.KAFKA_TRANSACTIONAL_ID_PREFIX, transactionalIdPrefix);
        conf.set(JobOptions.KAFKA_GROUP_ID, groupId);
    }

    /** The {@code run.json} form. */
    Map<String, String> toMap() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("requests_topic", requests);
        m.put("results_topic", results);
        m.put("dead_letter_topic", deadLetter);
        m.put("transactional_id_prefix", transactionalIdPrefix);
        m.put("group_id", groupId);
        return m;
    }

    /** Reads {@link #toMap()}'s form; null when {@code n} is missing or incomplete (an older build's run.json). */
    static KafkaNames read(JsonNode n) {
        if (n == null || !n.isObject()) {
            return null;
        }
        String[] v = new String[5];
        String[] keys = {"requests_topic", "results_topic", "dead_letter_topic", "transactional_id_prefix", "group_id"};
        for (int i = 0; i < keys.length; i++) {
            JsonNode x = n.get(keys[i]);
            if (x == null || !x.isTextual() || x.asText().isEmpty()) {
                return null;
            }
            v[i] = x.asText();
        }
        return new KafkaNames(v[0], v[1], v[2], v[3], v[4]);
    }
}
