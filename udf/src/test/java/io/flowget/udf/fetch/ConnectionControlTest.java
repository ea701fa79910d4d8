package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.http.AddressPolicy;
import io.flowget.udf.http.HttpClientHolder;
import io.flowget.udf.http.HttpClientSettings;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.TestCertificates;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.Configuration;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

import static io.flowget.udf.fetch.FetchOperatorTest.request;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The connection layer under the fetch operator, in the keyed harness against real Jetty origins: the SSRF guard
 * (after DNS, on every redirect hop), keep-alive reuse, HTTP/2 over TLS with a test CA, TLS verification.
 */
class ConnectionControlTest {
    @TempDir Path tmp;

    @RegisterExtension final FetchHarnessExtension fetch = new FetchHarnessExtension();

    @Test
    void ssrfGuardRefusesDeniedAddressesOnFirstHopAndOnRedirects() throws Exception {
        // Safety first: this test must never send a packet to 169.254.169.254. The policy refuses it, and the
        // first case below proves the guard is wired into the client before any request is sent there.
        assertThat(AddressPolicy.of(List.of(), List.of()).allows(InetAddress.getByName("169.254.169.254")))
                .isFalse();
        TestOrigin allowed = origin("127.0.0.1");
        TestOrigin denied = origin("127.0.0.2");
        denied.file("/secret", "secret".getBytes());
        allowed.file("/ok", "ok".getBytes());
        allowed.route("/to-denied", (req, resp, cb, n) -> TestOrigin.redirect(resp, cb, 302, denied.url("/secret")));
        Configuration conf = config(8, 4);
        conf.set(FlowgetOptions.NET_DENY_CIDRS, "127.0.0.2/32");
        var h = harness(conf);

        h.processElement(request("direct", denied, "/secret"), 0);
        h.processElement(request("hop", allowed, "/to-denied"), 0);
        h.processElement(request("ok", allowed, "/ok"), 0);
        List<FetchResult> first = h.results(3);

        FetchResult direct = byId(first, "direct");
        assertThat(direct.status).isEqualTo(ResultStatus.FAILED);
        assertThat(direct.error).isEqualTo("blocked address: 127.0.0.2 (denied by flowget.net.deny-cidrs)");
        assertThat(direct.attempts).as("a refusal is not retried").isEqualTo(1);
        FetchResult hop = byId(first, "hop");
        assertThat(hop.error).isEqualTo("blocked address: 127.0.0.2 (denied by flowget.net.deny-cidrs)");
        assertThat(hop.attempts).isEqualTo(1);
        assertThat(denied.totalRequests()).as("nothing reached the denied origin").isZero();
        assertThat(denied.connectionsOpened()).isZero();
        assertThat(byId(first, "ok").status).isEqualTo(ResultStatus.OK);

        // The built-in rule: a redirect to the cloud metadata endpoint.
        allowed.route(
                "/to-metadata",
                (req, resp, cb, n) ->
                        TestOrigin.redirect(resp, cb, 302, "http://169.254.169.254/latest/meta-data/iam/"));
        h.processElement(request("metadata", allowed, "/to-metadata"), 0);
        FetchResult metadata = byId(h.results(4), "metadata");

        assertThat(metadata.status).isEqualTo(ResultStatus.FAILED);
        assertThat(metadata.error).isEqualTo("blocked address: 169.254.169.254 (link-local / cloud metadata)");
        assertThat(metadata.attempts).isEqualTo(1);
        assertThat(h.numProcessingTimeTimers()).as("no retry is scheduled").isZero();
    }

