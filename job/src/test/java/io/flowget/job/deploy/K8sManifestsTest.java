package io.flowget.job.deploy;

import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.HighAvailabilityOptions;
import org.apache.flink.state.rocksdb.RocksDBNativeMetricOptions;
import org.apache.flink.state.rocksdb.RocksDBOptions;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import io.flowget.udf.config.FlowgetOptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The Kubernetes objects that {@code k8s/} renders (every overlay of {@code k8s/base} and {@code k8s/namespace}, through
 * {@link Kustomize}; and any Flink custom resource under {@code chaos/k8s/}) are valid for the Flink Kubernetes
 * Operator 1.15 and Prometheus Operator CRDs in {@code job/src/test/resources/k8s-crds/}, and agree with
 * the rest of the repository: flinkVersion with the pom's Flink version, job.jarURI with the path the
 * Dockerfile copies the jar to, the base image with the Flink and Java versions, every configuration key
 * with a live Flink or flowget option, the production configuration with {@code conf/config.yaml}, and
 * the shadow deployment's separation from production. The negative tests show that the validation
 * rejects a typo'd field, a wrong type, an unknown enum value and an unknown flowget key.
 */
class K8sManifestsTest {
    private static final Set<String> CORE_KINDS =
            Set.of(
                    "v1/PersistentVolumeClaim",
                    "v1/ConfigMap",
                    "v1/ServiceAccount",
                    "batch/v1/Job",
                    "rbac.authorization.k8s.io/v1/Role",
                    "rbac.authorization.k8s.io/v1/RoleBinding",
                    "policy/v1/PodDisruptionBudget",
                    "networking.k8s.io/v1/NetworkPolicy");
    private static final String MAIN_CONTAINER = "flink-main-container";

    /** Keys of conf/config.yaml that every deployment sets to its own value (object storage instead of files). */
    private static final Set<String> SITE_KEYS =
            Set.of(CheckpointingOptions.CHECKPOINTS_DIRECTORY.key(), CheckpointingOptions.SAVEPOINT_DIRECTORY.key());

    /** Keys the shadow overrides on purpose ({@link #shadowIsSeparatedFromProduction()} checks how). */
    private static final Set<String> SHADOW_KEYS =
            Set.of(
                    "flowget.kafka.group-id",
                    "flowget.kafka.results-topic",
                    "flowget.kafka.dead-letter-topic",
                    "flowget.kafka.transactional-id-prefix",
                    "flowget.job.name",
                    FlowgetOptions.HOST_MAX_CONCURRENCY.key(),
                    FlowgetOptions.FETCH_MAX_IN_FLIGHT.key());

    private static Path root;
    private static CrdValidator validator;
    private static OptionCatalog catalog;
    private static JsonNode production;
    private static JsonNode shadow;

    @BeforeAll
    static void load() {
        root = RepoFiles.repoRoot();
        validator = new CrdValidator(RepoFiles.crdDir());
        catalog = OptionCatalog.load();
        production = Kustomize.deployment("flowget");
        shadow = Kustomize.deployment("flowget-shadow");
    }

    @Test
    void everyManifestIsValidForItsSchema() {
        Map<String, List<String>> problems = manifestProblems(Kustomize.all(), false);
        // Chaos experiments are Chaos Mesh resources (ChaosExperimentsTest); a Flink resource there is checked here.
        problems.putAll(manifestProblems(files(RepoFiles.yamlFiles(root.resolve("chaos/k8s"))), true));

        assertThat(problems.keySet().stream().filter(k -> k.contains(" FlinkDeployment/"))).hasSize(Kustomize.OVERLAYS.size());
        assertThat(problems.keySet()).anyMatch(k -> k.contains(" PodMonitor/")).anyMatch(k -> k.contains(" PrometheusRule/"));
        problems.values().removeIf(List::isEmpty);
        assertThat(problems).isEmpty();
    }

