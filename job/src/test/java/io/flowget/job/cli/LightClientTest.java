package io.flowget.job.cli;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * {@link LightClient}'s own reading of {@code run}'s arguments (the state dir it connects to, whether stdin goes to the
 * daemon) and what it hands to the full command line instead. A run it streams through a real daemon:
 * {@code DaemonITCase.theLightClientStreamsARunFromStdinThroughTheDaemon}.
 */
class LightClientTest {
    @TempDir Path tmp;

    @Test
    void readsTheStateDirInBothFormsAndDefaultsToDotFlowget() {
        assertThat(LightClient.read(List.of("run", "--urls", "u.txt", "--out", "o", "--state-dir", "s/d", "-q")))
                .contains(new LightClient.Plain(Path.of("s/d"), false));
        assertThat(LightClient.read(List.of("run", "--state-dir=/x/y", "--urls=-", "--out=o", "--quiet")))
                .contains(new LightClient.Plain(Path.of("/x/y"), true));
        assertThat(LightClient.read(List.of("run", "--urls", "-", "--out", "o", "--set", "a=b", "--set", "c=d",
                "--web-ui", "--timeout", "PT1M", "--wait-for-daemon", "PT0S", "--results", "r.jsonl")))
                .contains(new LightClient.Plain(Path.of(FlowgetCli.DEFAULT_STATE_DIR), true));
    }

    @Test
    void aValueThatLooksLikeAnOptionIsAValue() {
        // picocli takes the next argument as the value of an option that needs one
        assertThat(LightClient.read(List.of("run", "--urls", "--state-dir", "--out", "o")))
                .contains(new LightClient.Plain(Path.of(FlowgetCli.DEFAULT_STATE_DIR), false));
    }

    @Test
    void whatItDoesNotReadPlainlyGoesToTheFullCommandLine() {
        for (List<String> args : List.<List<String>>of(
                List.of(),
                List.of("demo"),
                List.of("run", "--help"),
                List.of("run", "-h"),
                List.of("run", "-V"),
                List.of("run", "@args.txt"),
                List.of("run", "--urls", "u", "--out", "o", "--bootstrap-servers", "k:9092"),
                List.of("run", "--urls", "u", "--out", "o", "--state-dir", "a", "--state-dir", "b"),
                List.of("run", "--urls", "u", "--out", "o", "stray"),
                List.of("run", "--urls", "u", "--out", "o", "--state-dir"),
                List.of("run", "--urls", "u", "--out", "o", "--state-dir="),
                List.of("run", "--urls", "u", "--out", "o", "-qx"))) {
            assertThat(LightClient.read(args)).as("%s", args).isEqualTo(Optional.empty());
        }
    }

    @Test
    void withoutADaemonTheLauncherIsToldToRunCold() throws Exception {
        Path state = Files.createDirectories(tmp.resolve("state")); // no daemon.json
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = LightClient.run(List.of("run", "--urls", "-", "--out", "o", "--state-dir", "state"), tmp, null,
                new ByteArrayInputStream(new byte[0]), new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8), false);
        assertThat(code).isEqualTo(ExitCodes.RERUN_COLD);
        assertThat(out.size() + err.size()).isZero();
        assertThat(state).isEmptyDirectory();
    }

    @Test
    void helpComesFromTheFullCommandLine() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int code = LightClient.run(List.of("run", "--help"), tmp, null, new ByteArrayInputStream(new byte[0]),
                new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(new ByteArrayOutputStream()),
                false);
        assertThat(code).isZero();
        assertThat(out.toString(StandardCharsets.UTF_8)).contains("--state-dir").contains("--urls");
    }
}