    @Test
    void servicePostureRefusesLoopbackUnspecifiedAndPortsOutsideTheList() throws Exception {
        TestOrigin origin = origin("127.0.0.1");
        TestOrigin otherPort = origin("127.0.0.1");
        origin.file("/f", "f".getBytes());
        otherPort.file("/f", "f".getBytes());
        origin.route("/to-other-port", (req, resp, cb, n) -> TestOrigin.redirect(resp, cb, 302, otherPort.url("/f")));
        Configuration service = config(8, 4);
        service.set(FlowgetOptions.NET_POSTURE, FlowgetOptions.NetPosture.SERVICE);
        var strict = harness(service);
        strict.processElement(request("loopback", origin, "/f"), 0);
        // http://[::]:port/ reaches a server listening on loopback on Linux.
        strict.processElement(new FetchRequest("any", "http://[::]:" + origin.port() + "/f", "::", "any/f"), 0);
        List<FetchResult> refused = strict.results(2);

        assertThat(byId(refused, "loopback").error).isEqualTo("blocked address: 127.0.0.1 (loopback)");
        assertThat(byId(refused, "any").error).isEqualTo("blocked address: 0:0:0:0:0:0:0:0 (unspecified address)");
        assertThat(refused).allSatisfy(r -> assertThat(r.attempts).isEqualTo(1));
        assertThat(origin.totalRequests()).isZero();
        strict.close();

        Configuration ports = FetchHarness.config(tmp.resolve("ports"), 8, 4);
        ports.set(FlowgetOptions.NET_ALLOWED_PORTS, "1-1023," + origin.port());
        var h = harness(ports);
        h.processElement(request("direct", otherPort, "/f"), 0);
        h.processElement(request("hop", origin, "/to-other-port"), 0);
        h.processElement(request("ok", origin, "/f"), 0);
        List<FetchResult> results = h.results(3);

        String blocked = "blocked port: " + otherPort.port() + " (not in flowget.net.allowed-ports)";
        assertThat(byId(results, "direct").error).isEqualTo(blocked);
        assertThat(byId(results, "hop").error).isEqualTo(blocked);
        assertThat(byId(results, "hop").attempts).as("not retried").isEqualTo(1);
        assertThat(byId(results, "ok").status).isEqualTo(ResultStatus.OK);
        assertThat(otherPort.totalRequests()).isZero();
    }

    @Test
    void keepAliveReusesAFewConnectionsForManySmallFiles() throws Exception {
        TestOrigin origin = origin("127.0.0.1");
        int files = 2000;
        for (int i = 0; i < files; i++) {
            origin.file("/k" + i, TestOrigin.content("k" + i, 200));
        }
        Configuration conf = config(64, 8);
        var h = harness(conf);
        HttpClientHolder.Lease lease = HttpClientHolder.acquire(HttpClientSettings.from(conf));
        try {
            for (int i = 0; i < files; i++) {
                h.processElement(request("k" + i, origin, "/k" + i), 0);
            }
            List<FetchResult> results = h.results(files);

            assertThat(results).allSatisfy(r -> assertThat(r.status).isEqualTo(ResultStatus.OK));
            System.out.printf(
                    "keep-alive: %d requests, %d connections at the origin, %d opened by the client, max %d"
                            + " concurrent%n",
                    files, origin.connectionsOpened(), lease.connections().opened(), origin.maxConcurrent());
            assertThat(origin.connectionsOpened()).as("connections for %s requests at limit 8", files)
                    .isLessThanOrEqualTo(8 + 2);
            assertThat(lease.connections().opened()).isEqualTo(origin.connectionsOpened());
        } finally {
            HttpClientHolder.release(lease);
        }
    }