    @Test
    void flinkVersionMatchesThePom() {
        String mm = RepoFiles.majorMinor(RepoFiles.parentPomProperty("flink.version"));
        for (JsonNode d : List.of(production, shadow)) {
            assertThat(d.at("/spec/flinkVersion").asText()).isEqualTo("v" + mm.replace('.', '_'));
        }
    }

    @Test
    void jarUriIsWhereTheDockerfileCopiesTheClusterJar() {
        List<String> copy = DockerfileModel.read(root.resolve("Dockerfile")).jarCopy().paths();
        for (JsonNode d : List.of(production, shadow)) {
            assertThat(d.at("/spec/job/jarURI").asText()).isEqualTo("local://" + copy.get(copy.size() - 1));
        }
    }

    @Test
    void baseImageIsTheOfficialFlinkImageOfThePomsFlinkAndJava() {
        DockerfileModel.Stage runtime = DockerfileModel.read(root.resolve("Dockerfile")).runtime();
        String flinkMm = RepoFiles.majorMinor(RepoFiles.parentPomProperty("flink.version"));
        String java = RepoFiles.parentPomProperty("maven.compiler.release");

        assertThat(runtime.baseImage()).startsWith("flink:");
        String tag = runtime.baseImage().substring("flink:".length());
        assertThat(RepoFiles.majorMinor(tag)).isEqualTo(flinkMm);
        assertThat(tag).contains("java" + java);
    }

    @Test
    void entryClassIsTheJarsMainClassAndArgsRunTheStreamingJob() {
        String main = RepoFiles.pomText(root.resolve("cluster/pom.xml"), "//plugin[artifactId='maven-shade-plugin']//mainClass");
        for (JsonNode d : List.of(production, shadow)) {
            assertThat(d.at("/spec/job/entryClass").asText()).isEqualTo(main);
            assertThat(d.at("/spec/job/args").toString()).isEqualTo("[\"job\"]");
        }
    }

    @Test
    void imageTagIsTheReleaseVersion() {
        String version = RepoFiles.pomText(root.resolve("pom.xml"), "/project/version").replace("-SNAPSHOT", "");
        for (JsonNode d : List.of(production, shadow)) {
            assertThat(d.at("/spec/image").asText()).endsWith("flowget:" + version);
        }
    }

    @Test
    void everyConfigurationKeyIsALiveOptionWithAValidValue() {
        for (JsonNode d : List.of(production, shadow)) {
            assertThat(nonStringValues(d.at("/spec/flinkConfiguration")))
                    .as("flinkConfiguration values must be quoted scalars (the operator's flat map)")
                    .isEmpty();
            assertThat(catalog.check(flinkConf(d), K8sManifestsTest::isPluginOrKubernetesKey)).isEmpty();
        }
    }

    @Test
    void deploymentsRepeatConfigYaml(@TempDir Path tmp) throws IOException {
        Configuration base = ConfigYamlTest.loadWithFlink(root.resolve("conf/config.yaml"), tmp);

        assertThat(drift(base, flinkConf(production), SITE_KEYS)).isEmpty();
        Set<String> shadowOwn = new HashSet<>(SITE_KEYS);
        shadowOwn.addAll(SHADOW_KEYS);
        assertThat(drift(base, flinkConf(shadow), shadowOwn)).isEmpty();
    }

    @Test
    void stateLivesOnObjectStorageWithKubernetesHa() {
        for (JsonNode d : List.of(production, shadow)) {
            Configuration c = flinkConf(d);
            assertThat(c.get(HighAvailabilityOptions.HA_MODE)).isEqualTo("kubernetes");
            assertThat(c.get(HighAvailabilityOptions.HA_STORAGE_PATH)).startsWith("s3://");
            assertThat(c.get(CheckpointingOptions.CHECKPOINTS_DIRECTORY)).startsWith("s3://");
            assertThat(c.get(CheckpointingOptions.SAVEPOINT_DIRECTORY)).startsWith("s3://");
            assertThat(d.at("/spec/job/upgradeMode").asText()).isEqualTo("savepoint");
            assertThat(d.at("/spec/mode").asText()).isEqualTo("native");
        }
    }

