package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.TestCertificates;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.Configuration;

import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import static io.flowget.udf.fetch.ConnectionControlTest.byId;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Credentials stay on the request's own origin across redirects, and https → http hops are refused by default:
 * {@link RedirectSecurity} alone, and the operator against two (three) real loopback origins that record which
 * headers arrive.
 */
class RedirectSecurityTest {
    @TempDir Path tmp;

    @RegisterExtension final FetchHarnessExtension fetch = new FetchHarnessExtension();

    /** Headers that arrived per origin-and-path, as "name=value" (absent headers are not listed). */
    private final Map<String, Set<String>> arrived = new ConcurrentHashMap<>();

    private static final Map<String, String> HEADERS = headers();

    private static Map<String, String> headers() {
        Map<String, String> h = new LinkedHashMap<>();
        h.put("Authorization", "Bearer s3cr3t");
        h.put("Cookie", "session=abc");
        h.put("X-Api-Key", "k3y");
        h.put("X-Trace", "keep-me");
        return h;
    }

    @Test
    void tokenReachesOnlyTheRequestsOwnOriginOnEveryHop() throws Exception {
        TestOrigin a = origin("127.0.0.1");
        TestOrigin b = origin("127.0.0.2");
        TestOrigin otherPort = origin("127.0.0.1");
        for (TestOrigin o : List.of(a, b, otherPort)) {
            o.route("/target", recording(o));
        }
        a.route("/same", (req, resp, cb, n) -> TestOrigin.redirect(resp, cb, 302, "/target"));
        a.route("/to-b", (req, resp, cb, n) -> TestOrigin.redirect(resp, cb, 302, b.url("/target")));
        a.route("/to-port", (req, resp, cb, n) -> TestOrigin.redirect(resp, cb, 302, otherPort.url("/target")));
        // Same address and port, another host name: another origin all the same.
        String viaLocalhost = "http://localhost:" + a.port() + "/target";
        a.route("/to-localhost", (req, resp, cb, n) -> TestOrigin.redirect(resp, cb, 302, viaLocalhost));
        // Away and back: the request's own origin gets its credentials again, the one in between does not.
        a.route("/bounce", (req, resp, cb, n) -> TestOrigin.redirect(resp, cb, 302, b.url("/back")));
        b.route("/back", (req, resp, cb, n) -> {
            record(b, "/back", req);
            TestOrigin.redirect(resp, cb, 302, a.url("/final"));
        });
        a.route("/final", recording(a));
        Configuration conf = FetchHarness.config(tmp, 8, 4);
        conf.set(FlowgetOptions.HTTP_REDIRECT_STRIP_HEADERS, "x-api-key");
        var h = fetch.harness(conf, FetchHarness.Clock.STEPPED);

        for (String p : List.of("/same", "/to-b", "/to-port", "/to-localhost", "/bounce")) {
            h.processElement(request(p.substring(1), a, p), 0);
        }
        List<FetchResult> results = h.results(5);

        assertThat(results).allSatisfy(r -> assertThat(r.status).as(r.id + ": " + r.error).isEqualTo(ResultStatus.OK));
        Set<String> all = Set.of("Authorization=Bearer s3cr3t", "Cookie=session=abc", "X-Api-Key=k3y", "X-Trace=keep-me");
        assertThat(arrived.get(key(a, "/target")))
                .as("same origin (both the direct hop and the localhost hop land here)")
                .containsAll(all);
        assertThat(arrived.get(key(b, "/target"))).containsExactly("X-Trace=keep-me");
        assertThat(arrived.get(key(otherPort, "/target"))).containsExactly("X-Trace=keep-me");
        assertThat(arrived.get(key(b, "/back"))).containsExactly("X-Trace=keep-me");
        assertThat(arrived.get(key(a, "/final"))).containsExactlyInAnyOrderElementsOf(all);
        assertThat(arrived.get("localhost:" + a.port() + "/target"))
                .as("localhost is another host name than 127.0.0.1")
                .containsExactly("X-Trace=keep-me");
    }