    @Test
    void http2OverTlsCarriesOneRequestAtATimePerKeptConnection() throws Exception {
        TestOrigin origin = tlsOrigin("127.0.0.1");
        Set<String> versions = ConcurrentHashMap.newKeySet();
        Map<String, AtomicInteger> streams = new ConcurrentHashMap<>();
        AtomicInteger mostStreamsOnOneConnection = new AtomicInteger();
        int files = 300;
        for (int i = 0; i < files; i++) {
            byte[] body = TestOrigin.content("h" + i, 4000);
            origin.route("/h" + i, (req, resp, cb, n) -> {
                versions.add(req.getConnectionMetaData().getHttpVersion().asString());
                AtomicInteger open =
                        streams.computeIfAbsent(req.getConnectionMetaData().getId(), c -> new AtomicInteger());
                mostStreamsOnOneConnection.accumulateAndGet(open.incrementAndGet(), Math::max);
                Thread.sleep(5); // long enough that requests overlap
                open.decrementAndGet();
                TestOrigin.send(resp, cb, 200, body);
            });
        }
        Configuration conf = config(64, 32);
        conf.set(FlowgetOptions.TLS_CA_CERT, TestCertificates.get().caPem().toString());
        var h = harness(conf);
        for (int i = 0; i < files; i++) {
            h.processElement(request("h" + i, origin, "/h" + i), 0);
        }
        List<FetchResult> results = h.results(files);

        assertThat(results).allSatisfy(r -> assertThat(r.status).as(r.error).isEqualTo(ResultStatus.OK));
        assertThat(versions).containsExactly("HTTP/2.0");
        // Not shared: with HttpClient 5.6 one failed exchange on a shared HTTP/2 connection closes it under all
        // its streams (HttpClientHolder, Http2ManyStreamsTest)
        assertThat(mostStreamsOnOneConnection.get()).as("concurrent streams on one connection").isEqualTo(1);
        assertThat(origin.maxConcurrent()).as("requests served at once").isGreaterThan(8);
        assertThat(origin.connectionsOpened()).as("kept connections for %s requests at limit 32", files)
                .isLessThanOrEqualTo(32 + 2);
        FetchResult r0 = byId(results, "h0");
        assertThat(r0.sha256).isEqualTo(FetchOperatorTest.sha256(TestOrigin.content("h0", 4000)));
    }

    @Test
    void http11OverTlsWhenAskedAndInsecureModeSkipsVerification() throws Exception {
        TestOrigin origin = tlsOrigin("127.0.0.1");
        Set<String> versions = ConcurrentHashMap.newKeySet();
        origin.route("/v", (req, resp, cb, n) -> {
            versions.add(req.getConnectionMetaData().getHttpVersion().asString());
            TestOrigin.send(resp, cb, 200, "v".getBytes());
        });
        Configuration untrusted = config(8, 4);
        var strict = harness(untrusted);
        strict.processElement(request("strict", origin, "/v"), 0);
        FetchResult refused = strict.results(1).get(0);
        assertThat(refused.status).isEqualTo(ResultStatus.FAILED);
        assertThat(refused.error).as("an unknown CA is refused, not retried").startsWith("tls: ");
        assertThat(refused.attempts).isEqualTo(1);
        strict.close();

        Configuration insecure = config(8, 4);
        insecure.set(FlowgetOptions.TLS_INSECURE, true);
        insecure.set(FlowgetOptions.HTTP_VERSION, FlowgetOptions.HttpVersion.HTTP_1_1);
        var lax = harness(insecure);
        lax.processElement(request("lax", origin, "/v"), 0);
        assertThat(lax.results(1).get(0).status).isEqualTo(ResultStatus.OK);
        assertThat(versions).containsExactly("HTTP/1.1");
    }

    // ------------------------------------------------------------------------------------------------

    static FetchResult byId(List<FetchResult> results, String id) {
        return results.stream().filter(r -> r.id.equals(id)).findFirst().orElseThrow();
    }

    private TestOrigin tlsOrigin(String address) throws Exception {
        return fetch.track(TestOrigin.startTls(address, TestCertificates.get()));
    }

    private TestOrigin origin(String address) throws Exception {
        return fetch.track(TestOrigin.start(address));
    }

    private Configuration config(int maxInFlight, int hostLimit) {
        return FetchHarness.config(tmp, maxInFlight, hostLimit);
    }

    private FetchHarness harness(Configuration conf) throws Exception {
        return fetch.harness(conf, FetchHarness.Clock.MANUAL);
    }
}
