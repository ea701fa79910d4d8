package io.flowget.job.release;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;

/**
 * The last step of a release (k8s/README.md "Release"): acts on the canary's verdict about the candidate that ran in
 * the shadow FlinkDeployment.
 *
 * <ul>
 *   <li>PASS: production's {@code spec.image} becomes the candidate's (the shadow's image unless one is given), with
 *       {@code job.upgradeMode: savepoint} and {@code job.state: running}, by one JSON merge patch. The Flink
 *       Kubernetes Operator then upgrades production: savepoint, stop, new image, restore. Its own rollback
 *       (production overlay: {@code kubernetes.operator.deployment.rollback.enabled} with health checks) reverts to
 *       the last stable spec if the promoted build does not become healthy. Already on the candidate's image:
 *       nothing is changed.
 *   <li>FAIL: the shadow is suspended ({@code job.state: suspended}, the operator stops it with a savepoint), and
 *       production is not read or written at all.
 * </ul>
 *
 * <p>One call at a time on the caller's thread; every API call is bounded ({@link KubernetesApi#TIMEOUT}).
 */
public final class Promotion {
    static final String GROUP = "flink.apache.org";
    static final String VERSION = "v1beta1";
    static final String PLURAL = "flinkdeployments";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The canary's verdict. */
    public enum Verdict {
        PASS,
        FAIL
    }

    /** What was done: {@code promoted}, {@code already-promoted} or {@code shadow-suspended}, and the images. */
    public record Outcome(Verdict verdict, String action, String deployment, String fromImage, String toImage) {
        /** One JSON line, for the release Job's log. */
        public String json() {
            ObjectNode n = JSON.createObjectNode();
            n.put("verdict", verdict.name());
            n.put("action", action);
            n.put("deployment", deployment);
            if (fromImage != null) {
                n.put("from_image", fromImage);
            }
            if (toImage != null) {
                n.put("to_image", toImage);
            }
            return n.toString();
        }
    }

    private final KubernetesApi api;
    private final String namespace;
    private final String production;
    private final String shadow;

    public Promotion(KubernetesApi api, String namespace, String production, String shadow) {
        this.api = api;
        this.namespace = namespace;
        this.production = production;
        this.shadow = shadow;
    }

    /**
     * Acts on {@code verdict}; {@code candidateImage} null means the shadow's current image.
     *
     * @throws KubernetesApi.ApiException when the API server refuses a call (e.g. 404: no such FlinkDeployment)
     */
    public Outcome apply(Verdict verdict, String candidateImage) throws IOException, InterruptedException {
        if (verdict == Verdict.FAIL) {
            api.mergePatch(path(shadow), patch(null, "suspended"));
            return new Outcome(verdict, "shadow-suspended", shadow, null, null);
        }
        String candidate = candidateImage != null ? candidateImage : imageOf(api.get(path(shadow)), shadow);
        String current = imageOf(api.get(path(production)), production);
        if (current.equals(candidate)) {
            return new Outcome(verdict, "already-promoted", production, current, candidate);
        }
        JsonNode stored = api.mergePatch(path(production), patch(candidate, "running"));
        return new Outcome(verdict, "promoted", production, current, imageOf(stored, production));
    }

    private static JsonNode patch(String image, String state) {
        ObjectNode spec = JSON.createObjectNode();
        if (image != null) {
            spec.put("image", image);
            spec.putObject("job").put("upgradeMode", "savepoint").put("state", state);
        } else {
            spec.putObject("job").put("state", state);
        }
        ObjectNode p = JSON.createObjectNode();
        p.set("spec", spec);
        return p;
    }

    private static String imageOf(JsonNode deployment, String name) throws IOException {
        String image = deployment.at("/spec/image").asText("");
        if (image.isBlank()) {
            throw new IOException("FlinkDeployment " + name + " has no spec.image");
        }
        return image;
    }

    private String path(String name) {
        return KubernetesApi.resourcePath(GROUP, VERSION, namespace, PLURAL, name);
    }
}
