package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.http.HttpClientHolder;
import io.flowget.udf.http.HttpClientSettings;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.runtime.metrics.util.InterceptingOperatorMetricGroup;

import org.junit.jupiter.api.Test;

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
}