    @Test
    void volumesBackTheConfiguredPaths() {
        Set<String> claims = new HashSet<>();
        List<JsonNode> rendered = new ArrayList<>(Kustomize.overlay("production"));
        rendered.addAll(Kustomize.overlay("shadow"));
        for (JsonNode doc : rendered) {
            if (doc.path("kind").asText().equals("PersistentVolumeClaim")) {
                claims.add(doc.at("/metadata/name").asText());
                assertThat(doc.at("/spec/accessModes").toString()).contains("ReadWriteMany");
            }
        }
        Set<String> usedClaims = new HashSet<>();
        for (JsonNode d : List.of(production, shadow)) {
            Configuration c = flinkConf(d);
            Map<String, JsonNode> volumes = new LinkedHashMap<>();
            d.at("/spec/podTemplate/spec/volumes").forEach(v -> volumes.put(v.path("name").asText(), v));
            JsonNode main = null;
            for (JsonNode ct : d.at("/spec/podTemplate/spec/containers")) {
                if (MAIN_CONTAINER.equals(ct.path("name").asText())) {
                    main = ct;
                }
            }
            assertThat(main).as("podTemplate container %s", MAIN_CONTAINER).isNotNull();
            Map<String, JsonNode> byMountPath = new LinkedHashMap<>();
            for (JsonNode m : main.path("volumeMounts")) {
                assertThat(volumes).containsKey(m.path("name").asText());
                byMountPath.put(m.path("mountPath").asText(), volumes.get(m.path("name").asText()));
            }

            JsonNode out = byMountPath.get(c.get(FlowgetOptions.STORAGE_OUT_DIR));
            assertThat(out).as("a volume mounted at flowget.storage.out-dir").isNotNull();
            String claim = out.at("/persistentVolumeClaim/claimName").asText();
            assertThat(claims).contains(claim);
            usedClaims.add(claim);

            JsonNode rocks = byMountPath.get(c.get(RocksDBOptions.LOCAL_DIRECTORIES));
            assertThat(rocks).as("a volume mounted at state.backend.rocksdb.localdir").isNotNull();
            assertThat(rocks.has("emptyDir")).isTrue();
        }
        assertThat(usedClaims).as("production and shadow write to different volumes").hasSize(2);
    }

    @Test
    void shadowIsSeparatedFromProduction() {
        Configuration p = flinkConf(production);
        Configuration s = flinkConf(shadow);

        assertThat(str(s, "flowget.kafka.requests-topic")).isEqualTo(str(p, "flowget.kafka.requests-topic"));
        assertThat(str(s, "flowget.kafka.bootstrap-servers")).isEqualTo(str(p, "flowget.kafka.bootstrap-servers"));
        assertThat(str(s, "flowget.kafka.results-topic")).isEqualTo("flowget.results.shadow");
        assertThat(str(s, "flowget.sink.mode")).isEqualTo("digest-only");
        for (String key :
                List.of(
                        "flowget.kafka.group-id",
                        "flowget.kafka.results-topic",
                        "flowget.kafka.dead-letter-topic",
                        "flowget.kafka.transactional-id-prefix",
                        "flowget.job.name",
                        CheckpointingOptions.CHECKPOINTS_DIRECTORY.key(),
                        CheckpointingOptions.SAVEPOINT_DIRECTORY.key(),
                        HighAvailabilityOptions.HA_STORAGE_PATH.key())) {
            assertThat(str(s, key)).as(key).isNotBlank().isNotEqualTo(str(p, key));
        }
        // Transactional ids are prefix-matched: neither prefix may start the other.
        assertThat(str(s, "flowget.kafka.transactional-id-prefix")).doesNotStartWith(str(p, "flowget.kafka.transactional-id-prefix"));
        assertThat(str(p, "flowget.kafka.transactional-id-prefix")).doesNotStartWith(str(s, "flowget.kafka.transactional-id-prefix"));
        assertThat(s.get(FlowgetOptions.HOST_MAX_CONCURRENCY)).isLessThan(p.get(FlowgetOptions.HOST_MAX_CONCURRENCY));
        assertThat(shadow.at("/metadata/name").asText()).isNotEqualTo(production.at("/metadata/name").asText());
    }

