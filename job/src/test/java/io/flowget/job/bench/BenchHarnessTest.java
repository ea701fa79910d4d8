package io.flowget.job.bench;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Runs the bench harness's own tests ({@code bench/harness_test.py}, standard-library unittest) in {@code mvn verify}:
 * the jar a pass measures is built when stale, copied read-only and refused when it changes (JarPin). python3 is what
 * bench/run.sh needs anyway; .ci/run installs it when missing. Runs on the test thread; the interpreter is bounded at
 * two minutes.
 */
class BenchHarnessTest {
    @TempDir Path tmp;

    @Test
    void theHarnessTestsPass() throws Exception {
        Path bench = repoRoot().resolve("bench");
        Path log = tmp.resolve("unittest.txt");
        ProcessBuilder pb = new ProcessBuilder("python3", "-B", "-m", "unittest", "-v", "harness_test")
                .directory(bench.toFile()).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().remove("FLOWGET_JAR");
        pb.environment().put("TMPDIR", Files.createDirectories(tmp.resolve("t")).toString());
        Process p = pb.start();
        assertThat(p.waitFor(2, TimeUnit.MINUTES)).as("python3 -m unittest ended").isTrue();
        String out = Files.readString(log);
        assertThat(p.exitValue()).as(out).isZero();
        assertThat(out).as("the tests ran").containsPattern("\\nRan [1-9][0-9]* tests? in ").endsWith("\nOK\n");
    }

    /** The repository root: the nearest ancestor of the working directory holding pom.xml and bench/harness.py. */
    private static Path repoRoot() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("pom.xml")) && Files.isRegularFile(p.resolve("bench/harness.py"))) {
                return p;
            }
        }
        throw new IllegalStateException("no repository root with bench/harness.py above " + Path.of("").toAbsolutePath());
    }
}
