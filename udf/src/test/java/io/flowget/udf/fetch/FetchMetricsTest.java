package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.http.HttpClientHolder;
import io.flowget.udf.http.HttpClientSettings;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.runtime.metrics.util.InterceptingOperatorMetricGroup;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** {@link FetchMetrics}: the error classes are a small fixed set; gauges read the shared client's counters. */
class FetchMetricsTest {
    @Test
    void errorClassesAreAFixedVocabulary() {
        assertThat(FetchMetrics.errorClass("http 404")).isEqualTo("http_4xx");
        assertThat(FetchMetrics.errorClass("http 503 (after 5 attempts)")).isEqualTo("http_5xx");
        assertThat(FetchMetrics.errorClass("http 302 without usable Location")).isEqualTo("http_other");
        assertThat(FetchMetrics.errorClass("connect error: Connection refused (after 5 attempts)"))
                .isEqualTo("connect");
        assertThat(FetchMetrics.errorClass("connect timeout: no connection to http://h:1 within 10s"))
                .isEqualTo("connect_timeout");
        assertThat(FetchMetrics.errorClass("host unreachable: connect error: x (no answer for 300s)"))
                .isEqualTo("host_unreachable");
        assertThat(FetchMetrics.errorClass("blocked address: 169.254.169.254 (link-local / cloud metadata)"))
                .isEqualTo("blocked_address");
        assertThat(FetchMetrics.errorClass("timeout: no data for 30s")).isEqualTo("timeout");
        assertThat(FetchMetrics.errorClass("tls: PKIX path building failed")).isEqualTo("tls");
        assertThat(FetchMetrics.errorClass("dns: unknown host x")).isEqualTo("dns");
        assertThat(FetchMetrics.errorClass("checksum mismatch (expected a, got b)")).isEqualTo("checksum");
        assertThat(FetchMetrics.errorClass("redirect loop at http://x/")).isEqualTo("redirect");
        assertThat(FetchMetrics.errorClass("too many redirects (more than 10)")).isEqualTo("redirect");
        assertThat(FetchMetrics.errorClass("something new")).isEqualTo("other");
        assertThat(FetchMetrics.errorClass(null)).isEqualTo("other");
    }

    @Test
    @SuppressWarnings("unchecked")
    void registersClientGaugesAndALatencyHistogram() {
        InterceptingOperatorMetricGroup group = new InterceptingOperatorMetricGroup();
        Configuration conf = new Configuration();
        conf.set(FlowgetOptions.HTTP_IO_THREADS, 1);
        HttpClientHolder.Lease lease = HttpClientHolder.acquire(HttpClientSettings.from(conf));
        try {
            FetchMetrics m = new FetchMetrics(group, lease);
            m.attemptFinished(12);
            m.attemptFinished(30);
            m.failed("http 404");

            assertThat(((Histogram) group.get("attemptLatencyMs")).getCount()).isEqualTo(2);
            assertThat(((Histogram) group.get("attemptLatencyMs")).getStatistics().getMax()).isEqualTo(30);
            assertThat(((Gauge<Long>) group.get("connectionsOpened")).getValue()).isZero();
            assertThat(((Gauge<Long>) group.get("dnsLookups")).getValue()).isZero();
            assertThat(((Gauge<Integer>) group.get("hostsPaused")).getValue()).isZero();
        } finally {
            HttpClientHolder.release(lease);
        }
        assertThat(HttpClientHolder.liveClients()).isZero();
    }

    @Test
    void topHostsKeepTheBusiestInBoundedRankSlotsReassignedAsTheSetChanges() {
        List<HostPoliteness.HostLoad> loads = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            loads.add(new HostPoliteness.HostLoad("h" + i + ".example", i % 10 == 7 ? 1000 + i : i, 4));
        }
        List<HostPoliteness.HostLoad> top = HostPoliteness.top(loads, 3);
        assertThat(top).extracting(HostPoliteness.HostLoad::host)
                .containsExactly("h47.example", "h37.example", "h27.example");
        assertThat(HostPoliteness.top(loads, 0)).isEmpty();
        assertThat(HostPoliteness.top(loads.subList(0, 2), 3)).extracting(HostPoliteness.HostLoad::host)
                .containsExactly("h1.example", "h0.example");

        Configuration conf = new Configuration();
        conf.set(FlowgetOptions.HTTP_IO_THREADS, 1);
        HttpClientHolder.Lease lease = HttpClientHolder.acquire(HttpClientSettings.from(conf));
        try {
            FetchMetrics m = new FetchMetrics(new InterceptingOperatorMetricGroup(), lease, 3);
            assertThat(m.topHost(2)).isEqualTo(FetchMetrics.TopHost.EMPTY);
            Map<String, Integer> inFlight = Map.of("h47.example", 3, "h27.example", 1);
            m.publishTop(top, h -> inFlight.getOrDefault(h, 0));
            assertThat(m.topHost(0)).isEqualTo(new FetchMetrics.TopHost("h47.example", 1047, 4, 3));
            assertThat(m.topHost(1)).isEqualTo(new FetchMetrics.TopHost("h37.example", 1037, 4, 0));
            assertThat(m.topHost(2)).isEqualTo(new FetchMetrics.TopHost("h27.example", 1027, 4, 1));
            // Next interval: one busy host; the other slots are emptied, not left showing stale hosts.
            m.publishTop(List.of(new HostPoliteness.HostLoad("new.example", 5, 2)), h -> 2);
            assertThat(m.topHost(0)).isEqualTo(new FetchMetrics.TopHost("new.example", 5, 2, 2));
            assertThat(m.topHost(1)).isEqualTo(FetchMetrics.TopHost.EMPTY);
            assertThat(m.topHost(2)).isEqualTo(FetchMetrics.TopHost.EMPTY);
        } finally {
            HttpClientHolder.release(lease);
        }
        assertThat(HttpClientHolder.liveClients()).isZero();
    }
}
