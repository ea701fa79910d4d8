package io.flowget.job;

import org.apache.flink.configuration.Configuration;

import org.apache.kafka.clients.producer.ProducerConfig;
import org.junit.jupiter.api.Test;

import java.util.Properties;

import static org.assertj.core.api.Assertions.assertThat;

/** The results and dead-letter producers batch more than Kafka's defaults, and a deployment's own setting wins. */
class SinkProducerConfigTest {
    @Test
    void theSinksBatchPerPartitionForUpToALingerOfTheirOwn() {
        Properties p = FlowgetJob.sinkProducerConfig(new Configuration());

        // Kafka 4.2's defaults are 5 ms and 16 KiB: a produce request every few results.
        assertThat(p.getProperty(ProducerConfig.LINGER_MS_CONFIG)).isEqualTo("100");
        assertThat(p.getProperty(ProducerConfig.BATCH_SIZE_CONFIG)).isEqualTo(Integer.toString(256 * 1024));
    }

    @Test
    void aDeploymentsKafkaPropertiesWinOverTheSinksBatching() {
        Configuration conf = new Configuration();
        conf.setString("flowget.kafka.properties.linger.ms", "7");
        conf.setString("flowget.kafka.properties.security.protocol", "SSL");

        Properties p = FlowgetJob.sinkProducerConfig(conf);

        assertThat(p.getProperty(ProducerConfig.LINGER_MS_CONFIG)).isEqualTo("7");
        assertThat(p.getProperty(ProducerConfig.BATCH_SIZE_CONFIG)).isEqualTo(Integer.toString(256 * 1024));
        assertThat(p.getProperty("security.protocol")).isEqualTo("SSL");
    }
}
