package io.flowget.udf.http;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.testing.TestCertificates;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.Configuration;

import org.apache.hc.client5.http.async.methods.SimpleHttpResponse;
import org.apache.hc.client5.http.async.methods.SimpleRequestBuilder;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link HttpClientHolder}'s keyed, reference-counted clients and the ones it keeps after their last lease (a daemon's
 * runs): reuse of the client and its connections by equal settings and linger, a new client for anything else, what
 * a reused client forgets, and every way a kept client is closed. Real clients against a Jetty origin on loopback.
 */
class HttpClientHolderTest {
    private static final Duration KEEP = Duration.ofMinutes(5);

    @TempDir Path tmp;

    @AfterEach
    void closeKept() {
        HttpClientHolder.lookupForTests(null);
        HttpClientHolder.closeIdle();
        assertThat(HttpClientHolder.liveClients()).as("every lease released").isZero();
    }

    private static Configuration config() {
        Configuration c = new Configuration();
        c.set(FlowgetOptions.NET_POSTURE, FlowgetOptions.NetPosture.LOCAL); // the origin is on loopback
        return c;
    }

    private static HttpClientSettings settings() {
        return HttpClientSettings.from(config());
    }

    private static int get(HttpClientHolder.Lease lease, String url) throws Exception {
        SimpleHttpResponse r = lease.client().execute(SimpleRequestBuilder.get(url).build(), null)
                .get(30, TimeUnit.SECONDS);
        return r.getCode();
    }

