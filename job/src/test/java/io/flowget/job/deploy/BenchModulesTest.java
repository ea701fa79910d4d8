package io.flowget.job.deploy;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The benchmark modules are compiled by {@code mvn verify} (issue 16: {@code bench/harness} stopped compiling after a
 * refactor and nothing noticed): every {@code bench/}{@code *}{@code /pom.xml} is a module of the parent's
 * {@code bench-compile} profile, active unless {@code skipTests} is {@code true} (the launcher's and the Dockerfile's
 * builds), and also of {@code jmh}; their shaded, runnable jars come only with {@code -Pjmh}, so verify pays for
 * javac and a plain jar, not for shading Flink.
 */
class BenchModulesTest {
    private static final Path ROOT = RepoFiles.repoRoot();
    private static final Path PARENT = ROOT.resolve("pom.xml");

    @Test
    void everyBenchModuleIsCompiledByVerifyAndShadedOnlyWithPjmh() throws Exception {
        List<String> benchModules;
        try (Stream<Path> dirs = Files.list(ROOT.resolve("bench"))) {
            benchModules = dirs.filter(d -> Files.isRegularFile(d.resolve("pom.xml")))
                    .map(d -> "bench/" + d.getFileName()).sorted().toList();
        }
        assertThat(benchModules).contains("bench/jmh", "bench/harness");

        assertThat(RepoFiles.pomText(PARENT, "/project/profiles/profile[id='bench-compile']/activation/property/name"))
                .isEqualTo("skipTests");
        assertThat(RepoFiles.pomText(PARENT, "/project/profiles/profile[id='bench-compile']/activation/property/value"))
                .isEqualTo("!true");
        assertThat(RepoFiles.pomText(PARENT, "count(/project/profiles/profile[id='bench-compile']/activation/*)"))
                .as("nothing else decides whether verify compiles them").isEqualTo("1");
        for (String module : benchModules) {
            for (String profile : List.of("bench-compile", "jmh")) {
                assertThat(RepoFiles.pomText(PARENT,
                        "count(/project/profiles/profile[id='" + profile + "']/modules/module[.='" + module + "'])"))
                        .as("%s in profile %s", module, profile).isEqualTo("1");
            }
            Path pom = ROOT.resolve(module).resolve("pom.xml");
            assertThat(RepoFiles.pomText(pom, "count(/project/build//plugin[artifactId='maven-shade-plugin'])"))
                    .as("%s shades only with -Pjmh", module).isEqualTo("0");
            assertThat(RepoFiles.pomText(pom,
                    "count(/project/profiles/profile[id='jmh']/build//plugin[artifactId='maven-shade-plugin'])"))
                    .as("%s still builds its runnable jar with -Pjmh", module).isEqualTo("1");
        }
    }
}
