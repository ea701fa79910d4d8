package io.flowget.job.run;

import static org.assertj.core.api.Assertions.assertThat;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.ExecutionOptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * What {@code run} decides for its own fixed overhead (issue 16): the network buffer timeout of its job, and whether it
 * waits for the dead-letter sink's last commit before it answers.
 */
class RunTailSettingsTest {
    @TempDir Path tmp;

    @Test
    void aRunsJobFlushesPartlyFilledNetworkBuffersAfterTenMillisecondsUnlessTheUserSaysOtherwise() throws Exception {
        Files.createDirectories(tmp.resolve("state"));
        Files.createDirectories(tmp.resolve("out"));
        Configuration conf = LocalRun.runConfiguration(new Configuration(), KafkaNames.configured(new Configuration()),
                tmp.resolve("state"), tmp.resolve("out"), 10);
        assertThat(conf.get(ExecutionOptions.BUFFER_TIMEOUT)).isEqualTo(Duration.ofMillis(10));

        Configuration set = new Configuration();
        set.set(ExecutionOptions.BUFFER_TIMEOUT, Duration.ofMillis(100));
        assertThat(LocalRun.runConfiguration(set, KafkaNames.configured(set), tmp.resolve("state"),
                tmp.resolve("out"), 10).get(ExecutionOptions.BUFFER_TIMEOUT)).isEqualTo(Duration.ofMillis(100));
    }

    @Test
    void theDeadLetterCommitIsAwaitedOnlyWhenItsTopicOutlivesTheRun() {
        // a daemon's run on its embedded broker: the topics are deleted right after the answer
        assertThat(LocalRun.deadLettersOutliveRun(true, true, false)).isFalse();
        // a cold run whose process ends at once on the embedded broker
        assertThat(LocalRun.deadLettersOutliveRun(false, true, true)).isFalse();
        // a given broker (--bootstrap-servers), or a run in a JVM that goes on (tests): the topic stays
        assertThat(LocalRun.deadLettersOutliveRun(false, false, false)).isTrue();
        assertThat(LocalRun.deadLettersOutliveRun(false, true, false)).isTrue();
    }
}