    @Test
    void httpsToHttpIsRefusedByDefaultAndFollowedWithoutCredentialsWhenAllowed() throws Exception {
        TestOrigin plain = origin("127.0.0.1");
        plain.route("/target", recording(plain));
        TestOrigin tls = fetch.track(TestOrigin.startTls("127.0.0.1", TestCertificates.get()));
        tls.route("/down", (req, resp, cb, n) -> TestOrigin.redirect(resp, cb, 301, plain.url("/target")));
        Configuration conf = FetchHarness.config(tmp, 8, 4);
        conf.set(FlowgetOptions.TLS_CA_CERT, TestCertificates.get().caPem().toString());
        var strict = fetch.harness(conf, FetchHarness.Clock.STEPPED);
        strict.processElement(request("down", tls, "/down"), 0);
        FetchResult refused = strict.results(1).get(0);

        assertThat(refused.status).isEqualTo(ResultStatus.FAILED);
        assertThat(refused.error).isEqualTo("insecure redirect (https to http) to " + plain.url("/target"));
        assertThat(refused.httpStatus).isEqualTo(301);
        assertThat(plain.totalRequests()).as("nothing went out in clear text").isZero();
        strict.close();

        Configuration lax = FetchHarness.config(tmp.resolve("lax"), 8, 4);
        lax.set(FlowgetOptions.TLS_CA_CERT, TestCertificates.get().caPem().toString());
        lax.set(FlowgetOptions.HTTP_REDIRECT_ALLOW_INSECURE, true);
        var allowed = fetch.harness(lax, FetchHarness.Clock.STEPPED);
        allowed.processElement(request("down", tls, "/down"), 0);

        assertThat(allowed.results(1).get(0).status).isEqualTo(ResultStatus.OK);
        assertThat(arrived.get(key(plain, "/target")))
                .as("without strip-headers, only the credential headers stay behind")
                .containsExactlyInAnyOrder("X-Api-Key=k3y", "X-Trace=keep-me");
    }

    @Nested
    class Rules {
        private final RedirectSecurity security = new RedirectSecurity(Set.of("X-Api-Key "), false);

        @Test
        void sameOriginComparesSchemeHostAndEffectivePort() {
            assertThat(RedirectSecurity.sameOrigin("http://h.test/a", "http://H.TEST:80/b")).isTrue();
            assertThat(RedirectSecurity.sameOrigin("https://h.test/a", "https://h.test:443/b")).isTrue();
            assertThat(RedirectSecurity.sameOrigin("http://h.test/a", "https://h.test/a")).isFalse();
            assertThat(RedirectSecurity.sameOrigin("http://h.test/a", "http://h.test:8080/a")).isFalse();
            assertThat(RedirectSecurity.sameOrigin("http://h.test/a", "http://g.test/a")).isFalse();
            assertThat(RedirectSecurity.sameOrigin("http://h.test/a", "http://h.test.evil/a")).isFalse();
            assertThat(RedirectSecurity.sameOrigin("http://h.test/a", "not a url")).isFalse();
        }

        @Test
        void credentialHeadersAreDroppedCaseInsensitivelyOnAnotherOrigin() {
            Map<String, String> h = Map.of("authorization", "x", "COOKIE", "y", "Proxy-Authorization", "z",
                    "x-api-key", "k", "Accept", "a");
            assertThat(security.headersFor(h, "http://a.test/", "http://a.test/other")).isEqualTo(h);
            assertThat(security.headersFor(h, "http://a.test/", "http://b.test/")).isEqualTo(Map.of("Accept", "a"));
            assertThat(security.headersFor(null, "http://a.test/", "http://b.test/")).isEmpty();
        }

        @Test
        void onlyHttpsToHttpIsADowngrade() {
            assertThat(security.downgrade("https://a.test/", URI.create("http://a.test/")))
                    .isEqualTo("insecure redirect (https to http) to http://a.test/");
            assertThat(security.downgrade("http://a.test/", URI.create("http://b.test/"))).isNull();
            assertThat(security.downgrade("https://a.test/", URI.create("https://b.test/"))).isNull();
            assertThat(new RedirectSecurity(Set.of(), true).downgrade("https://a.test/", URI.create("http://a.test/")))
                    .isNull();
        }
    }

    // ------------------------------------------------------------------------------------------------

    private static FetchRequest request(String id, TestOrigin origin, String path) {
        FetchRequest r = FetchOperatorTest.request(id, origin, path);
        r.headers = HEADERS;
        return r;
    }

    private TestOrigin.Route recording(TestOrigin origin) {
        return (req, resp, cb, n) -> {
            record(origin, req.getHttpURI().getPath(), req);
            TestOrigin.send(resp, cb, 200, "ok".getBytes());
        };
    }

    private void record(TestOrigin origin, String path, org.eclipse.jetty.server.Request req) {
        String host = req.getHttpURI().getHost();
        Set<String> seen = arrived.computeIfAbsent(
                (host.equals("localhost") ? "localhost:" + origin.port() : key(origin, "")) + path,
                k -> ConcurrentHashMap.newKeySet());
        for (String name : HEADERS.keySet()) {
            String v = req.getHeaders().get(name);
            if (v != null) {
                seen.add(name + "=" + v);
            }
        }
    }

    private static String key(TestOrigin o, String path) {
        return o.host() + ":" + o.port() + path;
    }

    private TestOrigin origin(String address) throws Exception {
        return fetch.track(TestOrigin.start(address));
    }
}