    @Test
    void everyDeploymentLogsWithConfLog4j2Properties() {
        String log4j = RepoFiles.read(root.resolve("conf/log4j2.properties"));
        for (String name : deploymentNames()) {
            assertThat(Kustomize.deployment(name).at("/spec/logConfiguration/log4j-console.properties").asText())
                    .as("%s logConfiguration", name)
                    .isEqualTo(log4j);
        }
    }

    @Test
    void everyPipelineHasADisruptionBudgetOverItsOwnPods() {
        for (String overlay : Kustomize.OVERLAYS) {
            List<JsonNode> docs = Kustomize.overlay(overlay);
            String name = only(docs, "FlinkDeployment").at("/metadata/name").asText();
            JsonNode pdb = only(docs, "PodDisruptionBudget");
            // The operator labels every pod of FlinkDeployment NAME with app=NAME.
            assertThat(pdb.at("/spec/selector/matchLabels").toString()).as(overlay).isEqualTo("{\"app\":\"" + name + "\"}");
            assertThat(pdb.at("/spec/maxUnavailable").asInt()).isEqualTo(1);
        }
    }

    @Test
    void ephemeralStorageRequestsCoverTheEmptyDirs() {
        for (String name : deploymentNames()) {
            JsonNode d = Kustomize.deployment(name);
            long emptyDirs = 0;
            for (JsonNode v : d.at("/spec/podTemplate/spec/volumes")) {
                if (v.has("emptyDir")) {
                    assertThat(v.at("/emptyDir/sizeLimit").asText()).as("%s emptyDir %s sizeLimit", name, v.path("name").asText()).isNotBlank();
                    emptyDirs += gibibytes(v.at("/emptyDir/sizeLimit").asText());
                }
            }
            assertThat(gibibytes(d.at("/spec/taskManager/resource/ephemeralStorage").asText()))
                    .as("%s taskManager ephemeralStorage vs its emptyDirs", name)
                    .isGreaterThan(emptyDirs);
            assertThat(d.at("/spec/jobManager/resource/ephemeralStorage").asText()).as(name).isNotBlank();
        }
    }

    @Test
    void savepointsAreRetainedByCountAndAgeAndDisposedOnDelete() {
        for (String name : deploymentNames()) {
            Map<String, String> c = flinkConf(Kustomize.deployment(name)).toMap();
            assertThat(c).as(name)
                    .containsEntry("kubernetes.operator.savepoint.history.max.count", "5")
                    .containsEntry("kubernetes.operator.savepoint.history.max.age", "72h")
                    .containsEntry("kubernetes.operator.savepoint.cleanup.enabled", "true")
                    .containsEntry("kubernetes.operator.savepoint.dispose-on-delete", "true");
        }
    }

    @Test
    void productionRollsBackAnUnhealthyUpgrade() {
        Map<String, String> c = flinkConf(production).toMap();
        assertThat(c)
                .containsEntry("kubernetes.operator.deployment.rollback.enabled", "true")
                .containsEntry("kubernetes.operator.cluster.health-check.enabled", "true")
                .containsEntry("kubernetes.operator.cluster.health-check.checkpoint-progress.enabled", "true")
                .containsKeys(
                        "kubernetes.operator.deployment.readiness.timeout",
                        "kubernetes.operator.cluster.health-check.restarts.threshold",
                        "kubernetes.operator.cluster.health-check.restarts.window",
                        "kubernetes.operator.cluster.health-check.checkpoint-progress.window");
        // Only production rolls back by itself: a candidate that fails is judged by the canary, not reverted.
        assertThat(flinkConf(shadow).toMap()).doesNotContainKey("kubernetes.operator.deployment.rollback.enabled");
    }

