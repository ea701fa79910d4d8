package io.flowget.job.run;

import static org.assertj.core.api.Assertions.assertThat;

import io.flowget.udf.config.FlowgetOptions;

import org.apache.flink.configuration.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Which runs keep their HTTP client for the next one ({@code flowget.http.client-linger}, issue 16): a daemon's runs
 * unless the run says otherwise, never its warm-up's rounds, never a cold run.
 */
class KeptHttpClientSettingTest {
    @TempDir Path tmp;

    @Test
    void aColdRunClosesItsClientWithTheRun() throws Exception {
        Path state = Files.createDirectories(tmp.resolve("cold/state"));
        Path out = Files.createDirectories(tmp.resolve("cold/out"));
        Configuration none = new Configuration();
        assertThat(LocalRun.runConfiguration(none, KafkaNames.configured(none), state, out, 1)
                .get(FlowgetOptions.HTTP_CLIENT_LINGER)).isZero();
    }

    @Test
    void aDaemonsRunKeepsItUnlessItSetsTheLingerAndTheWarmUpNever() {
        Configuration run = new Configuration();
        LocalRun.keepHttpClient(run, false);
        assertThat(run.get(FlowgetOptions.HTTP_CLIENT_LINGER)).isEqualTo(LocalRun.DAEMON_CLIENT_LINGER);

        Configuration set = new Configuration();
        set.set(FlowgetOptions.HTTP_CLIENT_LINGER, Duration.ZERO);
        LocalRun.keepHttpClient(set, false);
        assertThat(set.get(FlowgetOptions.HTTP_CLIENT_LINGER)).as("the run's own value").isZero();

        Configuration warmUp = new Configuration();
        warmUp.set(FlowgetOptions.HTTP_CLIENT_LINGER, Duration.ofMinutes(1)); // e.g. on the daemon's settings
        LocalRun.keepHttpClient(warmUp, true);
        assertThat(warmUp.get(FlowgetOptions.HTTP_CLIENT_LINGER)).isZero();
    }
}
