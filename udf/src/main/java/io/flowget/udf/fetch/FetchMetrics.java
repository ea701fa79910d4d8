package io.flowget.udf.fetch;

import io.flowget.udf.http.HttpClientHolder;

import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.runtime.metrics.DescriptiveStatisticsHistogram;

import java.util.HashMap;
import java.util.Map;

/**
 * The connection-layer and politeness metrics of a fetch subtask, beside the request counters FetchOperator
 * registers itself. Exported by any Flink reporter (conf/config.yaml configures Prometheus). Bounded
 * cardinality: no per-host metric; failures by a fixed set of error classes (label {@code error}); hosts
 * summarised as counts (throttled, paused, circuit open).
 *
 * <ul>
 *   <li>{@code attemptLatencyMs}: histogram of attempt durations (first byte sent to outcome, last hop);
 *   <li>{@code error.<class>.requestsFailed}: FAILED results by class ({@link #errorClass});
 *   <li>{@code connectionsOpened}, {@code connectionsOpen}, {@code dnsLookups}: of the TaskManager's shared HTTP
 *       client (the same values in every subtask of a TaskManager); requests per connection opened is
 *       {@code attempts / connectionsOpened};
 *   <li>{@code hostsThrottled}, {@code hostsPaused}, {@code hostsCircuitOpen}: hosts of this subtask whose
 *       adaptive limit is below its maximum, paused by Retry-After, or parked by their circuit breaker.
 * </ul>
 *
 * <p>Not thread-safe except the gauges: {@link #refresh} runs on the task thread (from the operator's sweep)
 * and publishes the host counts through volatile fields that the reporter thread reads.
 */
final class FetchMetrics {
    static final long REFRESH_MILLIS = 5_000;

    private final MetricGroup group;
    private final Histogram latency;
    private final Map<String, Counter> failures = new HashMap<>();
    private volatile HostPoliteness.Summary hosts = new HostPoliteness.Summary(0, 0, 0);
    private long refreshedAt;

    FetchMetrics(MetricGroup group, HttpClientHolder.Lease http) {
        this.group = group;
        this.latency = group.histogram("attemptLatencyMs", new DescriptiveStatisticsHistogram(10_000));
        group.gauge("connectionsOpened", () -> http.connections().opened());
        group.gauge("connectionsOpen", () -> http.connections().open());
        group.gauge("dnsLookups", () -> http.dns().lookups());
        group.gauge("hostsThrottled", () -> hosts.throttled());
        group.gauge("hostsPaused", () -> hosts.paused());
        group.gauge("hostsCircuitOpen", () -> hosts.circuitOpen());
    }

    void attemptFinished(long millis) {
        latency.update(Math.max(0, millis));
    }

    void failed(String reason) {
        failures.computeIfAbsent(errorClass(reason), c -> group.addGroup("error", c).counter("requestsFailed"))
                .inc();
    }

    /** Recomputes the host summary at most every {@value #REFRESH_MILLIS} ms (task thread). */
    void refresh(HostPoliteness politeness, long now) {
        long wall = System.currentTimeMillis();
        if (wall - refreshedAt >= REFRESH_MILLIS) {
            refreshedAt = wall;
            hosts = politeness.summary(now);
        }
    }

    /** A small fixed vocabulary of failure classes, from the result's error text. */
    static String errorClass(String reason) {
        String r = reason == null ? "" : reason;
        if (r.startsWith("http ")) {
            int status = 0;
            for (int i = 5; i < r.length() && Character.isDigit(r.charAt(i)); i++) {
                status = status * 10 + (r.charAt(i) - '0');
            }
            return status >= 500 ? "http_5xx" : status >= 400 ? "http_4xx" : "http_other";
        }
        String[][] prefixes = {
            {"host unreachable", "host_unreachable"},
            {"blocked address", "blocked_address"},
            {"connect timeout", "connect_timeout"},
            {"connect error", "connect"},
            {"connection", "connection"},
            {"timeout", "timeout"},
            {"deadline", "deadline"},
            {"dns", "dns"},
            {"tls", "tls"},
            {"checksum", "checksum"},
            {"max_bytes", "max_bytes"},
            {"path conflict", "path_conflict"},
            {"storage", "storage"},
            {"redirect", "redirect"},
            {"too many redirects", "redirect"},
            {"invalid redirect", "redirect"},
            {"corrupt", "body"},
            {"unsupported content", "body"},
            {"i/o error", "io"},
        };
        for (String[] p : prefixes) {
            if (r.startsWith(p[0])) {
                return p[1];
            }
        }
        return "other";
    }
}