    @Test
    void rocksDbNativeMetricsThatMatterAreOn() {
        for (String name : deploymentNames()) {
            Configuration c = flinkConf(Kustomize.deployment(name));
            for (ConfigOption<Boolean> o :
                    List.of(
                            RocksDBNativeMetricOptions.ESTIMATE_PENDING_COMPACTION_BYTES,
                            RocksDBNativeMetricOptions.MONITOR_NUM_RUNNING_COMPACTIONS,
                            RocksDBNativeMetricOptions.MONITOR_ACTUAL_DELAYED_WRITE_RATE,
                            RocksDBNativeMetricOptions.IS_WRITE_STOPPED,
                            RocksDBNativeMetricOptions.BLOCK_CACHE_USAGE,
                            RocksDBNativeMetricOptions.MONITOR_CUR_SIZE_ALL_MEM_TABLE)) {
                assertThat(c.get(o)).as("%s %s", name, o.key()).isTrue();
            }
        }
    }

    @Test
    void releaseJobRunsTheCanaryThenPromoteWithNoMoreRightsThanThat() {
        List<JsonNode> docs = Kustomize.render(root.resolve(Kustomize.RELEASE_DIR));
        JsonNode job = only(docs, "Job");
        JsonNode role = only(docs, "Role");
        JsonNode binding = only(docs, "RoleBinding");
        String script = job.at("/spec/template/spec/containers/0/args/0").asText();
        List<String> copy = DockerfileModel.read(root.resolve("Dockerfile")).jarCopy().paths();

        assertThat(script).contains(copy.get(copy.size() - 1) + ":/opt/flink/lib/*").contains("io.flowget.job.cli.FlowgetCli");
        assertThat(script.indexOf("flowget canary")).isPositive().isLessThan(script.indexOf("flowget promote"));
        assertThat(script).contains("--deployment " + production.at("/metadata/name").asText())
                .contains("--shadow " + shadow.at("/metadata/name").asText());
        assertThat(job.at("/spec/backoffLimit").asInt()).isZero();
        assertThat(job.at("/spec/template/spec/serviceAccountName").asText()).isEqualTo(only(docs, "ServiceAccount").at("/metadata/name").asText());
        assertThat(binding.at("/subjects/0/name").asText()).isEqualTo(job.at("/spec/template/spec/serviceAccountName").asText());
        assertThat(binding.at("/roleRef/name").asText()).isEqualTo(role.at("/metadata/name").asText());
        assertThat(role.at("/rules").toString())
                .isEqualTo("[{\"apiGroups\":[\"flink.apache.org\"],\"resources\":[\"flinkdeployments\"],\"verbs\":[\"get\",\"patch\"]}]");
    }

    // ---- negative tests: the validation bites -----------------------------------------------------

    @Test
    void rejectsATypoedField() {
        ObjectNode doc = production.deepCopy();
        ((ObjectNode) doc.at("/spec/job")).put("jarUri", "local:///x.jar");
        assertThat(validator.validate(doc)).singleElement().asString().contains("$.spec.job.jarUri").contains("unknown field");
    }

    @Test
    void rejectsATypoedFieldDeepInThePodTemplate() {
        ObjectNode doc = production.deepCopy();
        ((ObjectNode) doc.at("/spec/podTemplate/spec/containers/0")).set("volumeMount", doc.at("/spec/podTemplate/spec/containers/0/volumeMounts"));
        assertThat(validator.validate(doc)).singleElement().asString().contains("containers[0].volumeMount");
    }

    @Test
    void rejectsAWrongTypeAndAnUnknownEnumValue() {
        ObjectNode doc = production.deepCopy();
        ((ObjectNode) doc.at("/spec/job")).put("parallelism", "four");
        ((ObjectNode) doc.at("/spec/job")).put("upgradeMode", "savepiont");
        ((ObjectNode) doc.at("/spec")).put("flinkVersion", "v2_9");
        List<String> problems = validator.validate(doc);
        assertThat(String.join("\n", problems)).contains("parallelism").contains("upgradeMode").contains("flinkVersion");
    }

