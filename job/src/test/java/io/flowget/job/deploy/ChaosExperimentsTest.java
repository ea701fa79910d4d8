package io.flowget.job.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The Chaos Mesh experiments under {@code chaos/k8s/} parse, are the three experiments of the runbook
 * (NetworkChaos on TaskManager egress with 100 ms ± 20 ms delay and 1.5% loss, PodChaos killing a
 * TaskManager, PodChaos killing the JobManager), select the production deployment's pods by the labels
 * Flink's native Kubernetes mode sets, and use only fields of the Chaos Mesh v1alpha1 API (no CRD of
 * Chaos Mesh is available here, so the field lists below are taken from its Go types:
 * {@code api/v1alpha1/networkchaos_types.go}, {@code podchaos_types.go}, {@code selector.go}).
 */
class ChaosExperimentsTest {
    private static final String API = "chaos-mesh.org/v1alpha1";
    private static final Set<String> SELECTOR_FIELDS =
            Set.of("namespaces", "labelSelectors", "fieldSelectors", "annotationSelectors", "expressionSelectors", "nodes", "nodeSelectors", "pods", "podPhaseSelectors");
    private static final Set<String> POD_CHAOS_FIELDS = Set.of("action", "mode", "value", "selector", "duration", "gracePeriod", "containerNames");
    private static final Set<String> NETWORK_CHAOS_FIELDS =
            Set.of("action", "mode", "value", "selector", "duration", "direction", "target", "externalTargets", "device", "targetDevice",
                    "delay", "loss", "duplicate", "corrupt", "bandwidth", "rate");
    private static final Map<String, Set<String>> NETEM_FIELDS =
            Map.of(
                    "delay", Set.of("latency", "jitter", "correlation", "reorder"),
                    "loss", Set.of("loss", "correlation"));

    private static List<JsonNode> experiments;
    private static JsonNode production;

    @BeforeAll
    static void load() {
        experiments = new ArrayList<>();
        for (Path f : RepoFiles.yamlFiles(RepoFiles.repoRoot().resolve("chaos/k8s"))) {
            for (JsonNode doc : RepoFiles.readYamlDocuments(f)) {
                if (doc.path("apiVersion").asText().startsWith("chaos-mesh.org/")) {
                    experiments.add(doc);
                }
            }
        }
        production = Kustomize.deployment("flowget");
    }

    @Test
    void allExperimentsUseTheV1alpha1ApiAndKnownFields() {
        assertThat(experiments).hasSize(3);
        Map<String, List<String>> problems = new TreeMap<>();
        for (JsonNode e : experiments) {
            problems.put(e.at("/metadata/name").asText(), problems(e));
        }
        problems.values().removeIf(List::isEmpty);
        assertThat(problems).isEmpty();
    }

    @Test
    void networkChaosDelaysAndDropsTaskManagerEgressForABoundedTime() {
        JsonNode n = single("NetworkChaos", "taskmanager");
        assertThat(n.at("/spec/action").asText()).isEqualTo("netem");
        assertThat(n.at("/spec/direction").asText()).isEqualTo("to");
        assertThat(n.at("/spec/mode").asText()).isEqualTo("all");
        assertThat(n.at("/spec/delay/latency").asText()).isEqualTo("100ms");
        assertThat(n.at("/spec/delay/jitter").asText()).isEqualTo("20ms");
        assertThat(Double.parseDouble(n.at("/spec/loss/loss").asText())).isEqualTo(1.5);
        assertThat(n.at("/spec/duration").asText()).matches("\\d+[smh]");
    }

    @Test
    void podChaosKillsOneTaskManagerAndOneJobManager() {
        for (String component : List.of("taskmanager", "jobmanager")) {
            JsonNode p = single("PodChaos", component);
            assertThat(p.at("/spec/action").asText()).isEqualTo("pod-kill");
            assertThat(p.at("/spec/mode").asText()).isEqualTo("one");
            assertThat(p.at("/spec/gracePeriod").asInt(-1)).isZero();
        }
    }

    @Test
    void selectorsTargetTheProductionDeployment() {
        String name = production.at("/metadata/name").asText();
        String namespace = production.at("/metadata/namespace").asText();
        for (JsonNode e : experiments) {
            assertThat(e.at("/metadata/namespace").asText()).isEqualTo(namespace);
            assertThat(e.at("/spec/selector/namespaces").toString()).isEqualTo("[\"" + namespace + "\"]");
            // Flink's native Kubernetes mode labels pods app=<cluster id = FlinkDeployment name>, component=...
            assertThat(e.at("/spec/selector/labelSelectors/app").asText()).isEqualTo(name);
            assertThat(e.at("/spec/selector/labelSelectors/component").asText()).isIn("taskmanager", "jobmanager");
        }
    }

    @Test
    void rejectsATypoedField() {
        ObjectNode bad = single("NetworkChaos", "taskmanager").deepCopy();
        ((ObjectNode) bad.at("/spec/delay")).put("latancy", "100ms");
        ((ObjectNode) bad.at("/spec")).put("directoin", "to");
        assertThat(String.join("\n", problems(bad))).contains("delay.latancy").contains("spec.directoin");
    }

    private static JsonNode single(String kind, String component) {
        List<JsonNode> found =
                experiments.stream()
                        .filter(e -> e.path("kind").asText().equals(kind))
                        .filter(e -> e.at("/spec/selector/labelSelectors/component").asText().equals(component))
                        .toList();
        assertThat(found).as("%s on %s", kind, component).hasSize(1);
        return found.get(0);
    }

    private static List<String> problems(JsonNode e) {
        List<String> problems = new ArrayList<>();
        if (!API.equals(e.path("apiVersion").asText())) {
            problems.add("apiVersion " + e.path("apiVersion").asText() + " (want " + API + ")");
        }
        Set<String> allowed =
                switch (e.path("kind").asText()) {
                    case "PodChaos" -> POD_CHAOS_FIELDS;
                    case "NetworkChaos" -> NETWORK_CHAOS_FIELDS;
                    default -> {
                        problems.add("unexpected kind " + e.path("kind").asText());
                        yield Set.of();
                    }
                };
        e.path("spec").fieldNames().forEachRemaining(f -> {
            if (!allowed.contains(f)) {
                problems.add("spec." + f + ": unknown field");
            }
        });
        e.at("/spec/selector").fieldNames().forEachRemaining(f -> {
            if (!SELECTOR_FIELDS.contains(f)) {
                problems.add("spec.selector." + f + ": unknown field");
            }
        });
        NETEM_FIELDS.forEach((block, fields) -> e.at("/spec/" + block).fieldNames().forEachRemaining(f -> {
            if (!fields.contains(f)) {
                problems.add("spec." + block + "." + f + ": unknown field");
            }
        }));
        if (e.at("/metadata/name").asText().isBlank()) {
            problems.add("metadata.name required");
        }
        return problems;
    }
}
