package io.flowget.job.cli;

import io.flowget.udf.config.FlowgetOptions;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.jar.Attributes;
import java.util.jar.Manifest;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What {@code flowget --version} says about the commit: the one the manifest names, with "+ uncommitted changes" when
 * the tree had any, and "unknown" when there is no manifest, no entry, or the plugin's property was left unresolved
 * (a build without git or outside a repository). The packaged jar's own entry is checked by {@code BuildInfoITCase}.
 */
class BuildInfoTest {

    @Test
    void theManifestsCommitIsNamed() {
        assertThat(BuildInfo.describe(manifest("0123456789ab", "false")))
                .isEqualTo("flowget " + FlowgetOptions.VERSION + " (commit 0123456789ab)");
        assertThat(BuildInfo.describe(manifest("0123456789ab", "true")))
                .isEqualTo("flowget " + FlowgetOptions.VERSION + " (commit 0123456789ab + uncommitted changes)");
    }

    @Test
    void withoutAResolvedCommitItIsUnknown() {
        assertThat(BuildInfo.describe(null)).isEqualTo("flowget " + FlowgetOptions.VERSION + " (commit unknown)");
        assertThat(BuildInfo.commit(manifest("${git.commit.id.abbrev}", "${git.dirty}"))).isEqualTo("unknown");
        assertThat(BuildInfo.describe(manifest("${git.commit.id.abbrev}", "true"))).endsWith("(commit unknown)");
        assertThat(BuildInfo.commit(manifest(" ", null))).isEqualTo("unknown");
        assertThat(BuildInfo.commit(new Manifest())).isEqualTo("unknown");
    }

    @Test
    void versionPrintsIt() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int exit =
                FlowgetCli.execute(
                        new String[] {"--version"},
                        new PrintStream(out, true, StandardCharsets.UTF_8),
                        new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
        assertThat(exit).isZero();
        // Classes from target/classes: no flowget manifest on the class path
        assertThat(out.toString(StandardCharsets.UTF_8).trim()).isEqualTo(BuildInfo.describe() + "\n"
                + BuildInfo.runtime());
        assertThat(out.toString(StandardCharsets.UTF_8)).startsWith("flowget " + FlowgetOptions.VERSION + " (commit ");
    }

    /** The second line names the JVM that runs flowget: its feature version, vendor and home (the bench reads it). */
    @Test
    void theRuntimeLineNamesThisJvm() {
        assertThat(BuildInfo.runtime())
                .startsWith("runtime: Java " + Runtime.version().feature() + ".")
                .endsWith(") at " + System.getProperty("java.home"));
    }

    private static Manifest manifest(String commit, String dirty) {
        Manifest m = new Manifest();
        m.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        m.getMainAttributes().putValue(BuildInfo.COMMIT, commit);
        if (dirty != null) {
            m.getMainAttributes().putValue(BuildInfo.DIRTY, dirty);
        }
        return m;
    }
}