    @Test
    void rejectsAnUnknownFlowgetKey() {
        ObjectNode doc = production.deepCopy();
        ((ObjectNode) doc.at("/spec/flinkConfiguration")).set("flowget.host.max-concurency", TextNode.valueOf("4"));
        assertThat(catalog.check(flinkConf(doc), K8sManifestsTest::isPluginOrKubernetesKey))
                .singleElement()
                .asString()
                .contains("flowget.host.max-concurency");
    }

    @Test
    void rejectsAKindWithoutASchema() {
        JsonNode doc = RepoFiles.parseYamlDocuments("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\n").get(0);
        assertThat(manifestProblems(Map.of("x.yaml", List.of(doc)), false).values()).singleElement().asString().contains("no schema known");
    }

    // ---- helpers ----------------------------------------------------------------------------------

    /**
     * Problems per document ("file kind/name"), validated against its CRD or, for the few core kinds
     * the deployment uses, a minimal check; with {@code flinkOnly}, other documents are skipped.
     */
    private static Map<String, List<String>> manifestProblems(Map<String, List<JsonNode>> docsBySource, boolean flinkOnly) {
        Map<String, List<String>> problems = new TreeMap<>();
        for (Map.Entry<String, List<JsonNode>> source : docsBySource.entrySet()) {
            for (JsonNode doc : source.getValue()) {
                String type = doc.path("apiVersion").asText() + "/" + doc.path("kind").asText();
                String id = source.getKey() + " " + doc.path("kind").asText() + "/" + doc.at("/metadata/name").asText();
                if (validator.knows(doc)) {
                    problems.put(id, validator.validate(doc));
                } else if (flinkOnly) {
                    if (type.startsWith("flink.apache.org/")) {
                        problems.put(id, List.of("no CRD for " + type));
                    }
                } else if (CORE_KINDS.contains(type)) {
                    problems.put(id, coreKindProblems(doc));
                } else {
                    problems.put(id, List.of("no schema known for " + type + "; validate it here before adding it"));
                }
            }
        }
        return problems;
    }

    /**
     * Keys read by code that is not on this classpath: flink-kubernetes and the operator (kubernetes.*)
     * and the S3 file system plugin (s3.*, e.g. s3.endpoint for MinIO, see k8s/README.md).
     */
    static boolean isPluginOrKubernetesKey(String key) {
        return key.startsWith("kubernetes.") || key.startsWith("s3.");
    }

    private static List<String> deploymentNames() {
        List<String> names = new ArrayList<>();
        for (String overlay : Kustomize.OVERLAYS) {
            names.add(only(Kustomize.overlay(overlay), "FlinkDeployment").at("/metadata/name").asText());
        }
        return names;
    }

    private static JsonNode only(List<JsonNode> docs, String kind) {
        List<JsonNode> of = docs.stream().filter(d -> kind.equals(d.path("kind").asText())).toList();
        assertThat(of).as(kind).hasSize(1);
        return of.get(0);
    }

    /** A Kubernetes quantity in Gi or Mi as whole GiB, rounded up ("22Gi" → 22, "512Mi" → 1). */
    private static long gibibytes(String quantity) {
        if (quantity.endsWith("Gi")) {
            return Long.parseLong(quantity.substring(0, quantity.length() - 2));
        }
        if (quantity.endsWith("Mi")) {
            return (Long.parseLong(quantity.substring(0, quantity.length() - 2)) + 1023) / 1024;
        }
        throw new IllegalArgumentException("not a Gi/Mi quantity: " + quantity);
    }

