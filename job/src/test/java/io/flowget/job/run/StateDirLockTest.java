package io.flowget.job.run;

import io.flowget.job.cli.ExitCodes;
import io.flowget.job.cli.FlowgetCli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** One owner per state dir: the lock refuses a second holder with a message naming the first, and is released. */
class StateDirLockTest {
    @TempDir Path tmp;

    @Test
    void aSecondHolderIsRefusedUntilTheFirstReleases() throws Exception {
        Path state = tmp.resolve("state");
        try (StateDirLock first = StateDirLock.acquire(state, StateDirLock.Kind.DAEMON)) {
            assertThat(StateDirLock.holder(state))
                    .isEqualTo(new StateDirLock.Holder(ProcessHandle.current().pid(), StateDirLock.Kind.DAEMON));
            assertThatThrownBy(() -> StateDirLock.acquire(state, StateDirLock.Kind.RUN))
                    .isInstanceOf(StateDirLock.InUse.class)
                    .hasMessageContaining("is in use by a flowget daemon (pid " + ProcessHandle.current().pid())
                    .hasMessageContaining("flowget daemon stop --state-dir " + state.toAbsolutePath())
                    .satisfies(e -> assertThat(((StateDirLock.InUse) e).holderKind())
                            .isEqualTo(StateDirLock.Kind.DAEMON));
        }
        try (StateDirLock again = StateDirLock.acquire(state, StateDirLock.Kind.RUN)) {
            assertThat(StateDirLock.holder(state).kind()).isEqualTo(StateDirLock.Kind.RUN);
        }
    }

    @Test
    void aColdRunOnAHeldStateDirExitsWithTheUsageStatusBeforeAnyWork() throws Exception {
        Path state = tmp.resolve("state");
        Path urls = Files.writeString(tmp.resolve("urls.txt"), "http://127.0.0.1:9/a\n");
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        try (StateDirLock held = StateDirLock.acquire(state, StateDirLock.Kind.RUN)) {
            int code = FlowgetCli.execute(
                    new String[] {"run", "--urls", urls.toString(), "--out", tmp.resolve("out").toString(),
                        "--state-dir", state.toString(), "--quiet"},
                    new PrintStream(new ByteArrayOutputStream()), new PrintStream(err, true, StandardCharsets.UTF_8));
            assertThat(code).isEqualTo(ExitCodes.USAGE);
        }
        assertThat(err.toString(StandardCharsets.UTF_8))
                .contains("flowget: state dir " + state.toAbsolutePath() + " is in use by another flowget run (pid "
                        + ProcessHandle.current().pid() + ")");
        assertThat(state.resolve("run.json")).doesNotExist(); // refused before the resume protocol touched anything
        assertThat(state.resolve("kafka")).doesNotExist();
    }
}
