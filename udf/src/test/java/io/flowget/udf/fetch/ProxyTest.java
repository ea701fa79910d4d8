package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.http.ProxySelection;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.TestCertificates;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.Configuration;

import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.proxy.ProxyHandler;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.ConnectHandler;
import org.eclipse.jetty.util.Callback;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import static io.flowget.udf.fetch.ConnectionControlTest.byId;
import static io.flowget.udf.fetch.FetchOperatorTest.request;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Origins reached through a real forward proxy (Jetty's {@code ProxyHandler.Forward} for http, {@code ConnectHandler}
 * for https tunnels) that demands Basic credentials: the credentials come from a secret, the proxy's own (denied)
 * address is not judged by the SSRF guard but every origin is, and NO_PROXY hosts go directly. Plus curl's
 * environment rules, without a proxy.
 */
class ProxyTest {
    private static final String USER_PASSWORD = "flowget:pr0xy-pw";

    @TempDir Path tmp;

    @RegisterExtension final FetchHarnessExtension fetch = new FetchHarnessExtension();

    /** What the proxy was asked: "METHOD uri auth|noauth". */
    private final List<String> proxied = new CopyOnWriteArrayList<>();

    @Test
    void httpAndHttpsGoThroughTheProxyWithCredentialsAndTheGuardJudgesOrigins() throws Exception {
        Server proxy = fetch.track(new ProxyServer()).server;
        int proxyPort = ((ServerConnector) proxy.getConnectors()[0]).getLocalPort();
        TestOrigin plain = fetch.track(TestOrigin.start("127.0.0.1"));
        TestOrigin tls = fetch.track(TestOrigin.startTls("127.0.0.1", TestCertificates.get()));
        TestOrigin denied = fetch.track(TestOrigin.start("127.0.0.2"));
        TestOrigin direct = fetch.track(TestOrigin.start("127.0.0.4"));
        byte[] body = TestOrigin.content("p", 20_000);
        for (TestOrigin o : List.of(plain, tls, denied, direct)) {
            o.file("/p.bin", body);
        }
        Path secrets = Files.createDirectories(tmp.resolve("secrets"));
        Files.writeString(secrets.resolve("proxy-login"), USER_PASSWORD + "\n");
        Configuration conf = FetchHarness.config(tmp, 8, 4);
        conf.set(FlowgetOptions.HTTP_PROXY, "http://127.0.0.3:" + proxyPort);
        conf.set(FlowgetOptions.HTTP_NO_PROXY, "localhost, 127.0.0.4");
        conf.set(FlowgetOptions.HTTP_PROXY_CREDENTIALS_SECRET, "proxy-login");
        conf.set(FlowgetOptions.SECRETS_DIR, secrets.toString());
        conf.set(FlowgetOptions.TLS_CA_CERT, TestCertificates.get().caPem().toString());
        // The proxy's own address is denied: it must still be usable (it is not an origin); 127.0.0.2 must not.
        conf.set(FlowgetOptions.NET_DENY_CIDRS, "127.0.0.3/32, 127.0.0.2/32");
        var h = fetch.harness(conf, FetchHarness.Clock.STEPPED);

        h.processElement(request("plain", plain, "/p.bin"), 0);
        h.processElement(request("tls", tls, "/p.bin"), 0);
        h.processElement(request("denied", denied, "/p.bin"), 0);
        h.processElement(request("direct", direct, "/p.bin"), 0);
        List<FetchResult> results = h.results(4);

        assertThat(byId(results, "plain").status).as(byId(results, "plain").error).isEqualTo(ResultStatus.OK);
        assertThat(byId(results, "tls").status).as(byId(results, "tls").error).isEqualTo(ResultStatus.OK);
        assertThat(byId(results, "direct").status).isEqualTo(ResultStatus.OK);
        FetchResult refused = byId(results, "denied");
        assertThat(refused.status).isEqualTo(ResultStatus.FAILED);
        assertThat(refused.error).isEqualTo("blocked address: 127.0.0.2 (denied by flowget.net.deny-cidrs)");
        assertThat(denied.totalRequests()).isZero();
        assertThat(proxied)
                .as("http as absolute-form GET, https as a CONNECT tunnel, both authenticated after the 407")
                .contains(
                        "GET " + plain.url("/p.bin") + " auth",
                        "CONNECT 127.0.0.1:" + tls.port() + " auth")
                .noneMatch(p -> p.contains("127.0.0.2") || p.contains("127.0.0.4"));
        assertThat(direct.totalRequests()).as("NO_PROXY: straight to the origin").isEqualTo(1);
    }