    /** The documents of each file, by file name. */
    private static Map<String, List<JsonNode>> files(List<Path> files) {
        Map<String, List<JsonNode>> out = new TreeMap<>();
        for (Path f : files) {
            out.put(f.getFileName().toString(), RepoFiles.readYamlDocuments(f));
        }
        return out;
    }

    static Configuration flinkConf(JsonNode deployment) {
        Map<String, String> m = new TreeMap<>();
        deployment.at("/spec/flinkConfiguration").fields().forEachRemaining(e -> m.put(e.getKey(), e.getValue().asText()));
        return Configuration.fromMap(m);
    }

    /** Keys whose value is not a string (the operator's flat map wants quoted strings). */
    private static List<String> nonStringValues(JsonNode conf) {
        List<String> bad = new ArrayList<>();
        conf.fields().forEachRemaining(e -> {
            if (!e.getValue().isTextual()) {
                bad.add(e.getKey());
            }
        });
        return bad;
    }

    /** Keys of {@code base} that {@code deployed} lacks or sets to a different (typed) value. */
    private static List<String> drift(Configuration base, Configuration deployed, Set<String> ownKeys) {
        List<String> out = new ArrayList<>();
        for (String key : new TreeSet<>(base.keySet())) {
            if (ownKeys.contains(key)) {
                continue;
            }
            if (!deployed.containsKey(key)) {
                out.add(key + ": missing");
                continue;
            }
            ConfigOption<?> o = catalog.option(key);
            Object a = o != null ? base.get(o) : base.toMap().get(key);
            Object b = o != null ? deployed.get(o) : deployed.toMap().get(key);
            if (!Objects.equals(a, b)) {
                out.add(key + ": config.yaml " + a + " vs manifest " + b);
            }
        }
        return out;
    }

    private static String str(Configuration c, String key) {
        return c.toMap().get(key);
    }

    private static List<String> coreKindProblems(JsonNode doc) {
        List<String> problems = new ArrayList<>();
        if (doc.at("/metadata/name").asText().isBlank()) {
            problems.add("metadata.name required");
        }
        switch (doc.path("kind").asText()) {
            case "PersistentVolumeClaim" -> {
                if (!doc.at("/spec/accessModes").isArray() || doc.at("/spec/resources/requests/storage").asText().isBlank()) {
                    problems.add("PersistentVolumeClaim needs spec.accessModes and spec.resources.requests.storage");
                }
            }
            case "PodDisruptionBudget" -> {
                if (doc.at("/spec/selector/matchLabels").isEmpty()
                        || doc.at("/spec/maxUnavailable").isMissingNode() == doc.at("/spec/minAvailable").isMissingNode()) {
                    problems.add("PodDisruptionBudget needs a selector and exactly one of maxUnavailable, minAvailable");
                }
            }
            case "ConfigMap" -> {
                if (!doc.path("data").isObject() || doc.path("data").isEmpty()) {
                    problems.add("ConfigMap needs data");
                }
            }
            case "ServiceAccount" -> {
                // a name is all it needs
            }
            case "Job" -> {
                if (doc.at("/spec/template/spec/containers").isEmpty()
                        || !doc.at("/spec/template/spec/restartPolicy").asText().matches("Never|OnFailure")) {
                    problems.add("Job needs containers and restartPolicy Never or OnFailure");
                }
            }
            case "Role" -> {
                if (!doc.at("/rules").isArray() || doc.at("/rules").isEmpty()) {
                    problems.add("Role needs rules");
                }
            }
            case "RoleBinding" -> {
                if (doc.at("/roleRef/name").asText().isBlank() || doc.at("/subjects").isEmpty()) {
                    problems.add("RoleBinding needs roleRef and subjects");
                }
            }
            case "NetworkPolicy" -> {
                if (!doc.at("/spec/podSelector").isObject() || !doc.at("/spec/policyTypes").isArray()) {
                    problems.add("NetworkPolicy needs spec.podSelector and spec.policyTypes");
                }
            }
            default -> problems.add("no check for " + doc.path("kind").asText());
        }
        return problems;
    }
}
