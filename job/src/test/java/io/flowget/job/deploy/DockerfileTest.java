package io.flowget.job.deploy;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.state.rocksdb.RocksDBOptions;

import io.flowget.job.deploy.DockerfileModel.Instruction;
import io.flowget.job.deploy.DockerfileModel.Stage;
import io.flowget.udf.config.FlowgetOptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The image build, checked without a Docker engine by reading the Dockerfile as the builder would
 * ({@link DockerfileModel}): a Maven stage builds the cluster jar from the sources of every module (nothing from the
 * host's {@code target/}); the runtime stage is the official Flink image plus that one jar under its own name, at the
 * path the FlinkDeployments run; every RUN there runs as root and the image ends as {@code USER flink} (the base
 * image ends as flink, so a RUN before {@code USER root} fails with permission denied); the directories the
 * deployments write are created and owned by flink.
 */
class DockerfileTest {
    /** The official image's last USER (flink-docker's Dockerfiles), in force at the start of the runtime stage. */
    private static final String BASE_IMAGE_USER = "flink";

    private static Path root;
    private static DockerfileModel df;

    @BeforeAll
    static void read() {
        root = RepoFiles.repoRoot();
        df = DockerfileModel.read(root.resolve("Dockerfile"));
    }

    @Test
    void buildStageCompilesTheClusterJarWithMavenOnTheProjectsJdk() {
        assertThat(df.stages()).hasSize(2);
        Stage build = df.stages().get(0);
        String release = RepoFiles.parentPomProperty("maven.compiler.release");

        assertThat(build.name()).isEqualTo("build");
        assertThat(build.baseImage()).startsWith("maven:").endsWith("-" + release);
        assertThat(build.all("RUN")).anySatisfy(r -> assertThat(r.args()).contains("mvn ", " package", "-pl cluster", "-am"));
    }

    @Test
    void buildStageCopiesEveryModulesPomAndSources() {
        List<String> copied = new ArrayList<>();
        df.stages().get(0).all("COPY").forEach(c -> copied.addAll(c.paths().subList(0, c.paths().size() - 1)));
        assertThat(copied).contains("pom.xml");
        for (String module : modules()) {
            assertThat(copied).contains(module + "/pom.xml", module + "/src");
        }
    }

    @Test
    void runtimeCopiesOnlyTheClusterJarUnderItsOwnName() {
        String finalName =
                RepoFiles.pomText(root.resolve("cluster/pom.xml"), "//plugin[artifactId='maven-shade-plugin']//finalName");
        String localName = RepoFiles.pomText(root.resolve("job/pom.xml"), "//plugin[artifactId='maven-shade-plugin']//finalName");
        Instruction copy = df.jarCopy();

        assertThat(finalName).isNotEqualTo(localName);
        assertThat(copy.flag("from")).contains("build");
        assertThat(copy.flag("chown")).contains("flink:flink");
        assertThat(copy.paths()).containsExactly("/src/cluster/target/" + finalName + ".jar", "/opt/flink/usrlib/" + finalName + ".jar");
        // Nothing of the host's build output: every runtime COPY without --from takes repository files only.
        for (Instruction c : df.runtime().all("COPY")) {
            if (c.flag("from").isEmpty()) {
                assertThat(c.paths().subList(0, c.paths().size() - 1)).noneMatch(p -> p.contains("target"));
            }
        }
        // The build context is an allow-list without target/ trees: the host's jar cannot reach the image.
        List<String> ignore = RepoFiles.read(root.resolve(".dockerignore")).lines().filter(l -> !l.startsWith("#") && !l.isBlank()).toList();
        assertThat(ignore.get(0)).isEqualTo("*");
        assertThat(ignore).filteredOn(l -> l.startsWith("!")).noneMatch(l -> l.contains("target"));
        for (Instruction c : df.stages().get(0).all("COPY")) {
            assertThat(ignore).as("build context holds %s", c.paths().get(0)).contains("!" + c.paths().get(0));
        }
    }

    @Test
    void everyRunIsRootAndTheImageEndsAsFlink() {
        Stage runtime = df.runtime();
        List<String> users = runtime.usersAt(BASE_IMAGE_USER);
        for (int i = 0; i < runtime.instructions().size(); i++) {
            if (runtime.instructions().get(i).keyword().equals("RUN")) {
                assertThat(users.get(i)).as("user of RUN #%d", i).isEqualTo("root");
            }
        }
        assertThat(users.get(users.size() - 1)).isEqualTo("flink");
        assertThat(runtime.instructions().get(runtime.instructions().size() - 1).keyword()).isEqualTo("USER");
    }

    @Test
    void directoriesTheDeploymentsWriteExistAndBelongToFlink() {
        Configuration production = K8sManifestsTest.flinkConf(Kustomize.deployment("flowget"));
        String runs = String.join(" ; ", df.runtime().all("RUN").stream().map(Instruction::args).toList());
        List<String> made = argumentsOf(runs, "mkdir -p");
        List<String> owned = argumentsOf(runs, "chown -R flink:flink");

        for (String dir : List.of(production.get(RocksDBOptions.LOCAL_DIRECTORIES), production.get(FlowgetOptions.STORAGE_OUT_DIR))) {
            assertThat(made).as("mkdir -p of %s", dir).anyMatch(m -> dir.equals(m) || dir.startsWith(m + "/"));
            assertThat(owned).as("chown -R flink:flink of %s", dir).anyMatch(o -> dir.equals(o) || dir.startsWith(o + "/"));
        }
        assertThat(made).contains("\"$FLINK_HOME/usrlib\"");
    }

    @Test
    void parserSeesARunBeforeUserRootAsFlinks() {
        DockerfileModel broken = DockerfileModel.parse("FROM flink:2.2-java17\nRUN mkdir /var/lib/x \\\n  # comment\n  && true\nUSER flink\n");
        assertThat(broken.runtime().instructions().get(0).args()).isEqualTo("mkdir /var/lib/x && true");
        assertThat(broken.runtime().usersAt(BASE_IMAGE_USER).get(0)).isEqualTo("flink");
        assertThatThrownBy(() -> DockerfileModel.parse("FROM a\nCOPY x.jar /a.jar\nCOPY y.jar /b.jar\n").jarCopy())
                .isInstanceOf(IllegalStateException.class);
    }

    /** The parent pom's modules (default build, not profiles). */
    private static List<String> modules() {
        String pom = RepoFiles.read(root.resolve("pom.xml"));
        String block = pom.substring(pom.indexOf("<modules>"), pom.indexOf("</modules>"));
        List<String> modules = new ArrayList<>();
        Matcher m = Pattern.compile("<module>([^<]+)</module>").matcher(block);
        while (m.find()) {
            modules.add(m.group(1));
        }
        return modules;
    }

    /** The path words after each occurrence of {@code command} in a shell text, up to the next ; or &&. */
    private static List<String> argumentsOf(String shell, String command) {
        List<String> out = new ArrayList<>();
        int i = 0;
        while ((i = shell.indexOf(command, i)) >= 0) {
            int end = shell.length();
            for (String stop : List.of(";", "&&")) {
                int s = shell.indexOf(stop, i);
                if (s >= 0 && s < end) {
                    end = s;
                }
            }
            for (String w : shell.substring(i + command.length(), end).trim().split("\\s+")) {
                if (!w.isEmpty()) {
                    out.add(w);
                }
            }
            i = end;
        }
        return out;
    }
}