    @Test
    void environmentFollowsCurl() {
        Configuration none = new Configuration();
        Map<String, String> env =
                Map.of(
                        "HTTP_PROXY", "http://ignored:1",
                        "HTTPS_PROXY", "proxy.corp:3128",
                        "no_proxy", ".internal.example, 10.0.0.0/8,[::1], svc:8080");
        ProxySelection s = ProxySelection.from(none, env);

        assertThat(s.proxyFor("http", "example.com")).as("upper-case HTTP_PROXY is not read (curl)").isNull();
        assertThat(s.proxyFor("https", "example.com").toURI()).isEqualTo("http://proxy.corp:3128");
        assertThat(s.proxyFor("https", "a.internal.example")).isNull();
        assertThat(s.proxyFor("https", "internal.example")).as("a leading dot is ignored").isNull();
        assertThat(s.proxyFor("https", "notinternal.example")).isNotNull();
        assertThat(s.proxyFor("https", "10.1.2.3")).as("CIDR").isNull();
        assertThat(s.proxyFor("https", "[::1]")).isNull();
        assertThat(s.proxyFor("https", "svc")).as("ports in NO_PROXY are ignored").isNull();

        Configuration configured = new Configuration();
        configured.set(FlowgetOptions.HTTP_PROXY, "http://user:secret@p.example:8080");
        configured.set(FlowgetOptions.HTTP_NO_PROXY, "*");
        ProxySelection all = ProxySelection.from(configured, env);
        assertThat(all.proxyFor("http", "anything")).as("NO_PROXY=*").isNull();
        assertThat(all.toString()).doesNotContain("secret");
        configured.set(FlowgetOptions.HTTP_NO_PROXY, "");
        assertThat(ProxySelection.from(configured, env).proxyFor("http", "x.test").toURI())
                .as("flowget.http.proxy wins over the environment, user info dropped")
                .isEqualTo("http://p.example:8080");
        configured.set(FlowgetOptions.HTTP_PROXY_FROM_ENV, false);
        configured.removeConfig(FlowgetOptions.HTTP_PROXY);
        assertThat(ProxySelection.from(configured, env).isEmpty()).isTrue();
    }

    /** A forward proxy on 127.0.0.3 that answers 407 until a request carries {@link #USER_PASSWORD}. */
    private final class ProxyServer implements AutoCloseable {
        final Server server = new Server();

        ProxyServer() throws Exception {
            ServerConnector connector = new ServerConnector(server);
            connector.setHost("127.0.0.3");
            connector.setPort(0);
            server.addConnector(connector);
            String expected =
                    "Basic " + Base64.getEncoder().encodeToString(USER_PASSWORD.getBytes(StandardCharsets.UTF_8));
            ConnectHandler tunnels = new ConnectHandler(new ProxyHandler.Forward());
            server.setHandler(
                    new Handler.Wrapper(tunnels) {
                        @Override
                        public boolean handle(Request request, Response response, Callback callback)
                                throws Exception {
                            String auth = request.getHeaders().get(HttpHeader.PROXY_AUTHORIZATION);
                            boolean ok = expected.equals(auth);
                            String target =
                                    "CONNECT".equals(request.getMethod())
                                            ? request.getHttpURI().getAuthority()
                                            : request.getHttpURI().toString();
                            proxied.add(request.getMethod() + " " + target + (ok ? " auth" : " noauth"));
                            if (!ok) {
                                response.setStatus(407);
                                response.getHeaders().put(HttpHeader.PROXY_AUTHENTICATE, "Basic realm=\"test\"");
                                response.getHeaders().put(HttpHeader.CONTENT_LENGTH, 0);
                                response.write(true, ByteBuffer.allocate(0), callback);
                                return true;
                            }
                            return super.handle(request, response, callback);
                        }
                    });
            server.start();
        }

        @Override
        public void close() throws Exception {
            server.stop();
        }
    }
}
