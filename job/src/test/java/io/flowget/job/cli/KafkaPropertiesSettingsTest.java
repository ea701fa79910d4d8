package io.flowget.job.cli;

import io.flowget.job.kafka.KafkaProperties;

import org.apache.flink.configuration.Configuration;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** {@code --set flowget.kafka.properties.<key>=value}: accepted, collected, and dropped for the embedded broker. */
class KafkaPropertiesSettingsTest {
    @Test
    void prefixedKeysPassTheOptionCheckAndBecomeClientSettings() {
        Configuration conf =
                Settings.load(
                        null,
                        List.of(
                                "flowget.kafka.properties.security.protocol=SASL_SSL",
                                "flowget.kafka.properties.sasl.mechanism=SCRAM-SHA-512",
                                "flowget.host.max-concurrency=3"),
                        true);

        assertThat(KafkaProperties.map(conf))
                .isEqualTo(Map.of("security.protocol", "SASL_SSL", "sasl.mechanism", "SCRAM-SHA-512"));
        assertThat(KafkaProperties.of(conf)).containsEntry("security.protocol", "SASL_SSL");
        assertThat(KafkaProperties.map(KafkaProperties.without(conf))).isEmpty();
        assertThat(KafkaProperties.without(conf).toMap()).containsEntry("flowget.host.max-concurrency", "3");
        assertThatThrownBy(() -> Settings.load(null, List.of("flowget.kafka.propertiesx=1"), true))
                .isInstanceOf(UsageException.class);
    }

    @Test
    void theOneLineMapFormWorksToo() {
        Configuration conf = new Configuration();
        conf.setString("flowget.kafka.properties", "security.protocol:SSL,ssl.truststore.type:PEM");
        assertThat(KafkaProperties.map(conf))
                .isEqualTo(Map.of("security.protocol", "SSL", "ssl.truststore.type", "PEM"));
    }
}
