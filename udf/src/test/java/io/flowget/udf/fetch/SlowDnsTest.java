package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.http.HttpClientHolder;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.Configuration;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The task thread never waits for DNS (issue 12): 20 names whose lookups hang (a test resolver holds them until the
 * test lets go, standing in for a resolver that takes seconds) do not hold back a healthy host's requests or a
 * snapshot. Before, the HTTP client resolved on the thread calling {@code execute()} — the task thread — so each
 * uncached name stalled mail, input and barriers for up to {@code flowget.dns.timeout}. Asserted by order, not by
 * time: every healthy result and a snapshot come while all 20 lookups are still held.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class SlowDnsTest {
    @TempDir Path tmp;

    @RegisterExtension final FetchHarnessExtension fetch = new FetchHarnessExtension();

    @Test
    void slowLookupsHoldNoHealthyRequestAndNoSnapshotBack() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger slowLookups = new AtomicInteger();
        HttpClientHolder.lookupForTests(name -> {
            if (name.startsWith("slow-")) {
                slowLookups.incrementAndGet();
                try {
                    release.await(60, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            return new InetAddress[] {InetAddress.getByName("127.0.0.1")};
        });
        TestOrigin origin = fetch.track(TestOrigin.start("127.0.0.1"));
        Configuration conf = FetchHarness.config(tmp);
        conf.set(FlowgetOptions.DNS_TIMEOUT, Duration.ofSeconds(60));
        FetchHarness h = fetch.harness(conf, FetchHarness.Clock.STEPPED);
        for (int i = 0; i < 20; i++) {
            String name = "slow-" + i + ".test";
            origin.file("/s" + i, TestOrigin.content("s" + i, 1000));
            h.submit(new FetchRequest("slow-" + i, "http://" + name + ":" + origin.port() + "/s" + i, name, "s/" + i));
        }
        for (int i = 0; i < 40; i++) {
            origin.file("/h" + i, TestOrigin.content("h" + i, 1000));
            h.submit(FetchOperatorTest.request("healthy-" + i, origin, "/h" + i));
        }

        h.drainUntil(() -> h.extractOutputValues().size() >= 40);
        h.snapshot(1L, 1L);
        List<FetchResult> beforeRelease = h.extractOutputValues();
        int lookupsStarted = slowLookups.get();
        release.countDown();
        List<FetchResult> all = h.results(60);

        assertThat(beforeRelease).as("every healthy request finished while the slow lookups hung")
                .hasSize(40)
                .allSatisfy(r -> {
                    assertThat(r.id).startsWith("healthy-");
                    assertThat(r.status).isEqualTo(ResultStatus.OK);
                });
        assertThat(lookupsStarted).as("slow lookups were under way meanwhile").isPositive();
        assertThat(all.subList(40, 60)).allSatisfy(r -> {
            assertThat(r.id).startsWith("slow-");
            assertThat(r.status).as("%s", r).isEqualTo(ResultStatus.OK);
        });
    }
}
