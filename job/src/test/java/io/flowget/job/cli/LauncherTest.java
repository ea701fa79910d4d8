package io.flowget.job.cli;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The {@code ./flowget} launcher's side of {@link ProcessExit}, run for real by bash against a fake {@code java} (a
 * script whose last argument says what to do) in a copy of the launcher with an empty jar beside it: {@code run} gets a
 * status file, a JVM that left its status there and was killed makes the launcher exit with that status (without
 * bash's "Killed" notice), a JVM killed without one stays 137, a normal exit status passes through, stdin reaches the
 * JVM, SIGINT is not left ignored (bash ignores it in background jobs), the temp file is removed; other commands are
 * exec'ed as before, without the file. And which runtime it picks (FLOWGET_JAVA_HOME over JAVA_HOME).
 */
class LauncherTest {
    private static final String FAKE_JAVA = """
            #!/usr/bin/env bash
            for a; do last="$a"; done
            case "$last" in
              leave-2-and-die) printf '2\\n' > "$FLOWGET_EXIT_STATUS_FILE"; kill -KILL $$ ;;
              exit-3) exit 3 ;;
              die) kill -KILL $$ ;;
              cat) cat ;;
              args) echo "$*" ;;
              light-or-111) case " $* " in
                  *" -Dflowget.client.light=true "*" -cp "*" io.flowget.job.cli.LightClient run "*) echo light; exit 111 ;;
                  *) echo full ;;
                esac ;;
              dump) for a; do case "$a" in -XX:ArchiveClassesAtExit=* | -XX:AOTCacheOutput=*) echo x > "${a#*=}" ;; esac; done ;;
              archive-or-111) case " $* " in *" -XX:SharedArchiveFile="* | *" -XX:AOTCache="*) archive=archive ;; *) archive=none ;; esac
                  case " $* " in
                  *" io.flowget.job.cli.LightClient run "*) echo "light $archive"; exit 111 ;;
                  *) echo "full $archive" ;;
                esac ;;
              env) echo "status_file=${FLOWGET_EXIT_STATUS_FILE:-none}"
                   awk '/^SigIgn/ {print "sigign=" $2}' /proc/self/status ;;
            esac
            """;

    @TempDir Path tmp;
    private Path launcher;
    private Path tempDir;

    private record Ended(int exit, String stdout, String stderr) {}

    @BeforeEach
    void copyLauncher() throws Exception {
        Path home = Files.createDirectories(tmp.resolve("home"));
        launcher = home.resolve("flowget");
        Files.copy(repoRoot().resolve("flowget"), launcher);
        Files.createDirectories(home.resolve("job/target"));
        Files.write(home.resolve("job/target/flowget.jar"), new byte[0]);
        Path java = Files.createDirectories(tmp.resolve("jdk/bin")).resolve("java");
        Files.writeString(java, FAKE_JAVA);
        for (Path p : List.of(launcher, java)) {
            Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        tempDir = Files.createDirectories(tmp.resolve("t"));
    }

    private Ended launch(String stdin, String... args) throws Exception {
        return launch(Map.of(), stdin, args);
    }

    private Ended launch(Map<String, String> env, String stdin, String... args) throws Exception {
        ProcessBuilder pb = new ProcessBuilder();
        pb.command().add("bash");
        pb.command().add(launcher.toString());
        pb.command().addAll(List.of(args));
        pb.environment().put("JAVA_HOME", tmp.resolve("jdk").toString());
        pb.environment().put("FLOWGET_CDS", "0");
        pb.environment().put("TMPDIR", tempDir.toString());
        pb.environment().remove(ProcessExit.STATUS_FILE_ENV);
        pb.environment().remove("FLOWGET_JAVA_OPTS");
        pb.environment().remove("FLOWGET_JAR");
        pb.environment().putAll(env);
        Path out = tmp.resolve("out.txt");
        Path err = tmp.resolve("err.txt");
        pb.redirectOutput(out.toFile()).redirectError(err.toFile());
        Process p = pb.start();
        p.getOutputStream().write(stdin.getBytes(StandardCharsets.UTF_8));
        p.getOutputStream().close();
        assertThat(p.waitFor(1, TimeUnit.MINUTES)).as("launcher ended").isTrue();
        return new Ended(p.exitValue(), Files.readString(out), Files.readString(err));
    }

    /**
     * Repeated: bash printed its "Killed" job notice when the JVM had itself killed before the launcher reached
     * {@code wait} (1-2 % of runs on a loaded machine), so one launch rarely showed it.
     */
    @Test
    void aRunThatLeftItsStatusAndWasKilledExitsWithThatStatus() throws Exception {
        for (int i = 0; i < 40; i++) {
            Ended e = launch("", "run", "leave-2-and-die");

            assertThat(e.exit()).isEqualTo(2);
            assertThat(e.stderr()).as("no job notice from bash (launch %s)", i).doesNotContain("Killed");
            try (var files = Files.list(tempDir)) {
                assertThat(files).as("the status file is removed").isEmpty();
            }
        }
    }

    @Test
    void aRunKilledWithoutAStatusStaysKilledAndAnExitStatusPassesThrough() throws Exception {
        assertThat(launch("", "run", "die").exit()).isEqualTo(137);
        assertThat(launch("", "run", "exit-3").exit()).isEqualTo(3);
    }

    @Test
    void aRunGetsStdinAndTheStatusFileAndSigintIsNotIgnored() throws Exception {
        assertThat(launch("line 1\nline 2\n", "run", "cat").stdout()).isEqualTo("line 1\nline 2\n");

        Ended env = launch("", "run", "env");

        assertThat(env.stdout()).contains("status_file=" + tempDir.resolve("flowget-status."));
        String mask = env.stdout().lines().filter(l -> l.startsWith("sigign=")).findFirst().orElseThrow()
                .substring("sigign=".length());
        assertThat(Long.parseUnsignedLong(mask, 16) & (1L << (2 - 1))).as("SIGINT ignored bit in %s", mask).isZero();
    }

    @Test
    void otherCommandsAreExecutedWithoutAStatusFile() throws Exception {
        Ended e = launch("", "demo", "env");

        assertThat(e.stdout()).contains("status_file=none");
        assertThat(launch("", "demo", "exit-3").exit()).isEqualTo(3);
    }

    /**
     * A run whose state dir names a live daemon (live pid, existing socket) gets the small client JVM with its own entry
     * point ({@link LightClient}, without the command line's parser); when that client
     * exits 111 (the daemon did not answer after all) the launcher runs the command again with the full JVM. A pointer
     * whose pid is gone is ignored.
     */
    @Test
    void aRunADaemonServesGetsTheSmallClientJvmAndFallsBackToTheFullOne() throws Exception {
        Path state = Files.createDirectories(tmp.resolve("state"));
        Path socket = tmp.resolve("d.sock");
        try (var server = java.nio.channels.ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
            server.bind(java.net.UnixDomainSocketAddress.of(socket));
            Files.writeString(state.resolve("daemon.json"),
                    "pid=" + ProcessHandle.current().pid() + "\nsocket=" + socket + "\nparallelism=2\n");
            Ended e = launch("", "run", "--state-dir", state.toString(), "light-or-111");
            assertThat(e.stdout()).isEqualTo("light\nfull\n");
            assertThat(e.exit()).isZero();

            Files.writeString(state.resolve("daemon.json"), "pid=999999999\nsocket=" + socket + "\n");
            assertThat(launch("", "run", "--state-dir", state.toString(), "light-or-111").stdout()).isEqualTo("full\n");
        }
    }

    /**
     * The small client JVM maps no archive of flowget's (the JDK's own only: a whole run's archive or AOT cache costs
     * its few classes more than it saves), while the full JVM of the fallback maps the one the first run wrote.
     */
    @Test
    void theClientJvmMapsNoArchiveOfFlowgetsTheFullOneDoes() throws Exception {
        Path state = Files.createDirectories(tmp.resolve("state"));
        Path socket = tmp.resolve("d.sock");
        Map<String, String> cds = Map.of("FLOWGET_CDS", "1");
        assertThat(launch(cds, "", "run", "dump").exit()).isZero(); // writes the archive, renamed into place
        try (var files = Files.list(launcher.getParent().resolve("job/target"))) {
            assertThat(files.map(p -> p.getFileName().toString())).anyMatch(n -> n.startsWith("flowget-cds-"));
        }
        try (var server = java.nio.channels.ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
            server.bind(java.net.UnixDomainSocketAddress.of(socket));
            Files.writeString(state.resolve("daemon.json"),
                    "pid=" + ProcessHandle.current().pid() + "\nsocket=" + socket + "\nparallelism=2\n");

            Ended e = launch(cds, "", "run", "--state-dir", state.toString(), "archive-or-111");

            assertThat(e.stdout()).isEqualTo("light none\nfull archive\n");
        }
    }

    /**
     * FLOWGET_JAR (what bench/run.sh measures): that jar runs as it is, never built, even when the sources are newer
     * than the default jar, and a run's class-data-sharing archive is written beside it; without FLOWGET_JAR the same
     * stale tree is rebuilt (the fake mvn leaves a mark). A FLOWGET_JAR that does not exist is exit 70.
     */
    @Test
    void aFlowgetJarRunsAsItIsWithoutABuild() throws Exception {
        Path home = launcher.getParent();
        Path defaultJar = home.resolve("job/target/flowget.jar");
        Files.setLastModifiedTime(defaultJar, FileTime.fromMillis(System.currentTimeMillis() - 60_000));
        Files.writeString(Files.createDirectories(home.resolve("udf/src")).resolve("A.java"), "class A {}");
        Path bin = Files.createDirectories(tmp.resolve("bin"));
        Path mark = tmp.resolve("mvn-ran");
        Files.writeString(bin.resolve("mvn"), "#!/usr/bin/env bash\necho \"$*\" >> '" + mark + "'\n"
                + "touch job/target/flowget.jar\n");
        Files.setPosixFilePermissions(bin.resolve("mvn"), PosixFilePermissions.fromString("rwxr-xr-x"));
        Path pinned = Files.createDirectories(tmp.resolve("pinned")).resolve("flowget.jar");
        Files.write(pinned, new byte[0]);
        String path = bin + ":" + System.getenv("PATH");

        Ended e = launch(Map.of("FLOWGET_JAR", pinned.toString(), "PATH", path, "FLOWGET_CDS", "1"), "", "run", "args");

        assertThat(e.exit()).isZero();
        assertThat(e.stdout()).contains("-jar " + pinned + " run args")
                .contains("-XX:ArchiveClassesAtExit=" + pinned.getParent().resolve("flowget-cds-"));
        assertThat(mark).as("no build for a FLOWGET_JAR").doesNotExist();

        Ended missing = launch(Map.of("FLOWGET_JAR", tmp.resolve("none.jar").toString(), "PATH", path), "", "demo");
        assertThat(missing.exit()).isEqualTo(70);
        assertThat(missing.stderr()).contains("FLOWGET_JAR=" + tmp.resolve("none.jar") + ": no such file");

        Ended stale = launch(Map.of("PATH", path), "", "demo", "args");
        assertThat(mark).as("the default jar is rebuilt when stale").exists();
        assertThat(stale.stdout()).contains("-jar " + defaultJar + " demo args");
    }

    /**
     * FLOWGET_JAVA_HOME names the runtime flowget runs on, over JAVA_HOME (which stays the user's, e.g. for the build):
     * a Java 25 one there gets the JDK's AOT cache and the newer runtimes' options; JAVA_HOME's runtime runs flowget
     * only without it; a FLOWGET_JAVA_HOME without bin/java is exit 70, never a silent fall-back.
     */
    @Test
    void flowgetJavaHomeIsTheRuntimeOverJavaHome() throws Exception {
        Path jdk25 = Files.createDirectories(tmp.resolve("jdk25/bin"));
        Files.writeString(jdk25.resolve("java"), "#!/usr/bin/env bash\necho \"java25 $*\"\n");
        Files.setPosixFilePermissions(jdk25.resolve("java"), PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.writeString(jdk25.getParent().resolve("release"), "JAVA_VERSION=\"25.0.3\"\n");
        Map<String, String> env = Map.of("FLOWGET_JAVA_HOME", jdk25.getParent().toString(), "FLOWGET_CDS", "1");

        Ended e = launch(env, "", "demo", "args");

        assertThat(e.exit()).isZero();
        assertThat(e.stdout()).startsWith("java25 ").contains("--enable-native-access=ALL-UNNAMED")
                .endsWith(" demo args\n");
        Ended run = launch(env, "", "run", "args");
        assertThat(run.stdout()).startsWith("java25 ").contains("-XX:AOTCacheOutput=")
                .doesNotContain("-XX:ArchiveClassesAtExit");
        assertThat(launch("", "demo", "args").stdout()).as("JAVA_HOME's runtime without it")
                .doesNotContain("java25").contains("-jar ");

        Ended missing = launch(Map.of("FLOWGET_JAVA_HOME", tmp.resolve("nojdk").toString()), "", "demo", "args");
        assertThat(missing.exit()).isEqualTo(70);
        assertThat(missing.stderr()).contains("FLOWGET_JAVA_HOME=" + tmp.resolve("nojdk") + ": no ");
    }

    /** The repository root: the nearest ancestor of the working directory holding pom.xml and the launcher. */
    private static Path repoRoot() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("pom.xml")) && Files.isRegularFile(p.resolve("flowget"))) {
                return p;
            }
        }
        throw new IllegalStateException("no repository root with the launcher above " + Path.of("").toAbsolutePath());
    }
}
