package io.flowget.job.cli;

import io.flowget.udf.config.FlowgetOptions;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarFile;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The packaged {@code target/flowget.jar} (failsafe runs after {@code package}) names the commit it was built from:
 * its manifest's {@code Flowget-Commit} is the repository's HEAD, and {@code java -jar flowget.jar --version} prints
 * it; where {@code git} cannot name HEAD (no git, no repository) both say {@code unknown}.
 */
class BuildInfoITCase {

    @Test
    void thePackagedJarNamesTheCommitItWasBuiltFrom() throws Exception {
        Path jar = Path.of("target", "flowget.jar").toAbsolutePath();
        assertThat(jar).as("packaged jar").exists();
        String head = git("rev-parse", "--short=12", "HEAD");
        String expected = head == null ? "unknown" : head;

        String commit;
        try (JarFile f = new JarFile(jar.toFile())) {
            commit = BuildInfo.commit(f.getManifest());
        }
        assertThat(commit).as("Flowget-Commit of %s", jar).isEqualTo(expected);

        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p =
                new ProcessBuilder(java, "-Xshare:auto", "-jar", jar.toString(), "--version")
                        .redirectErrorStream(true)
                        .start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
        assertThat(out).startsWith("flowget " + FlowgetOptions.VERSION + " (commit " + expected);
    }

    /** What {@code git args} prints in the repository, or null when git cannot answer. */
    private static String git(String... args) throws InterruptedException {
        try {
            Path repo = Path.of("..").toAbsolutePath().normalize();
            List<String> cmd = new java.util.ArrayList<>(List.of("git", "-C", repo.toString()));
            cmd.addAll(List.of(args));
            Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0 || out.isEmpty()) {
                return null;
            }
            return out;
        } catch (IOException e) {
            return null;
        }
    }
}
