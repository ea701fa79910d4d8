package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.http.AddressPolicy;
import io.flowget.udf.http.HttpClientHolder;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static io.flowget.udf.fetch.FetchOperatorTest.drainUntilResults;
import static io.flowget.udf.fetch.FetchOperatorTest.request;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The connection layer under the fetch operator, in the keyed harness against real Jetty origins: the SSRF guard
 * (after DNS, on every redirect hop) and keep-alive reuse.
 */
class ConnectionControlTest {
    @TempDir Path tmp;

    private final List<TestOrigin> origins = new ArrayList<>();
    private final List<KeyedOneInputStreamOperatorTestHarness<String, FetchRequest, FetchResult>> harnesses =
            new ArrayList<>();

    @AfterEach
    void cleanUp() throws Exception {
        for (var h : harnesses) {
            try {
                h.close();
            } catch (Exception ignored) {
                // closed by the test
            }
        }
        for (TestOrigin o : origins) {
            o.close();
        }
        assertThat(HttpClientHolder.liveClients()).as("shared HTTP clients released").isZero();
    }

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
        List<FetchResult> first = drainUntilResults(h, 3);

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
        FetchResult metadata = byId(drainUntilResults(h, 4), "metadata");

        assertThat(metadata.status).isEqualTo(ResultStatus.FAILED);
        assertThat(metadata.error).isEqualTo("blocked address: 169.254.169.254 (link-local / cloud metadata)");
        assertThat(metadata.attempts).isEqualTo(1);
        assertThat(h.numProcessingTimeTimers()).as("no retry is scheduled").isZero();
    }

    // ------------------------------------------------------------------------------------------------

    static FetchResult byId(List<FetchResult> results, String id) {
        return results.stream().filter(r -> r.id.equals(id)).findFirst().orElseThrow();
    }

    private TestOrigin origin(String address) throws Exception {
        TestOrigin o = TestOrigin.start(address);
        origins.add(o);
        return o;
    }

    private Configuration config(int maxInFlight, int hostLimit) {
        Configuration c = new Configuration();
        c.set(FlowgetOptions.FETCH_MAX_IN_FLIGHT, maxInFlight);
        c.set(FlowgetOptions.HOST_MAX_CONCURRENCY, hostLimit);
        c.set(FlowgetOptions.STORAGE_OUT_DIR, tmp.resolve("out").toString());
        c.set(FlowgetOptions.STORAGE_STAGING_DIR, tmp.resolve("staging").toString());
        c.set(FlowgetOptions.HTTP_IO_THREADS, 2);
        return c;
    }

    private KeyedOneInputStreamOperatorTestHarness<String, FetchRequest, FetchResult> harness(Configuration conf)
            throws Exception {
        var h =
                new KeyedOneInputStreamOperatorTestHarness<>(
                        new FetchOperatorFactory(conf), (FetchRequest r) -> r.host, Types.STRING);
        h.setStateBackend(new EmbeddedRocksDBStateBackend(true));
        h.open();
        harnesses.add(h);
        return h;
    }
}
