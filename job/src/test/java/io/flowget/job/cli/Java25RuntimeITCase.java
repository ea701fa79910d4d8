package io.flowget.job.cli;

import io.flowget.udf.json.Json;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.TestOrigin;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The packaged jar (a Java 17 build) on a Java 25+ runtime through the real launcher, as a user runs it with
 * {@code FLOWGET_JAVA_HOME}: a cold {@code run} (RocksDB's JNI library, the in-process Kafka broker, the MiniCluster)
 * writes the JDK's AOT cache beside the jar, a second cold run maps it; the first daemon started on that runtime
 * serves a run and writes the daemon's own AOT cache when it stops, which the next daemon maps and serves a run with;
 * every file byte-exact, one OK result each, and no JVM warning on stderr (the launcher's options for Java 24+). Skipped when no Java 25+ runtime is found ({@code FLOWGET_TEST_JAVA25_HOME},
 * else a JDK under {@code /usr/lib/jvm} whose {@code release} says 25 or newer): CI's Debian machine may have only
 * Java 17; the rest of the suite runs on the JVM Maven runs. (Plain HTTP only: the job module's test class path has
 * no Jetty HTTP/2 server for the HTTPS test origin; HTTPS on Java 25 is udf's TLS tests run on it, README "Tests".)
 */
class Java25RuntimeITCase {
    private static final int FILES = 32;
    private static final Map<String, byte[]> DATA = new LinkedHashMap<>();
    private static TestOrigin origin;

    @TempDir static Path tmp;

    @BeforeAll
    static void origins() throws Exception {
        origin = TestOrigin.start("127.0.0.1");
        for (int i = 0; i < FILES; i++) {
            String path = "/j25/f" + i + ".bin";
            byte[] body = TestOrigin.content(path, 16 * 1024 + i);
            origin.file(path, body);
            DATA.put(origin.url(path), body);
        }
    }

    @AfterAll
    static void stop() throws Exception {
        if (origin != null) {
            origin.close();
        }
    }

    @Test
    void theJarRunsColdAndThroughADaemonOnJava25WithTheAotCache() throws Exception {
        Optional<Path> home = java25();
        assumeTrue(home.isPresent(), "no Java 25+ runtime (FLOWGET_TEST_JAVA25_HOME or /usr/lib/jvm/*)");
        Path jarDir = Files.createDirectories(tmp.resolve("jar"));
        Path jar = jarDir.resolve("flowget.jar");
        Path packaged = Path.of("target", "flowget.jar").toAbsolutePath();
        assertThat(packaged).as("packaged jar").exists();
        try {
            Files.createLink(jar, packaged); // the AOT cache goes beside it, in this test's directory
        } catch (IOException | UnsupportedOperationException e) {
            Files.copy(packaged, jar);
        }
        Path urls = tmp.resolve("urls.txt");
        Files.write(urls, DATA.keySet());
        Map<String, String> env = Map.of("FLOWGET_JAVA_HOME", home.get().toString(), "FLOWGET_JAR", jar.toString());

        Ended version = launch(env, "--version");
        assertThat(version.exit()).as(version.err()).isZero();
        assertThat(version.out()).contains("runtime: Java " + feature(home.get()) + ".");

        Ended first = launch(env, runArgs("cold1", urls));
        assertThat(first.exit()).as(first.err()).isZero();
        assertExact(tmp.resolve("cold1"));
        try (Stream<Path> s = Files.list(jarDir)) {
            assertThat(s.map(p -> p.getFileName().toString()))
                    .as("the AOT cache written beside the jar, no temp file left")
                    .anySatisfy(n -> assertThat(n).startsWith("flowget-aot-").endsWith(".aot"))
                    .noneSatisfy(n -> assertThat(n).endsWith(".tmp"));
        }

        Ended second = launch(env, runArgs("cold2", urls));
        assertThat(second.exit()).as(second.err()).isZero();
        assertExact(tmp.resolve("cold2"));
        assertThat(second.err()).as("no JVM warning on a run that maps the cache").doesNotContain("WARNING");

        // the first daemon of the jar writes its AOT cache when it stops; the next one maps it
        String trained = serveOneRunThroughADaemon(env, urls, "daemon1");
        assertThat(trained).contains("-XX:AOTCacheOutput=" + jarDir.resolve("flowget-aot-daemon-"))
                .doesNotContain("-XX:AOTCache=");
        String mapping = serveOneRunThroughADaemon(env, urls, "daemon2");
        assertThat(mapping).contains("-XX:AOTCache=" + jarDir.resolve("flowget-aot-daemon-"))
                .doesNotContain("-XX:AOTCacheOutput=");
        try (Stream<Path> s = Files.list(jarDir)) {
            assertThat(s.map(p -> p.getFileName().toString()))
                    .as("the daemon's cache in place, its temp file and pid file gone")
                    .anySatisfy(n -> assertThat(n).startsWith("flowget-aot-daemon-").endsWith(".aot"))
                    .noneSatisfy(n -> assertThat(n).contains(".tmp"));
        }
    }

    /** Starts a daemon (no warm-up) on a fresh state dir, serves one run through it, stops it; its JVM's command line. */
    private static String serveOneRunThroughADaemon(Map<String, String> env, Path urls, String name) throws Exception {
        Path state = tmp.resolve(name + "-state");
        Ended start = launch(env, "daemon", "start", "--state-dir", state.toString(), "--warm-up", "PT0S",
                "--parallelism", "1");
        assertThat(start.exit()).as(start.out() + start.err()).isZero();
        String cmdline;
        try {
            Matcher pid = Pattern.compile("(?m)^pid=(\\d+)").matcher(Files.readString(state.resolve("daemon.json")));
            assertThat(pid.find()).isTrue();
            cmdline = Files.readString(Path.of("/proc", pid.group(1), "cmdline")).replace('\0', ' ');
            List<String> args = new ArrayList<>(List.of(runArgs(name, urls)));
            args.set(args.indexOf("--state-dir") + 1, state.toString());
            Ended served = launch(env, args.toArray(String[]::new));
            assertThat(served.exit()).as(served.err()).isZero();
            assertExact(tmp.resolve(name));
            assertThat(Files.readString(state.resolve("daemon.log"))).as("the daemon's log")
                    .contains("flowget daemon: serving").doesNotContain("WARNING");
        } finally {
            Ended stop = launch(env, "daemon", "stop", "--state-dir", state.toString());
            assertThat(stop.exit()).as(stop.out() + stop.err()).isZero();
        }
        return cmdline;
    }

    private static String[] runArgs(String name, Path urls) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve(name));
        return new String[] {"run", "--urls", urls.toString(), "--out", dir.resolve("out").toString(),
            "--results", dir.resolve("results.jsonl").toString(), "--state-dir", dir.resolve("state").toString(),
            "--quiet"};
    }

    private static void assertExact(Path dir) throws IOException {
        List<String> lines = Files.readAllLines(dir.resolve("results.jsonl"));
        assertThat(lines).hasSize(DATA.size());
        Set<String> urls = new HashSet<>();
        for (String l : lines) {
            FetchResult r = Json.resultFromJson(l);
            assertThat(urls.add(r.url)).as("one line for %s", r.url).isTrue();
            assertThat(r.status).as(l).isEqualTo(ResultStatus.OK);
            assertThat(Files.readAllBytes(dir.resolve("out").resolve(r.path))).isEqualTo(DATA.get(r.url));
        }
    }

    private record Ended(int exit, String out, String err) {}

    private static Ended launch(Map<String, String> env, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("bash", repoRoot().resolve("flowget").toString()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(tmp.toFile());
        pb.environment().remove("FLOWGET_JAVA_OPTS");
        pb.environment().remove("FLOWGET_CDS");
        pb.environment().put("TMPDIR", System.getProperty("java.io.tmpdir"));
        pb.environment().putAll(env);
        Path out = Files.createTempFile(tmp, "out", ".txt");
        Path err = Files.createTempFile(tmp, "err", ".txt");
        Process p = pb.redirectOutput(out.toFile()).redirectError(err.toFile()).redirectInput(
                ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        if (!p.waitFor(5, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new AssertionError("flowget " + String.join(" ", args) + " did not end within 5 min: "
                    + Files.readString(err));
        }
        return new Ended(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
                Files.readString(err, StandardCharsets.UTF_8));
    }

    /** A Java 25+ runtime: FLOWGET_TEST_JAVA25_HOME, else the newest JDK under /usr/lib/jvm of feature 25 or more. */
    static Optional<Path> java25() throws IOException {
        String given = System.getenv("FLOWGET_TEST_JAVA25_HOME");
        if (given != null && !given.isBlank()) {
            return Optional.of(Path.of(given)).filter(h -> feature(h) >= 25);
        }
        Path jvms = Path.of("/usr/lib/jvm");
        if (!Files.isDirectory(jvms)) {
            return Optional.empty();
        }
        try (Stream<Path> s = Files.list(jvms)) {
            return s.filter(h -> !Files.isSymbolicLink(h) && Files.isExecutable(h.resolve("bin/java")))
                    .filter(h -> feature(h) >= 25)
                    .max((a, b) -> Integer.compare(feature(a), feature(b)));
        }
    }

    /** The feature version a JDK's release file names (JAVA_VERSION="25.0.3"), 0 when unknown. */
    static int feature(Path home) {
        try {
            Matcher m = Pattern.compile("(?m)^JAVA_VERSION=\"(\\d+)").matcher(Files.readString(home.resolve("release")));
            return m.find() ? Integer.parseInt(m.group(1)) : 0;
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    private static Path repoRoot() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("pom.xml")) && Files.isRegularFile(p.resolve("flowget"))) {
                return p;
            }
        }
        throw new IllegalStateException("no repository root with the launcher above " + Path.of("").toAbsolutePath());
    }
}
