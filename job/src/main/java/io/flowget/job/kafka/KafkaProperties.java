package io.flowget.job.kafka;

import io.flowget.job.JobOptions;

import org.apache.flink.configuration.Configuration;

import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;

/**
 * The Kafka client settings a deployment adds to every Kafka client flowget creates ({@code
 * flowget.kafka.properties.<key>: value}, e.g. {@code flowget.kafka.properties.security.protocol: SASL_SSL}): the
 * job's source and sinks, the diff job's tables, the canary's reader and {@code run}'s producer, reader and admin.
 * flowget's own settings (bootstrap servers, group id, isolation level, serializers, transactions) are applied after
 * these and win.
 *
 * <p>Stateless and thread-safe.
 */
public final class KafkaProperties {
    /** Prefix of the keys whose rest is a Kafka client setting. */
    public static final String PREFIX = JobOptions.KAFKA_PROPERTIES.key() + ".";

    private KafkaProperties() {}

    /** The {@code flowget.kafka.properties.*} entries of {@code conf}, prefix removed, sorted by key. */
    public static Map<String, String> map(Configuration conf) {
        // A map option reads both forms: prefixed keys and the one-line `key:value,key:value`.
        return new TreeMap<>(conf.getOptional(JobOptions.KAFKA_PROPERTIES).orElse(Map.of()));
    }

    /** {@link #map} as {@link Properties}, for the Kafka clients and the connector's builders. */
    public static Properties of(Configuration conf) {
        Properties p = new Properties();
        p.putAll(map(conf));
        return p;
    }

    /** True for a key under {@link #PREFIX} (accepted by {@code --set} without being a declared option). */
    public static boolean isKafkaProperty(String key) {
        return key.startsWith(PREFIX) && key.length() > PREFIX.length();
    }

    /** {@code conf} without its {@code flowget.kafka.properties.*} entries (for the embedded, plain-text broker). */
    public static Configuration without(Configuration conf) {
        Configuration out = new Configuration();
        conf.toMap().forEach((k, v) -> {
            if (!k.startsWith(PREFIX) && !k.equals(JobOptions.KAFKA_PROPERTIES.key())) {
                out.setString(k, v);
            }
        });
        return out;
    }
}
