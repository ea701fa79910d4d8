package io.flowget.udf.fetch;

import io.flowget.udf.http.HttpClientHolder;

import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.runtime.metrics.DescriptiveStatisticsHistogram;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The connection-layer and politeness metrics of a fetch subtask, beside the request counters FetchOperator
 * registers itself. Exported by any Flink reporter (conf/config.yaml configures Prometheus). Bounded
 * cardinality: per-host metrics only for a fixed number of rank slots (below); failures by a fixed set of error
 * classes (label {@code error}); all hosts summarised as counts (throttled, paused, circuit open).
 *
 * <ul>
 *   <li>{@code internalErrors}: exceptions caught while handling a request, a mail or a timer; the request
 *       they hit ends FAILED {@code internal error: …} and the operator goes on (should stay 0: each is a bug);
 *   <li>{@code attemptLatencyMs}: histogram of attempt durations (first byte sent to outcome, last hop);
 *   <li>{@code error.<class>.requestsFailed}: FAILED results by class ({@link #errorClass});
 *   <li>{@code connectionsOpened}, {@code connectionsOpen}, {@code dnsLookups}: of the TaskManager's shared HTTP
 *       client (the same values in every subtask of a TaskManager); requests per connection opened is
 *       {@code attempts / connectionsOpened};
 *   <li>{@code hostsThrottled}, {@code hostsPaused}, {@code hostsCircuitOpen}: hosts of this subtask whose
 *       adaptive limit is below its maximum, paused by Retry-After, or parked by their circuit breaker;
 *   <li>{@code topHost.<rank>.host}, {@code .requests}, {@code .limit}, {@code .inFlight}: the
 *       {@code flowget.metrics.top-hosts} busiest hosts of the last refresh interval (by requests issued), rank 0
 *       the busiest. A slot is re-assigned to another host as the top set changes (its {@code host} gauge, a
 *       string, says which: JMX, REST and log reporters show it; Prometheus exports numeric gauges only); an
 *       unused slot reads host "" and zeros. N slots of fixed names, never one group per host seen.
 * </ul>
 *
 * <p>Not thread-safe except the gauges: {@link #refresh} runs on the task thread (from the operator's sweep)
 * and publishes the host counts through volatile fields that the reporter thread reads.
 */
final class FetchMetrics {
    static final long REFRESH_MILLIS = 5_000;
    /**
     * How often the host counts are recomputed: {@code flowget run}'s progress line shows them (one pass over the
     * subtask's host gates, at most 10,000).
     */
    static final long SUMMARY_MILLIS = 1_000;

    private final MetricGroup group;
    private final Histogram latency;
    private final Map<String, Counter> failures = new HashMap<>();
    private final Counter requestsOk;
    private final Counter requestsNotModified;
    private final Counter requestsFailed;
    private final Counter attemptsStarted;
    private final Counter retries;
    private final Counter bytesStored;
    private final Counter restarts;
    private final Counter internalErrors;
    private volatile HostPoliteness.Summary hosts = new HostPoliteness.Summary(0, 0, 0);
    private long refreshedAt;
    private long summarizedAt;
    /** What the top-host slots show; replaced whole (task thread), read by the reporter thread. */
    private volatile TopHost[] top;

    /** One rank slot of the top-hosts view. */
    record TopHost(String host, int requests, int limit, int inFlight) {
        static final TopHost EMPTY = new TopHost("", 0, 0, 0);
    }

    FetchMetrics(MetricGroup group, HttpClientHolder.Lease http) {
        this(group, http, 0);
    }

    FetchMetrics(MetricGroup group, HttpClientHolder.Lease http, int topHosts) {
        this.group = group;
        requestsOk = group.counter("requestsOk");
        requestsNotModified = group.counter("requestsNotModified");
        requestsFailed = group.counter("requestsFailed");
        attemptsStarted = group.counter("attempts");
        retries = group.counter("retries");
        bytesStored = group.counter("bytesStored");
        restarts = group.counter("restarts");
        internalErrors = group.counter("internalErrors");
        this.top = new TopHost[Math.max(0, topHosts)];
        java.util.Arrays.fill(top, TopHost.EMPTY);
        for (int i = 0; i < top.length; i++) {
            int rank = i;
            MetricGroup slot = group.addGroup("topHost", Integer.toString(rank));
            slot.gauge("host", () -> topHost(rank).host());
            slot.gauge("requests", () -> topHost(rank).requests());
            slot.gauge("limit", () -> topHost(rank).limit());
            slot.gauge("inFlight", () -> topHost(rank).inFlight());
        }
        this.latency = group.histogram("attemptLatencyMs", new DescriptiveStatisticsHistogram(10_000));
        group.gauge("connectionsOpened", () -> http.connections().opened());
        group.gauge("connectionsOpen", () -> http.connections().open());
        group.gauge("dnsLookups", () -> http.dns().lookups());
        group.gauge("hostsThrottled", () -> hosts.throttled());
        group.gauge("hostsPaused", () -> hosts.paused());
        group.gauge("hostsCircuitOpen", () -> hosts.circuitOpen());
    }

    /** The operator's own gauges: attempts in flight, backlog (backpressure measure) and hosts with work. */
    void operatorGauges(
            java.util.function.IntSupplier inFlight,
            java.util.function.LongSupplier backlog,
            java.util.function.IntSupplier hostsWithWork) {
        group.gauge("inFlight", (Gauge<Integer>) inFlight::getAsInt);
        group.gauge("backlog", (Gauge<Long>) backlog::getAsLong);
        group.gauge("hostsWithWork", (Gauge<Integer>) hostsWithWork::getAsInt);
    }

    /** Least time between two {@link #drained} log lines of one subtask. */
    private static final long DRAINED_LOG_NANOS = 10_000_000_000L;
    private static final Logger LOG = LoggerFactory.getLogger(FetchMetrics.class);
    /** {@link System#nanoTime} of the last {@link #drained} line; far in the past before the first. */
    private long drainedLoggedAt = System.nanoTime() - 2 * DRAINED_LOG_NANOS;

    /**
     * The subtask ran out of work: logs its totals (how the work split over the subtasks, e.g. a spread host's
     * shards), at most once per 10 s, so a subtask that keeps going idle does not flood the log.
     */
    void drained(int subtask, int subtasks) {
        long now = System.nanoTime();
        if (now - drainedLoggedAt >= DRAINED_LOG_NANOS) {
            drainedLoggedAt = now;
            LOG.info("Fetch subtask {} of {} has no work left: {}", subtask, subtasks, totals());
        }
    }

    /** The counters so far, for the subtask's log lines (how work split over the subtasks). */
    String totals() {
        return "ok=" + requestsOk.getCount() + " not_modified=" + requestsNotModified.getCount()
                + " failed=" + requestsFailed.getCount() + " attempts=" + attemptsStarted.getCount()
                + " bytes=" + bytesStored.getCount();
    }

    void ok(long bytes) {
        requestsOk.inc();
        bytesStored.inc(bytes);
    }

    void notModified() {
        requestsNotModified.inc();
    }

    void attemptStarted() {
        attemptsStarted.inc();
    }

    void retry() {
        retries.inc();
    }

    void restart() {
        restarts.inc();
    }

    /** An exception the operator caught and survived (the request it hit, if any, ends FAILED). */
    void internalError() {
        internalErrors.inc();
    }

    void attemptFinished(long millis) {
        latency.update(Math.max(0, millis));
    }

    /** A FAILED result: counted in total and by its error class. */
    void failed(String reason) {
        requestsFailed.inc();
        failures.computeIfAbsent(errorClass(reason), c -> group.addGroup("error", c).counter("requestsFailed"))
                .inc();
    }

    /**
     * Recomputes the host summary at most every {@value #SUMMARY_MILLIS} ms and the top hosts at most every
     * {@value #REFRESH_MILLIS} ms (task thread).
     *
     * @param inFlight requests in flight to a host now, from the operator
     */
    void refresh(HostPoliteness politeness, long now, java.util.function.ToIntFunction<String> inFlight) {
        long wall = System.currentTimeMillis();
        if (wall - summarizedAt >= SUMMARY_MILLIS) {
            summarizedAt = wall;
            hosts = politeness.summary(now);
        }
        if (wall - refreshedAt >= REFRESH_MILLIS) {
            refreshedAt = wall;
            if (top.length > 0) {
                publishTop(politeness.busiest(top.length, now), inFlight);
            }
        }
    }

    /** Assigns the rank slots to {@code busiest} (busiest first); slots beyond it are emptied. */
    void publishTop(List<HostPoliteness.HostLoad> busiest, java.util.function.ToIntFunction<String> inFlight) {
        TopHost[] next = new TopHost[top.length];
        for (int i = 0; i < next.length; i++) {
            HostPoliteness.HostLoad l = i < busiest.size() ? busiest.get(i) : null;
            next[i] = l == null
                    ? TopHost.EMPTY
                    : new TopHost(l.host(), l.requests(), l.limit(), inFlight.applyAsInt(l.host()));
        }
        top = next;
    }

    /** What rank slot {@code rank} shows now. */
    TopHost topHost(int rank) {
        return top[rank];
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
