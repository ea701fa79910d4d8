package io.flowget.job.cli;

import io.flowget.udf.config.FlowgetOptions;

import org.apache.flink.annotation.Internal;

import picocli.CommandLine;

import java.io.IOException;
import java.io.InputStream;
import java.net.URL;
import java.util.Enumeration;
import java.util.jar.Attributes;
import java.util.jar.Manifest;

/**
 * The build a running flowget comes from: its version and the commit its jar was packaged from, as the manifest
 * names it ({@code Flowget-Commit}, {@code Flowget-Commit-Dirty}, written at package time by the job module's antrun
 * step, which asks git). Without such a manifest (classes run from {@code target/classes}), or from a jar built where
 * there was no git or no repository, the commit is {@code unknown}.
 *
 * <p>{@code flowget --version} prints {@link #describe()}: {@code flowget 0.1.0 (commit 0123456789ab)}, with
 * {@code + uncommitted changes} when the tree it was built from had any; and on a second line the runtime this JVM is
 * ({@link #runtime()}: {@code runtime: Java 25.0.3+9-LTS (Eclipse Adoptium) at /usr/lib/jvm/...}), which the
 * launcher picks from {@code FLOWGET_JAVA_HOME}, {@code JAVA_HOME} or the PATH, and the bench labels a pass with.
 * Stateless; any thread.
 */
@Internal
public final class BuildInfo implements CommandLine.IVersionProvider {
    static final String COMMIT = "Flowget-Commit";
    static final String DIRTY = "Flowget-Commit-Dirty";

    /** What {@code --version} prints. */
    @Override
    public String[] getVersion() {
        return new String[] {describe(), runtime()};
    }

    /** {@code runtime: Java <version> (<vendor>) at <java.home>}: the JVM that runs this flowget. */
    public static String runtime() {
        String vendor = System.getProperty("java.vendor", "unknown vendor");
        return "runtime: Java " + Runtime.version() + " (" + vendor + ") at " + System.getProperty("java.home");
    }

    /** {@code flowget <version> (commit <abbrev>[ + uncommitted changes])}, or {@code (commit unknown)}. */
    public static String describe() {
        return describe(manifest());
    }

    static String describe(Manifest manifest) {
        String commit = commit(manifest);
        boolean dirty = manifest != null && "true".equals(manifest.getMainAttributes().getValue(DIRTY));
        return "flowget " + FlowgetOptions.VERSION + " (commit " + commit
                + (dirty && !commit.equals("unknown") ? " + uncommitted changes" : "") + ")";
    }

    /** The commit a manifest names, or {@code unknown} (none, blank, or the plugin's property left unresolved). */
    static String commit(Manifest manifest) {
        String value = manifest == null ? null : manifest.getMainAttributes().getValue(COMMIT);
        if (value == null || value.isBlank() || value.contains("${")) {
            return "unknown";
        }
        return value.trim();
    }

    /** The manifest that carries {@code Flowget-Commit} on the class path (the flowget jar's), or null. */
    private static Manifest manifest() {
        try {
            Enumeration<URL> all = BuildInfo.class.getClassLoader().getResources("META-INF/MANIFEST.MF");
            while (all.hasMoreElements()) {
                try (InputStream in = all.nextElement().openStream()) {
                    Manifest m = new Manifest(in);
                    Attributes main = m.getMainAttributes();
                    if (main.getValue(COMMIT) != null) {
                        return m;
                    }
                }
            }
        } catch (IOException e) {
            // unreadable: the commit is unknown, which is what --version then says
        }
        return null;
    }
}
