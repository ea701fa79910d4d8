package io.flowget.job.deploy;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * Renders the kustomizations under {@code k8s/} the way {@code kubectl apply -k} would, with {@code kubectl kustomize}
 * (Debian's {@code kubernetes-client}; {@code .ci/run} installs it when missing), so the tests check what a cluster
 * would receive rather than the files. The kustomizations are written for kustomize 2.0.3 (kubectl 1.20) through 5.x;
 * any kubectl on the PATH (or {@code -Dflowget.kubectl=PATH}) will do.
 *
 * <p>Thread-safe; each directory is rendered once per JVM (about a second each).
 */
final class Kustomize {
    /** The pipelines, each an overlay of {@code k8s/base}. */
    static final List<String> OVERLAYS = List.of("production", "shadow", "secondary", "diff");

    /** Namespace-wide objects applied once: egress policy, PodMonitor, alerts, dashboard. */
    static final String NAMESPACE_DIR = "k8s/namespace";

    /** The release Job (canary, then promote) and its RBAC. */
    static final String RELEASE_DIR = "k8s/release";

    private static final Map<Path, List<JsonNode>> RENDERED = new ConcurrentHashMap<>();

    private Kustomize() {}

    /** The rendered documents of {@code k8s/overlays/NAME}. */
    static List<JsonNode> overlay(String name) {
        return render(RepoFiles.repoRoot().resolve("k8s/overlays").resolve(name));
    }

    /** Every overlay's documents, by overlay name, plus {@code namespace} and {@code release} for the other two. */
    static Map<String, List<JsonNode>> all() {
        Map<String, List<JsonNode>> out = new LinkedHashMap<>();
        for (String o : OVERLAYS) {
            out.put(o, overlay(o));
        }
        out.put("namespace", render(RepoFiles.repoRoot().resolve(NAMESPACE_DIR)));
        out.put("release", render(RepoFiles.repoRoot().resolve(RELEASE_DIR)));
        return out;
    }

    /** The FlinkDeployment called {@code name} in any overlay. */
    static JsonNode deployment(String name) {
        for (String o : OVERLAYS) {
            for (JsonNode doc : overlay(o)) {
                if ("FlinkDeployment".equals(doc.path("kind").asText()) && name.equals(doc.at("/metadata/name").asText())) {
                    return doc;
                }
            }
        }
        throw new IllegalStateException("no FlinkDeployment " + name + " in k8s/overlays/*");
    }

    /** The rendered documents of a kustomization directory. */
    static List<JsonNode> render(Path dir) {
        return RENDERED.computeIfAbsent(dir.toAbsolutePath().normalize(), Kustomize::run);
    }

    private static List<JsonNode> run(Path dir) {
        String kubectl = kubectl().orElseThrow(() -> new IllegalStateException(
                "kubectl not found on the PATH: install Debian's kubernetes-client (apt-get install kubernetes-client;"
                        + " .ci/run does) or set -Dflowget.kubectl=PATH"));
        try {
            Path err = Files.createTempFile("kustomize-", ".err");
            try {
                Process p = new ProcessBuilder(kubectl, "kustomize", dir.toString())
                        .redirectError(err.toFile())
                        .start();
                byte[] out = p.getInputStream().readAllBytes();
                if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
                    p.destroyForcibly();
                    throw new IllegalStateException("kubectl kustomize " + dir + " failed: " + Files.readString(err));
                }
                return RepoFiles.parseYamlDocuments(new String(out, StandardCharsets.UTF_8));
            } finally {
                Files.deleteIfExists(err);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static Optional<String> kubectl() {
        String override = System.getProperty("flowget.kubectl");
        if (override != null) {
            return Optional.of(override);
        }
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
            Path p = Path.of(dir, "kubectl");
            if (Files.isExecutable(p)) {
                return Optional.of(p.toString());
            }
        }
        return Optional.empty();
    }
}
