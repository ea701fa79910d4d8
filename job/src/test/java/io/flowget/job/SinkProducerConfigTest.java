package io.flowget.job;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.ExecutionOptions;

import org.apache.kafka.clients.producer.ProducerConfig;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Properties;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The results and dead-letter producers batch more than Kafka's defaults, a deployment's own setting wins, and their
 * writers' idle flush waits out the gaps between network buffers of a steady stream.
 */
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

    @Test
    void theIdleFlushWaitsLongerThanTwoNetworkBufferTimeouts() {
        Configuration run = new Configuration();
        run.set(ExecutionOptions.BUFFER_TIMEOUT, Duration.ofMillis(10)); // what run's job sends with (LocalRun)
        Configuration always = new Configuration();
        always.set(ExecutionOptions.BUFFER_TIMEOUT, Duration.ZERO); // every record sent at once
        Configuration whenFull = new Configuration();
        whenFull.set(ExecutionOptions.BUFFER_TIMEOUT_ENABLED, false);

        assertThat(FlowgetJob.sinkIdleFlush(run)).isEqualTo(Duration.ofMillis(25));
        assertThat(FlowgetJob.sinkIdleFlush(new Configuration())).isEqualTo(Duration.ofMillis(205)); // Flink's 100 ms
        assertThat(FlowgetJob.sinkIdleFlush(always)).isEqualTo(FlowgetJob.SINK_IDLE_FLUSH_MIN);
        assertThat(FlowgetJob.sinkIdleFlush(whenFull)).isEqualTo(FlowgetJob.SINK_IDLE_FLUSH_MIN);
    }
}
