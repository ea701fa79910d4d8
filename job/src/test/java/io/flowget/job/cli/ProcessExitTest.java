package io.flowget.job.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link ProcessExit} in a child JVM: with the launcher's status file and nothing left to do, the JVM leaves its status
 * in the file and dies by {@code SIGKILL} (exit 137 as the parent sees it, stdout flushed before); otherwise, and
 * without the file, it exits with its status and leaves the file alone; a JVM whose launcher ends first ends too. The
 * launcher's side (reading the file back) is {@code LauncherTest}.
 */
class ProcessExitTest {
    @TempDir Path tmp;

    /** The child: prints a line without a newline flush of its own, then ends through {@link ProcessExit}. */
    public static final class Child {
        public static void main(String[] args) throws Exception {
            ProcessExit.prepare();
            System.out.print("summary line");
            if (args[0].equals("wait")) {
                Files.writeString(Path.of(args[1]), "ready");
                Thread.sleep(120_000); // until the launcher's end ends it
                System.exit(99);
            }
            ProcessExit.exit(Integer.parseInt(args[0]), Boolean.parseBoolean(args[1]));
        }
    }

    private record Ended(int exit, String stdout) {}

    private Ended run(Path statusFile, int status, boolean nothingLeft, String... jvmOptions) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        cmd.addAll(List.of(jvmOptions));
        cmd.addAll(List.of(
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
    void aJvmRecordingAFlightOrProfiledByAnAgentExitsNormallySoItsOutputIsWritten() throws Exception {
        Path file = Files.createFile(tmp.resolve("status"));
        Path recording = tmp.resolve("run.jfr");

        Ended e = run(file, 2, true, "-XX:StartFlightRecording=filename=" + recording);

        assertThat(e.exit()).as("not killed").isEqualTo(2);
        assertThat(Files.readString(file)).isEmpty();
        assertThat(recording).as("the recording written at exit").isNotEmptyFile();
        assertThat(ProcessExit.writesAtExit("-agentpath:/opt/ap/libasyncProfiler.so=start,event=cpu,file=p.jfr"))
                .isTrue();
        assertThat(ProcessExit.writesAtExit("-javaagent:agent.jar")).isTrue();
        assertThat(ProcessExit.writesAtExit("-Xmx1g")).isFalse();
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
    void whenTheLauncherEndsFirstTheJvmEndsToo() throws Exception {
        Path file = Files.createFile(tmp.resolve("status"));
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Path ready = tmp.resolve("ready");
        ProcessBuilder pb = new ProcessBuilder("sh", "-c",
                "\"$0\" -cp \"$1\" \"$2\" wait \"$3\" >/dev/null 2>&1 & echo $!; i=0;"
                        + " while [ ! -s \"$3\" ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done",
                java, System.getProperty("java.class.path"), Child.class.getName(), ready.toString());
        pb.environment().put(ProcessExit.STATUS_FILE_ENV, file.toString());
        Process launcher = pb.redirectError(ProcessBuilder.Redirect.DISCARD).start();
        long pid = Long.parseLong(new String(launcher.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim());
        assertThat(launcher.waitFor(3, TimeUnit.MINUTES)).as("the stand-in launcher ended").isTrue();
        assertThat(ready).as("the JVM was watching its launcher before it ended").exists();

        ProcessHandle jvm = ProcessHandle.of(pid).orElse(null);
        if (jvm != null) {
            jvm.onExit().get(1, TimeUnit.MINUTES); // the JVM polls for its parent every 0.3-5 s
        }
        assertThat(ProcessHandle.of(pid).map(ProcessHandle::isAlive)).as("JVM %d gone", pid)
                .isNotEqualTo(Optional.of(true));
        assertThat(Files.readString(file)).as("no status: nothing completed").isEmpty();
    }

    @Test
    void withoutTheLauncherItExitsNormally() throws Exception {
        Ended e = run(null, 0, true);

        assertThat(e.exit()).isZero();
        assertThat(e.stdout()).isEqualTo("summary line");
    }
}
