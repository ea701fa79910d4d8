package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.http.HttpClientHolder;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.Configuration;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Heap does not grow with the number of hosts ever contacted (issue 12): one request to each of many distinct host
 * names (a test resolver maps them all to loopback; each name is its own connection-pool route), and the heap after
 * GC stays within a fixed bound of where it stood after the first quarter. What holds it: the connection pool drops
 * a route's pool once its connections are evicted (STRICT policy; LAX kept every route's pool for ever), hosts leave
 * the scheduler when idle, politeness gates are an LRU, DNS entries expire (2 s TTL here). The default run covers
 * 6,000 hosts; the long variant 100,000:
 * {@code mvn -o -q -pl udf test -Dtest=HostChurnHeapTest -Dsurefire.excludedGroups=none} (figures are printed).
 */
@Timeout(value = 900, unit = TimeUnit.SECONDS)
class HostChurnHeapTest {
    /** Growth allowed from the first quarter to the end, whatever the host count. */
    static final long BOUND_BYTES = 48L << 20;

    @TempDir Path tmp;

    @RegisterExtension final FetchHarnessExtension fetch = new FetchHarnessExtension();

    @Test
    void heapStaysBoundedOverSixThousandHosts() throws Exception {
        churn(6_000);
    }

    @Test
    @Tag("slow")
    void heapStaysBoundedOverAHundredThousandHosts() throws Exception {
        churn(100_000);
    }

    private void churn(int hosts) throws Exception {
        InetAddress loopback = InetAddress.getByName("127.0.0.1");
        HttpClientHolder.lookupForTests(name -> new InetAddress[] {loopback});
        TestOrigin origin = fetch.track(TestOrigin.start("127.0.0.1"));
        origin.file("/f", TestOrigin.content("f", 100));
        Configuration conf = FetchHarness.config(tmp, 64, 8);
        conf.set(FlowgetOptions.SINK_MODE, FlowgetOptions.SinkMode.DIGEST_ONLY);
        conf.set(FlowgetOptions.HTTP_POOL_IDLE_EVICTION, Duration.ofSeconds(1));
        conf.set(FlowgetOptions.DNS_TTL, Duration.ofSeconds(2));
        FetchHarness h = fetch.harness(conf, FetchHarness.Clock.STEPPED);

        long[] heap = new long[4];
        int ok = 0;
        int quarter = hosts / 4;
        for (int q = 0; q < 4; q++) {
            for (int i = q * quarter; i < (q + 1) * quarter; i += 200) {
                int end = Math.min((q + 1) * quarter, i + 200);
                for (int j = i; j < end; j++) {
                    String name = "h" + j + ".churn.test";
                    h.submit(new FetchRequest("r" + j, "http://" + name + ":" + origin.port() + "/f", name, "f" + j));
                }
                int want = end - i;
                h.drainUntil(() -> h.extractOutputValues().size() >= want);
                // The harness keeps every output: count and check them, then drop them (they are test heap).
                for (FetchResult r : h.extractOutputValues()) {
                    assertThat(r.status).as("%s", r).isEqualTo(ResultStatus.OK);
                    ok++;
                }
                h.harness.getOutput().clear();
            }
            h.drainFor(Duration.ofMillis(1500)); // idle connections evicted, DNS entries expired
            heap[q] = heapAfterGc();
        }
        System.out.printf("HostChurnHeapTest: %d hosts, heap after GC at 1/4 %d MiB, 1/2 %d MiB, 3/4 %d MiB,"
                + " all %d MiB%n", hosts, heap[0] >> 20, heap[1] >> 20, heap[2] >> 20, heap[3] >> 20);

        assertThat(ok).isEqualTo(4 * quarter);
        assertThat(heap[3] - heap[0]).as("heap growth from 1/4 to all of %d hosts", hosts).isLessThan(BOUND_BYTES);
    }

    private static long heapAfterGc() throws InterruptedException {
        long used = Long.MAX_VALUE;
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(100);
            used = Math.min(used, ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed());
        }
        return used;
    }
}
