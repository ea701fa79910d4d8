package io.flowget.job.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The alerts of {@code k8s/namespace/prometheusrule.yaml}, as Prometheus itself reads them: the rule groups of the
 * rendered PrometheusRule pass {@code promtool check rules}, and {@code promtool test rules} runs
 * {@code k8s/namespace/alerts-test.yaml}, where each alert fires on series that should fire it (with its labels,
 * summary and runbook) and stays silent on healthy ones. promtool comes from Debian's {@code prometheus} package
 * ({@code .ci/run} installs it when missing). That each alert names metrics the job really exports is
 * {@code MetricNamesITCase}'s part.
 */
class PrometheusRulesTest {
    /** The alerts the release and operations procedures rely on (issue 17 and DESIGN.md's thresholds). */
    static final Set<String> REQUIRED_ALERTS =
            Set.of(
                    "FlowgetCheckpointFailureRatioHigh",
                    "FlowgetCheckpointSlow",
                    "FlowgetJobRestarting",
                    "FlowgetBackpressured",
                    "FlowgetTaskBusy",
                    "FlowgetKafkaConsumerLagHigh",
                    "FlowgetRocksDbCompactionPressure",
                    "FlowgetRocksDbWriteStall",
                    "FlowgetMetaspaceNearLimit",
                    "FlowgetHeapNearLimit",
                    "FlowgetCommittablesFailing",
                    "FlowgetFailedResultRatioHigh",
                    "FlowgetCanaryFailed");

    private static JsonNode rule;
    private static List<JsonNode> alerts;

    @BeforeAll
    static void load() {
        rule = Kustomize.render(RepoFiles.repoRoot().resolve(Kustomize.NAMESPACE_DIR)).stream()
                .filter(d -> d.path("kind").asText().equals("PrometheusRule"))
                .findFirst()
                .orElseThrow();
        alerts = new ArrayList<>();
        rule.at("/spec/groups").forEach(g -> g.path("rules").forEach(alerts::add));
    }

    @Test
    void promtoolChecksTheRules(@TempDir Path dir) throws Exception {
        Path rules = writeRules(dir);
        Result r = promtool(dir, "check", "rules", rules.getFileName().toString());
        assertThat(r.exit()).as(r.output()).isZero();
        assertThat(r.output()).contains("SUCCESS: " + alerts.size() + " rules found");
    }

    @Test
    void promtoolUnitTestsPass(@TempDir Path dir) throws Exception {
        writeRules(dir);
        Files.copy(RepoFiles.repoRoot().resolve(Kustomize.NAMESPACE_DIR).resolve("alerts-test.yaml"), dir.resolve("alerts-test.yaml"));
        Result r = promtool(dir, "test", "rules", "alerts-test.yaml");
        assertThat(r.exit()).as(r.output()).isZero();
        assertThat(r.output()).contains("SUCCESS");
    }

    @Test
    void everyRequiredAlertExistsWithSeverityAndARunbookLine() {
        Set<String> names = new HashSet<>();
        for (JsonNode a : alerts) {
            String name = a.path("alert").asText();
            names.add(name);
            assertThat(a.at("/labels/severity").asText()).as(name).isIn("warning", "critical");
            assertThat(a.at("/annotations/summary").asText()).as(name).isNotBlank();
            assertThat(a.at("/annotations/runbook").asText()).as(name).isNotBlank().doesNotContain("\n");
        }
        assertThat(names).containsAll(REQUIRED_ALERTS);
    }

    @Test
    void everyAlertIsUnitTestedFiringAndSilent() {
        JsonNode tests = RepoFiles.readYamlDocuments(RepoFiles.repoRoot().resolve(Kustomize.NAMESPACE_DIR).resolve("alerts-test.yaml"))
                .get(0)
                .path("tests");
        Set<String> firing = new HashSet<>();
        Set<String> silent = new HashSet<>();
        for (JsonNode t : tests) {
            for (JsonNode a : t.path("alert_rule_test")) {
                (a.path("exp_alerts").isEmpty() ? silent : firing).add(a.path("alertname").asText());
            }
        }
        Set<String> all = new HashSet<>();
        alerts.forEach(a -> all.add(a.path("alert").asText()));
        assertThat(firing).containsExactlyInAnyOrderElementsOf(all);
        // A healthy case for the alerts whose threshold matters most (ratios, rates, RocksDB).
        assertThat(silent).hasSizeGreaterThanOrEqualTo(all.size() - 3);
    }

    /** The PrometheusRule's spec as a plain Prometheus rules file ({@code groups:}), as the operator hands it over. */
    private static Path writeRules(Path dir) throws IOException {
        ObjectNode file = RepoFiles.YAML.createObjectNode();
        file.set("groups", rule.at("/spec/groups"));
        Path rules = dir.resolve("flowget-rules.yaml");
        RepoFiles.YAML.writeValue(rules.toFile(), file);
        return rules;
    }

    record Result(int exit, String output) {}

    private static Result promtool(Path dir, String... args) throws Exception {
        String promtool = System.getProperty("flowget.promtool", "promtool");
        List<String> cmd = new ArrayList<>(List.of(promtool));
        cmd.addAll(List.of(args));
        Process p;
        try {
            p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        } catch (IOException e) {
            throw new IllegalStateException(
                    "promtool not found: install Debian's prometheus package (apt-get install prometheus; .ci/run does)", e);
        }
        String out = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException("promtool did not finish: " + out);
        }
        return new Result(p.exitValue(), out);
    }
}
