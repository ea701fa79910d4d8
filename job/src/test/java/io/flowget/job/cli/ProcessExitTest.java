package io.flowget.job.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link ProcessExit} in a child JVM: with the launcher's status file and nothing left to do, the JVM leaves its status
 * in the file and dies by {@code SIGKILL} (exit 137 as the parent sees it, stdout flushed before); otherwise, and
 * without the file, it exits with its status and leaves the file alone. The launcher's side (reading the file back) is
 * {@code LauncherTest}.
 */
class ProcessExitTest {
    @TempDir Path tmp;

    /** The child: prints a line without a newline flush of its own, then ends through {@link ProcessExit}. */
    public static final class Child {
        public static void main(String[] args) {
            System.out.print("summary line");
            ProcessExit.exit(Integer.parseInt(args[0]), Boolean.parseBoolean(args[1]));
        }
    }

    private record Ended(int exit, String stdout) {}

    private Ended run(Path statusFile, int status, boolean nothingLeft) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"),
                Child.class.getName(), Integer.toString(status), Boolean.toString(nothingLeft)));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD);
        pb.environment().remove(ProcessExit.STATUS_FILE_ENV);
        if (statusFile != null) {
            pb.environment().put(ProcessExit.STATUS_FILE_ENV, statusFile.toString());
        }
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(2, TimeUnit.MINUTES)).as("child ended").isTrue();
        return new Ended(p.exitValue(), out);
    }

    @Test
    void withTheLaunchersStatusFileACompletedRunLeavesItsStatusAndIsKilled() throws Exception {
        Path file = Files.createFile(tmp.resolve("status"));

        Ended e = run(file, 2, true);

        assertThat(e.exit()).as("killed by SIGKILL").isEqualTo(128 + 9);
        assertThat(Files.readString(file).trim()).isEqualTo("2");
        assertThat(e.stdout()).as("stdout flushed before the kill").isEqualTo("summary line");
    }

    @Test
    void withSomethingLeftToDoItExitsNormally() throws Exception {
        Path file = Files.createFile(tmp.resolve("status"));

        Ended e = run(file, 2, false);

        assertThat(e.exit()).isEqualTo(2);
        assertThat(Files.readString(file)).isEmpty();
        assertThat(e.stdout()).isEqualTo("summary line");
    }

    @Test
    void withoutTheLauncherItExitsNormally() throws Exception {
        Ended e = run(null, 0, true);

        assertThat(e.exit()).isZero();
        assertThat(e.stdout()).isEqualTo("summary line");
    }
}
