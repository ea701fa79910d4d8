package io.flowget.job.deploy;

import io.flowget.job.cli.FlowgetCli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.CustomResourceDefinitionContext;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code flowget promote} against a Kubernetes API test server: fabric8's mock server in CRUD mode on loopback,
 * holding production's and the shadow's FlinkDeployments as the overlays render them. PASS must change production's
 * image (and nothing else of its spec) into the candidate's as a savepoint upgrade, FAIL must suspend the shadow and
 * leave production's object untouched (same resourceVersion), and the API server's refusals are exit 70.
 */
class PromoteCommandTest {
    private static final String NS = "flowget";
    private static final String CANDIDATE = "registry.example.com/flowget:0.2.0";
    private static final ObjectMapper JSON = new ObjectMapper();

    private KubernetesMockServer server;
    private KubernetesClient client;
    private String url;

    @BeforeEach
    void startServer() throws Exception {
        CustomResourceDefinitionContext flinkDeployments = new CustomResourceDefinitionContext.Builder()
                .withGroup("flink.apache.org")
                .withVersion("v1beta1")
                .withKind("FlinkDeployment")
                .withPlural("flinkdeployments")
                .withScope("Namespaced")
                .build();
        // CRUD mode: the server stores what is created and answers GET and PATCH from that store (plain http).
        server = new KubernetesMockServer(
                new Context(), new MockWebServer(), new HashMap<>(), new KubernetesCrudDispatcher(List.of(flinkDeployments)), false);
        server.init(InetAddress.getByName("127.0.0.1"), 0);
        client = server.createClient();
        url = "http://127.0.0.1:" + server.getPort();
        create(Kustomize.deployment("flowget"), null);
        create(Kustomize.deployment("flowget-shadow"), CANDIDATE);
    }

    @AfterEach
    void stopServer() {
        client.close();
        server.destroy();
    }

    @Test
    void passPromotesTheShadowsImageIntoProductionAsASavepointUpgrade() throws Exception {
        JsonNode before = get("flowget");
        JsonNode shadowBefore = get("flowget-shadow");

        Run r = promote("--verdict", "PASS");

        assertThat(r.exit()).as(r.err()).isZero();
        JsonNode after = get("flowget");
        assertThat(after.at("/spec/image").asText()).isEqualTo(CANDIDATE);
        assertThat(after.at("/spec/job/upgradeMode").asText()).isEqualTo("savepoint");
        assertThat(after.at("/spec/job/state").asText()).isEqualTo("running");
        assertThat(withoutImage(after.path("spec"))).isEqualTo(withoutImage(before.path("spec")));
        assertThat(get("flowget-shadow").at("/metadata/resourceVersion")).isEqualTo(shadowBefore.at("/metadata/resourceVersion"));
        assertThat(JSON.readTree(r.out()).path("action").asText()).isEqualTo("promoted");
        assertThat(JSON.readTree(r.out()).path("from_image").asText()).isEqualTo(before.at("/spec/image").asText());
    }

    @Test
    void failSuspendsTheShadowAndLeavesProductionUntouched() throws Exception {
        JsonNode before = get("flowget");

        Run r = promote("--verdict", "FAIL");

        assertThat(r.exit()).isEqualTo(1);
        assertThat(get("flowget-shadow").at("/spec/job/state").asText()).isEqualTo("suspended");
        assertThat(get("flowget")).isEqualTo(before);
        assertThat(JSON.readTree(r.out()).path("action").asText()).isEqualTo("shadow-suspended");
    }

    @Test
    void promotingTwiceChangesNothingTheSecondTime() throws Exception {
        assertThat(promote("--verdict", "PASS").exit()).isZero();
        JsonNode promoted = get("flowget");

        Run again = promote("--verdict", "PASS");

        assertThat(again.exit()).isZero();
        assertThat(JSON.readTree(again.out()).path("action").asText()).isEqualTo("already-promoted");
        assertThat(get("flowget")).isEqualTo(promoted);
    }

    @Test
    void anExplicitImageWinsOverTheShadows() throws Exception {
        Run r = promote("--verdict", "PASS", "--image", "registry.example.com/flowget:0.2.1");

        assertThat(r.exit()).isZero();
        assertThat(get("flowget").at("/spec/image").asText()).isEqualTo("registry.example.com/flowget:0.2.1");
    }

    @Test
    void aMissingDeploymentIsAnInternalErrorNamingIt() {
        Run r = promote("--verdict", "PASS", "--deployment", "flowget-nope");

        assertThat(r.exit()).isEqualTo(70);
        assertThat(r.err()).contains("404").contains("flowget-nope");
    }

    @Test
    void usageErrors() {
        assertThat(promote("--verdict", "PASS", "--shadow", "flowget").exit()).isEqualTo(64);
        assertThat(promote().exit()).isEqualTo(64);
        assertThat(promote("--verdict", "MAYBE").exit()).isEqualTo(64);
    }

    // ---- helpers ----------------------------------------------------------------------------------

    record Run(int exit, String out, String err) {}

    private Run promote(String... args) {
        List<String> all = new ArrayList<>(List.of("promote", "--api-server", url, "--namespace", NS));
        all.addAll(List.of(args));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream oldOut = System.out;
        PrintStream oldErr = System.err;
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            int code = FlowgetCli.execute(all.toArray(String[]::new), System.out, System.err);
            return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    private void create(JsonNode rendered, String image) throws Exception {
        ObjectNode doc = rendered.deepCopy();
        if (image != null) {
            ((ObjectNode) doc.path("spec")).put("image", image);
        }
        GenericKubernetesResource r = Serialization.unmarshal(JSON.writeValueAsString(doc), GenericKubernetesResource.class);
        client.genericKubernetesResources("flink.apache.org/v1beta1", "FlinkDeployment").inNamespace(NS).resource(r).create();
    }

    private JsonNode get(String name) throws Exception {
        GenericKubernetesResource r = client.genericKubernetesResources("flink.apache.org/v1beta1", "FlinkDeployment")
                .inNamespace(NS)
                .withName(name)
                .get();
        return JSON.readTree(Serialization.asJson(r));
    }

    private static JsonNode withoutImage(JsonNode spec) {
        ObjectNode s = spec.deepCopy();
        s.remove("image");
        return s;
    }
}