    private static void awaitIdleConnections(HttpClientHolder.Lease lease, int n) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (lease.pool().getTotalStats().getAvailable() < n && System.nanoTime() < deadline) {
            TimeUnit.MILLISECONDS.sleep(10);
        }
        assertThat(lease.pool().getTotalStats().getAvailable()).isEqualTo(n);
    }

    @Test
    void aLeaseWithoutLingerClosesTheClientWithItsLastRelease() {
        HttpClientHolder.Lease a = HttpClientHolder.acquire(settings());
        HttpClientHolder.Lease b = HttpClientHolder.acquire(settings());
        assertThat(b.client()).as("equal settings share one client").isSameAs(a.client());
        HttpClientHolder.release(a);
        assertThat(HttpClientHolder.liveClients()).isEqualTo(1);
        HttpClientHolder.release(b);
        assertThat(HttpClientHolder.liveClients()).isZero();
        HttpClientHolder.release(b); // twice: nothing happens
        assertThat(HttpClientHolder.liveClients()).isZero();
    }

    @Test
    void aKeptClientServesTheNextLeaseOverItsIdleConnectionsAndCountsPerLease() throws Exception {
        try (TestOrigin origin = TestOrigin.start()) {
            origin.file("/a", TestOrigin.content("a", 1000));
            HttpClientHolder.Lease first = HttpClientHolder.acquire(settings(), KEEP);
            assertThat(get(first, origin.url("/a"))).isEqualTo(200);
            assertThat(first.connections().opened()).isEqualTo(1);
            awaitIdleConnections(first, 1); // the response is in before the connection is back in the pool
            HttpClientHolder.release(first);
            assertThat(HttpClientHolder.keptClients()).as("kept after its last lease").isEqualTo(1);
            assertThat(first.client().getStatus().name()).isEqualTo("ACTIVE");

            HttpClientHolder.Lease second = HttpClientHolder.acquire(settings(), KEEP);
            assertThat(second.client()).as("the kept client").isSameAs(first.client());
            assertThat(HttpClientHolder.keptClients()).isZero();
            assertThat(second.connections().opened()).as("counted from the lease's start").isZero();
            assertThat(get(second, origin.url("/a"))).isEqualTo(200);
            assertThat(origin.connectionsOpened()).as("the second lease reused the first one's connection")
                    .isEqualTo(1);
            assertThat(second.connections().opened()).isZero();
            assertThat(second.connections().open()).isEqualTo(1);
            HttpClientHolder.release(second);
        }
    }

    @Test
    void otherSettingsOrNoLingerGetAClientOfTheirOwn() {
        HttpClientHolder.Lease kept = HttpClientHolder.acquire(settings(), KEEP);
        Configuration otherAgent = config();
        otherAgent.set(FlowgetOptions.HTTP_USER_AGENT, "other/1");
        Configuration otherPool = config();
        otherPool.set(FlowgetOptions.HTTP_POOL_MAX_PER_ROUTE, 3);
        HttpClientHolder.Lease agent = HttpClientHolder.acquire(HttpClientSettings.from(otherAgent), KEEP);
        HttpClientHolder.Lease pool = HttpClientHolder.acquire(HttpClientSettings.from(otherPool), KEEP);
        HttpClientHolder.Lease closing = HttpClientHolder.acquire(settings());
        assertThat(List.of(agent.client(), pool.client(), closing.client())).doesNotContain(kept.client())
                .doesNotHaveDuplicates();
        assertThat(HttpClientHolder.liveClients()).isEqualTo(4);
        HttpClientHolder.release(closing);
        assertThat(HttpClientHolder.liveClients()).as("the lease without linger closed its own client").isEqualTo(3);
        HttpClientHolder.release(kept);
        HttpClientHolder.release(agent);
        HttpClientHolder.release(pool);
        assertThat(HttpClientHolder.keptClients()).isEqualTo(3);
        assertThat(HttpClientHolder.closeIdle()).isEqualTo(3);
        assertThat(HttpClientHolder.liveClients()).isZero();
    }

    @Test
    void aChangedCaFileGetsANewClient() throws Exception {
        Path ca = tmp.resolve("ca.pem");
        Files.copy(TestCertificates.get().caPem(), ca);
        Configuration c = config();
        c.set(FlowgetOptions.TLS_CA_CERT, ca.toString());
        HttpClientHolder.Lease first = HttpClientHolder.acquire(HttpClientSettings.from(c), KEEP);
        HttpClientHolder.release(first);
        HttpClientHolder.Lease same = HttpClientHolder.acquire(HttpClientSettings.from(c), KEEP);
        assertThat(same.client()).as("same file, same content").isSameAs(first.client());
        HttpClientHolder.release(same);
        // the same path with other content (a renewed CA): settings equal, the client is not
        Files.write(ca, Files.readAllBytes(TestCertificates.get().caPem()), StandardOpenOption.APPEND);
        HttpClientHolder.Lease renewed = HttpClientHolder.acquire(HttpClientSettings.from(c), KEEP);
        assertThat(renewed.client()).isNotSameAs(first.client());
        HttpClientHolder.release(renewed);
        assertThat(HttpClientHolder.keptClients()).isEqualTo(2);
    }

    @Test
    void aKeptClientForgetsItsDnsAnswersWhenTakenAgain() throws Exception {
        AtomicInteger lookups = new AtomicInteger();
        HttpClientHolder.lookupForTests(name -> {
            lookups.incrementAndGet();
            return new InetAddress[] {InetAddress.getLoopbackAddress()};
        });
        HttpClientHolder.Lease first = HttpClientHolder.acquire(settings(), KEEP);
        first.dns().resolve("origin.test");
        first.dns().resolve("origin.test");
        assertThat(lookups).hasValue(1);
        HttpClientHolder.release(first);
        HttpClientHolder.Lease second = HttpClientHolder.acquire(settings(), KEEP);
        assertThat(second.dns()).isSameAs(first.dns());
        second.dns().resolve("origin.test");
        assertThat(lookups).as("the new run resolves anew").hasValue(2);
        HttpClientHolder.release(second);
    }

    @Test
    void aKeptClientClosesWhenItsLingerEnds() throws Exception {
        HttpClientHolder.Lease lease = HttpClientHolder.acquire(settings(), Duration.ofMillis(100));
        HttpClientHolder.release(lease);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (HttpClientHolder.liveClients() > 0 && System.nanoTime() < deadline) {
            TimeUnit.MILLISECONDS.sleep(20);
        }
        assertThat(HttpClientHolder.liveClients()).isZero();
        assertThat(lease.client().getStatus().name()).isNotEqualTo("ACTIVE");
    }

    @Test
    void aLeaseTakenBeforeTheLingerEndsKeepsTheClientOpen() throws Exception {
        HttpClientHolder.Lease first = HttpClientHolder.acquire(settings(), Duration.ofMillis(200));
        HttpClientHolder.release(first);
        HttpClientHolder.Lease second = HttpClientHolder.acquire(settings(), Duration.ofMillis(200));
        assertThat(second.client()).isSameAs(first.client());
        TimeUnit.MILLISECONDS.sleep(600); // past the first linger: its expiry was cancelled
        assertThat(HttpClientHolder.liveClients()).isEqualTo(1);
        assertThat(second.client().getStatus().name()).isEqualTo("ACTIVE");
        HttpClientHolder.release(second);
    }

    @Test
    void atMostMaxKeptIdleClientsStayTheLongestIdleGoFirst() {
        List<HttpClientHolder.Lease> leases = new ArrayList<>();
        for (int i = 0; i <= HttpClientHolder.MAX_KEPT; i++) {
            Configuration c = config();
            c.set(FlowgetOptions.HTTP_USER_AGENT, "agent/" + i);
            leases.add(HttpClientHolder.acquire(HttpClientSettings.from(c), KEEP));
        }
        HttpClientHolder.Lease held = HttpClientHolder.acquire(settings(), KEEP);
        for (HttpClientHolder.Lease l : leases) {
            HttpClientHolder.release(l);
        }
        assertThat(HttpClientHolder.keptClients()).isEqualTo(HttpClientHolder.MAX_KEPT);
        assertThat(HttpClientHolder.liveClients()).as("a held client is not counted nor closed")
                .isEqualTo(HttpClientHolder.MAX_KEPT + 1);
        assertThat(leases.get(0).client().getStatus().name()).as("the longest idle").isNotEqualTo("ACTIVE");
        assertThat(HttpClientHolder.closeIdle()).isEqualTo(HttpClientHolder.MAX_KEPT);
        assertThat(held.client().getStatus().name()).isEqualTo("ACTIVE");
        HttpClientHolder.release(held);
    }
}
