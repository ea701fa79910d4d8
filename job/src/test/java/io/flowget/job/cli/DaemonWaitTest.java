package io.flowget.job.cli;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link FlowgetCli#daemonWait}: how long a client's {@code run} waits for a busy daemon, read by the daemon from the
 * client's arguments before the run has its turn.
 */
class DaemonWaitTest {
    private static final List<String> RUN = List.of("run", "--urls", "u.txt", "--out", "out");

    @Test
    void theDefaultIsOneMinute() {
        assertThat(FlowgetCli.daemonWait(RUN)).isEqualTo(Duration.ofMinutes(1));
    }

    @Test
    void theFlagSetsItInEitherSpelling() {
        assertThat(FlowgetCli.daemonWait(with("--wait-for-daemon", "PT5S"))).isEqualTo(Duration.ofSeconds(5));
        assertThat(FlowgetCli.daemonWait(with("--wait-for-daemon=PT0S"))).isZero();
    }

    @Test
    void argumentsThatDoNotParseWaitTheDefaultAndANegativeBoundNotAtAll() {
        assertThat(FlowgetCli.daemonWait(with("--no-such-flag"))).isEqualTo(Duration.ofMinutes(1));
        assertThat(FlowgetCli.daemonWait(with("--wait-for-daemon", "soon"))).isEqualTo(Duration.ofMinutes(1));
        assertThat(FlowgetCli.daemonWait(with("--wait-for-daemon", "PT-5S"))).isZero();
    }

    private static List<String> with(String... extra) {
        List<String> args = new java.util.ArrayList<>(RUN);
        args.addAll(List.of(extra));
        return args;
    }
}
