package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.model.SecretRef;
import io.flowget.udf.secret.Secrets;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.Configuration;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import static io.flowget.udf.fetch.ConnectionControlTest.byId;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Header values given as {@code {"secret": name}}: resolved from a secret directory or the environment only when the
 * request is sent (the request in state holds the name), never for a hop to another origin, and a missing secret
 * FAILs the request without sending it.
 */
class HeaderSecretsTest {
    @TempDir Path tmp;

    @RegisterExtension final FetchHarnessExtension fetch = new FetchHarnessExtension();

    @Test
    void resolvesFromTheDirectoryThenTheEnvironment() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("secrets"));
        Files.writeString(dir.resolve("api-token"), "Bearer from-file\n");
        Secrets secrets = new Secrets(dir, "FLOWGET_SECRET_", Map.of("FLOWGET_SECRET_OTHER_ONE", "env-v"));

        assertThat(secrets.value("api-token")).isEqualTo("Bearer from-file");
        assertThat(secrets.value("other.one")).isEqualTo("env-v");
        assertThat(secrets.variable("other.one")).isEqualTo("FLOWGET_SECRET_OTHER_ONE");
        assertThatThrownBy(() -> secrets.value("missing")).hasMessage("secret 'missing' not found");
        assertThatThrownBy(() -> secrets.value("../api-token")).hasMessage("secret '../api-token' not found");
        Files.writeString(dir.resolve("bad"), "a\u0001b");
        assertThatThrownBy(() -> secrets.value("bad")).hasMessage("secret 'bad' is not a valid header value");
        Map<String, String> headers = Map.of("Authorization", SecretRef.encode("api-token"));
        assertThat(secrets.resolve(headers)).isEqualTo(Map.of("Authorization", "Bearer from-file"));
        assertThat(new Secrets(null, "", Map.of("OTHER_ONE", "x")).resolve(Map.of("A", "literal")))
                .isEqualTo(Map.of("A", "literal"));
    }

    @Test
    void theOperatorSendsTheSecretOnlyToTheRequestsOriginAndFailsWithoutIt() throws Exception {
        TestOrigin a = fetch.track(TestOrigin.start("127.0.0.1"));
        TestOrigin b = fetch.track(TestOrigin.start("127.0.0.2"));
        List<String> seen = new CopyOnWriteArrayList<>();
        TestOrigin.Route recording =
                (req, resp, cb, n) -> {
                    seen.add(req.getHttpURI().getHost() + req.getHttpURI().getPath() + " "
                            + req.getHeaders().get("Authorization"));
                    TestOrigin.send(resp, cb, 200, "ok".getBytes());
                };
        a.route("/f", recording);
        b.route("/f", recording);
        a.route("/away", (req, resp, cb, n) -> TestOrigin.redirect(resp, cb, 302, b.url("/f")));
        Path dir = Files.createDirectories(tmp.resolve("secrets"));
        Files.writeString(dir.resolve("api-token"), "Bearer s3cr3t");
        Configuration conf = FetchHarness.config(tmp, 8, 4);
        conf.set(FlowgetOptions.SECRETS_DIR, dir.toString());
        conf.set(FlowgetOptions.SECRETS_ENV_PREFIX, ""); // this test's process environment plays no part
        var h = fetch.harness(conf, FetchHarness.Clock.STEPPED);

        h.processElement(withSecret("own", a, "/f", "api-token"), 0);
        h.processElement(withSecret("away", a, "/away", "api-token"), 0);
        h.processElement(withSecret("missing", a, "/f", "no-such-secret"), 0);
        List<FetchResult> results = h.results(3);

        assertThat(byId(results, "own").status).isEqualTo(ResultStatus.OK);
        assertThat(byId(results, "away").status).isEqualTo(ResultStatus.OK);
        FetchResult missing = byId(results, "missing");
        assertThat(missing.status).isEqualTo(ResultStatus.FAILED);
        assertThat(missing.error).isEqualTo("secret 'no-such-secret' not found");
        assertThat(missing.attempts).as("not retried").isEqualTo(1);
        assertThat(seen).containsExactlyInAnyOrder("127.0.0.1/f Bearer s3cr3t", "127.0.0.2/f null");
    }

    private static FetchRequest withSecret(String id, TestOrigin origin, String path, String secret) {
        FetchRequest r = FetchOperatorTest.request(id, origin, path);
        r.headers = Map.of("Authorization", SecretRef.encode(secret));
        return r;
    }
}
