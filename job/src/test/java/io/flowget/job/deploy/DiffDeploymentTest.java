package io.flowget.job.deploy;

import io.flowget.job.JobOptions;
import io.flowget.job.diff.DiffOptions;
import io.flowget.udf.config.FlowgetOptions;

import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.HighAvailabilityOptions;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The shadow-verification manifests agree with each other: the diff deployment (k8s/overlays/diff) reads
 * exactly the topics that production, the shadow (candidate) and the secondary write; the secondary runs
 * production's image with the shadow's politeness; and no two deployments share a consumer group, a
 * transactional-id prefix (nor one that starts another), or a state path. K8sManifestsTest validates all
 * of them against the CRDs; this checks what the diff relies on.
 */
class DiffDeploymentTest {
    private static Map<String, JsonNode> deployments;
    private static OptionCatalog catalog;

    @BeforeAll
    static void load() {
        deployments = new TreeMap<>();
        for (String overlay : Kustomize.OVERLAYS) {
            for (JsonNode doc : Kustomize.overlay(overlay)) {
                if ("FlinkDeployment".equals(doc.path("kind").asText())) {
                    deployments.put(doc.at("/metadata/name").asText(), doc);
                }
            }
        }
        catalog = OptionCatalog.load();
    }

    @Test
    void diffReadsWhatProductionShadowAndSecondaryWrite() {
        Configuration diff = conf("flowget-diff");
        assertThat(diff.get(DiffOptions.PRIMARY_TOPIC)).isEqualTo(conf("flowget").get(JobOptions.KAFKA_RESULTS_TOPIC));
        assertThat(diff.get(DiffOptions.CANDIDATE_TOPIC))
                .isEqualTo(conf("flowget-shadow").get(JobOptions.KAFKA_RESULTS_TOPIC));
        assertThat(diff.get(DiffOptions.SECONDARY_TOPIC))
                .isEqualTo(conf("flowget-secondary").get(JobOptions.KAFKA_RESULTS_TOPIC));
        assertThat(diff.get(JobOptions.KAFKA_BOOTSTRAP_SERVERS))
                .isEqualTo(conf("flowget").get(JobOptions.KAFKA_BOOTSTRAP_SERVERS));
        assertThat(deployments.get("flowget-diff").at("/spec/job/args").toString()).isEqualTo("[\"diff\"]");
        assertThat(diff.get(DiffOptions.JOIN_INTERVAL)).isLessThanOrEqualTo(diff.get(JobOptions.KAFKA_TRANSACTION_TIMEOUT));
    }

    @Test
    void secondaryIsTheProductionBuildWithTheShadowsPoliteness() {
        JsonNode prod = deployments.get("flowget");
        JsonNode secondary = deployments.get("flowget-secondary");
        Configuration s = conf("flowget-secondary");
        Configuration shadow = conf("flowget-shadow");

        assertThat(secondary.at("/spec/image").asText()).isEqualTo(prod.at("/spec/image").asText());
        assertThat(secondary.at("/spec/job/args").toString()).isEqualTo("[\"job\"]");
        assertThat(s.get(JobOptions.KAFKA_REQUESTS_TOPIC)).isEqualTo(conf("flowget").get(JobOptions.KAFKA_REQUESTS_TOPIC));
        assertThat(s.toMap().get(FlowgetOptions.SINK_MODE.key())).isEqualTo("digest-only");
        assertThat(s.get(FlowgetOptions.HOST_MAX_CONCURRENCY)).isEqualTo(shadow.get(FlowgetOptions.HOST_MAX_CONCURRENCY));
        assertThat(s.get(FlowgetOptions.FETCH_MAX_IN_FLIGHT)).isEqualTo(shadow.get(FlowgetOptions.FETCH_MAX_IN_FLIGHT));
    }

    @Test
    void noTwoDeploymentsShareGroupsTransactionsOrState() {
        List<String> groups = new ArrayList<>();
        List<String> prefixes = new ArrayList<>();
        List<String> paths = new ArrayList<>();
        for (String name : deployments.keySet()) {
            Configuration c = conf(name);
            if (name.equals("flowget-diff")) {
                groups.add(c.get(DiffOptions.GROUP_ID));
                prefixes.add(c.get(DiffOptions.TRANSACTIONAL_ID_PREFIX));
            } else {
                groups.add(c.get(JobOptions.KAFKA_GROUP_ID));
                prefixes.add(c.get(JobOptions.KAFKA_TRANSACTIONAL_ID_PREFIX));
            }
            paths.add(c.get(CheckpointingOptions.CHECKPOINTS_DIRECTORY));
            paths.add(c.get(CheckpointingOptions.SAVEPOINT_DIRECTORY));
            paths.add(c.get(HighAvailabilityOptions.HA_STORAGE_PATH));
        }
        assertThat(deployments).containsKeys("flowget", "flowget-shadow", "flowget-secondary", "flowget-diff");
        assertThat(groups).doesNotHaveDuplicates();
        assertThat(paths).doesNotContainNull().doesNotHaveDuplicates();
        for (int i = 0; i < prefixes.size(); i++) {
            for (int j = 0; j < prefixes.size(); j++) {
                if (i != j) {
                    assertThat(prefixes.get(i)).as("transactional ids are prefix-matched").doesNotStartWith(prefixes.get(j));
                }
            }
        }
    }

    @Test
    void everyKeyIsALiveOption() {
        for (String name : List.of("flowget-diff", "flowget-secondary")) {
            assertThat(catalog.check(conf(name), K8sManifestsTest::isPluginOrKubernetesKey)).as(name).isEmpty();
        }
    }

    private static Configuration conf(String deployment) {
        JsonNode d = deployments.get(deployment);
        assertThat(d).as("FlinkDeployment %s rendered from k8s/overlays", deployment).isNotNull();
        return K8sManifestsTest.flinkConf(d);
    }
}
