package io.flowget.job.run;

import org.apache.flink.configuration.Configuration;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The Kafka names of a run in {@code run.json}: a fresh run on the embedded broker gets its own, a resume keeps the
 * recorded ones (an older build's run.json: the configured ones), and a fresh run over an old one on a broker that
 * keeps running names the old run's topics for deletion instead of deleting the broker's data.
 */
class RunStateNamesTest {
    @TempDir Path state;

    private final KafkaNames configured = KafkaNames.configured(new Configuration());

    private InputStaging.Staged stage(String content) throws Exception {
        Path f = Files.writeString(state.resolve("in.txt"), content);
        return InputStaging.stage(f, null, state);
    }

    @Test
    void aFreshRunGetsItsOwnNamesAndAResumeKeepsThem() throws Exception {
        RunState first = RunState.open(state, stage("http://a/1\n"), configured, true, true);
        first.begin(1);
        assertThat(first.names().results()).startsWith("flowget.results.").isNotEqualTo(configured.results());
        assertThat(first.names().transactionalIdPrefix()).startsWith("flowget-");
        assertThat(first.names().groupId()).startsWith("flowget-run-");

        RunState resumed = RunState.open(state, stage("http://a/1\n"), configured, true, true);
        assertThat(resumed.resumed()).isTrue();
        assertThat(resumed.names()).isEqualTo(first.names());
        assertThat(resumed.staleNames()).isEmpty();
    }

    @Test
    void afreshOnARunningBrokerKeepsItsDataAndNamesTheOldTopics() throws Exception {
        RunState first = RunState.open(state, stage("http://a/1\n"), configured, true, true);
        first.begin(1);
        Files.createDirectories(state.resolve("kafka/log"));
        Files.createDirectories(state.resolve("checkpoints/job/chk-1"));

        RunState second = RunState.open(state, stage("http://b/2\n"), configured, true, false);
        assertThat(second.resumed()).isFalse();
        assertThat(second.names()).isNotEqualTo(first.names());
        assertThat(second.staleNames()).contains(first.names());
        assertThat(state.resolve("kafka/log")).isDirectory();
        assertThat(state.resolve("checkpoints")).doesNotExist();

        second.begin(1);
        RunState cold = RunState.open(state, stage("http://c/3\n"), configured, true, true);
        assertThat(state.resolve("kafka")).doesNotExist();
        assertThat(cold.staleNames()).isEmpty();
    }

    @Test
    void anOlderBuildsRunJsonResumesWithTheConfiguredNames() throws Exception {
        InputStaging.Staged s = stage("http://a/1\n");
        Files.writeString(state.resolve("run.json"),
                "{\"input_sha256\":\"" + s.sha256() + "\",\"requests\":1,\"produced\":true,\"complete\":false}");
        RunState resumed = RunState.open(state, s, configured, true, true);
        assertThat(resumed.resumed()).isTrue();
        assertThat(resumed.names()).isEqualTo(configured);
        assertThat(configured.results()).isEqualTo("flowget.results");
        assertThat(configured.groupId()).isEqualTo("flowget-run");
    }
}
