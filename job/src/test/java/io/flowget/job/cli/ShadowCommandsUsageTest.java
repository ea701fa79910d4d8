package io.flowget.job.cli;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Usage errors of {@code flowget diff} and {@code flowget canary} exit 64 before touching Kafka or Flink. */
class ShadowCommandsUsageTest {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();

    private int run(String... args) {
        return FlowgetCli.execute(
                args,
                new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    @Test
    void diffNeedsKafkaAndTwoDifferentTopics() {
        assertThat(run("diff", "--bounded")).isEqualTo(ExitCodes.USAGE);
        assertThat(err.toString(StandardCharsets.UTF_8)).contains("--bootstrap-servers");
        assertThat(run("diff", "--bootstrap-servers", "127.0.0.1:9", "--candidate-topic", "flowget.results"))
                .isEqualTo(ExitCodes.USAGE);
        assertThat(run("diff", "--bootstrap-servers", "127.0.0.1:9", "--interval", "PT0S")).isEqualTo(ExitCodes.USAGE);
        assertThat(run("diff", "--bootstrap-servers", "127.0.0.1:9", "--set", "flowget.diff.join-intervall=1 min"))
                .as("unknown key")
                .isEqualTo(ExitCodes.USAGE);
    }

    @Test
    void canaryRejectsBadBoundsAndTimes() {
        assertThat(run("canary")).isEqualTo(ExitCodes.USAGE);
        assertThat(run("canary", "--bootstrap-servers", "127.0.0.1:9", "--max-diff-rate", "2")).isEqualTo(ExitCodes.USAGE);
        assertThat(run("canary", "--bootstrap-servers", "127.0.0.1:9", "--max-latency-ratio", "0")).isEqualTo(ExitCodes.USAGE);
        assertThat(run("canary", "--bootstrap-servers", "127.0.0.1:9", "--since", "yesterday")).isEqualTo(ExitCodes.USAGE);
        assertThat(err.toString(StandardCharsets.UTF_8)).contains("--since");
    }

    @Test
    void sinceIsAnInstantOrADurationAgo() {
        Instant now = Instant.parse("2026-11-28T10:00:00Z");
        assertThat(CanaryCommand.parseTime("2026-11-28T09:00:00Z", now)).isEqualTo(Instant.parse("2026-11-28T09:00:00Z"));
        assertThat(CanaryCommand.parseTime("PT30M", now)).isEqualTo(now.minus(Duration.ofMinutes(30)));
        assertThat(CanaryCommand.parseTime("2 h", now)).isEqualTo(now.minus(Duration.ofHours(2)));
        assertThatThrownBy(() -> CanaryCommand.parseDuration("soon", "--window")).isInstanceOf(UsageException.class);
    }
}
