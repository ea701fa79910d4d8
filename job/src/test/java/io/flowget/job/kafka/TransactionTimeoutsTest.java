package io.flowget.job.kafka;

import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;

import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The start-up rule for the results transactions' timeout (issue 15), on plain configurations. */
class TransactionTimeoutsTest {

    /** conf/config.yaml's checkpointing and restart settings. */
    private static Configuration production() {
        Configuration c = new Configuration();
        c.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofSeconds(30));
        c.set(CheckpointingOptions.CHECKPOINTING_TIMEOUT, Duration.ofMinutes(10));
        c.set(CheckpointingOptions.MIN_PAUSE_BETWEEN_CHECKPOINTS, Duration.ofSeconds(10));
        c.set(CheckpointingOptions.TOLERABLE_FAILURE_NUMBER, 3);
        c.set(RestartStrategyOptions.RESTART_STRATEGY, "exponential-delay");
        c.set(RestartStrategyOptions.RESTART_STRATEGY_EXPONENTIAL_DELAY_MAX_BACKOFF, Duration.ofMinutes(2));
        return c;
    }

    @Test
    void longestOpenCountsEveryToleratedFailureItsPauseTheCommittingCheckpointAndARestart() {
        // 4 x (10 min + 10 s) + 10 min + 2 min
        assertThat(TransactionTimeouts.longestOpen(production())).isEqualTo(Duration.ofSeconds(4 * 610 + 600 + 120));
    }

    @Test
    void theIntervalCountsWhenItIsLongerThanATimedOutCheckpoint() {
        Configuration c = production();
        c.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofMinutes(20));
        c.set(CheckpointingOptions.TOLERABLE_FAILURE_NUMBER, 0);
        c.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        assertThat(TransactionTimeouts.longestOpen(c)).isEqualTo(Duration.ofMinutes(30));
    }

    @Test
    void theOldMarginsAreRefusedNamingTheKeys() {
        // The old rule: 15 min > checkpoint timeout 10 min. Commits can come 52 min 40 s after the transaction opened.
        assertThatThrownBy(() -> TransactionTimeouts.validate(production(), Duration.ofMinutes(15), null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("flowget.kafka.transaction-timeout (15m)")
                .hasMessageContaining("52m40s")
                .hasMessageContaining("execution.checkpointing.tolerable-failed-checkpoints 3")
                .hasMessageContaining("execution.checkpointing.timeout 10m")
                .hasMessageContaining("execution.checkpointing.min-pause 10s")
                .hasMessageContaining("execution.checkpointing.interval 30s");
        // The old code default equalled Flink's default checkpoint timeout.
        assertThat(TransactionTimeouts.problems(new Configuration(), Duration.ofMinutes(10), null)).hasSize(1);
    }

    @Test
    void aTimeoutAboveTheBrokersMaximumIsRefused() {
        assertThat(TransactionTimeouts.problems(production(), Duration.ofHours(1), Duration.ofHours(1))).isEmpty();
        assertThat(TransactionTimeouts.problems(production(), Duration.ofHours(1), Duration.ofMinutes(15)))
                .singleElement()
                .asString()
                .contains("transaction.max.timeout.ms (15m)")
                .contains("flowget.kafka.transaction-timeout (1h)");
    }

    @Test
    void bothProblemsAreReportedTogether() {
        assertThat(TransactionTimeouts.problems(production(), Duration.ofMinutes(20), Duration.ofMinutes(15)))
                .hasSize(2);
    }

    @Test
    void restartDelayFollowsTheStrategy() {
        Configuration c = new Configuration();
        c.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
        c.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofSeconds(7));
        assertThat(TransactionTimeouts.restartDelay(c)).isEqualTo(Duration.ofSeconds(7));
        c.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        assertThat(TransactionTimeouts.restartDelay(c)).isZero();
    }
}
