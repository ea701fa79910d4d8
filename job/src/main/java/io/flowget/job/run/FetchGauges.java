package io.flowget.job.run;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MetricOptions;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.Metric;
import org.apache.flink.metrics.MetricConfig;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.metrics.reporter.MetricReporter;
import org.apache.flink.metrics.reporter.MetricReporterFactory;

import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The fetch operator's live gauges, read in the same JVM by {@code flowget run} for its progress line: requests in
 * flight, requests waiting (queued, ready or waiting for a retry), and hosts paused by Retry-After, throttled below
 * their limit, or parked by an open circuit — each summed over the Fetch operator's subtasks.
 *
 * <p>How: {@link #register} adds a Flink metric reporter ({@value #REPORTER}, {@link Factory}, found through
 * {@code META-INF/services}) to the MiniCluster's configuration, tagged with this run's id. The MiniCluster's
 * metric registry hands the reporter every metric as it is registered; the reporter keeps references to the Fetch
 * operator's gauges of interest (and drops them when a subtask's metrics are removed, e.g. on a restart). Reading
 * {@link #totals()} calls those gauges directly: each reads a field the task thread publishes (the host counts
 * are recomputed by the task thread at most every second, {@code FetchMetrics}), so a read never waits for the
 * job, the REST API or a metric fetcher interval, and never blocks the task.
 *
 * <p>Thread-safe: gauges are added and removed by Flink's threads (task threads on open and close) and read by the
 * run's thread.
 */
public final class FetchGauges implements AutoCloseable {
    /** The reporter's name in {@code metrics.reporter.<name>.*}. */
    static final String REPORTER = "flowget-progress";
    /** The operator name whose metrics are read ({@code FlowgetJob}: {@code .name("Fetch")}). */
    static final String OPERATOR = "Fetch";
    private static final String RUN = "run";
    private static final String OPERATOR_NAME_VARIABLE = "<operator_name>";
    static final String IN_FLIGHT = "inFlight";
    static final String BACKLOG = "backlog";
    static final String PAUSED = "hostsPaused";
    static final String THROTTLED = "hostsThrottled";
    static final String CIRCUIT_OPEN = "hostsCircuitOpen";
    private static final Set<String> NAMES = Set.of(IN_FLIGHT, BACKLOG, PAUSED, THROTTLED, CIRCUIT_OPEN);

    /** Runs of this JVM that registered, by id: how a reporter created by Flink finds its run. */
    private static final Map<String, FetchGauges> RUNS = new ConcurrentHashMap<>();

    private final String id;
    /** The kept gauges and their names; a subtask contributes one of each name. */
    private final Map<Gauge<?>, String> gauges = new ConcurrentHashMap<>();

    /** What the progress line shows about waiting, summed over the Fetch subtasks. */
    public record Totals(long inFlight, long waiting, long paused, long throttled, long circuitOpen) {}

    private FetchGauges(String id) {
        this.id = id;
    }

    /**
     * Adds the reporter to {@code conf} (the MiniCluster's configuration, before it starts) and returns the handle
     * that sees its gauges; {@link #close()} it when the run ends. A configured {@code metrics.reporters} list
     * (which enables only the reporters it names) gets this one appended.
     */
    public static FetchGauges register(Configuration conf) {
        FetchGauges g = new FetchGauges(UUID.randomUUID().toString());
        RUNS.put(g.id, g);
        String prefix = "metrics.reporter." + REPORTER + ".";
        conf.setString(prefix + MetricOptions.REPORTER_FACTORY_CLASS.key(), Factory.class.getName());
        conf.setString(prefix + RUN, g.id);
        String list = conf.get(MetricOptions.REPORTERS_LIST);
        if (list != null && !list.isBlank()) {
            conf.set(MetricOptions.REPORTERS_LIST, list + "," + REPORTER);
        }
        return g;
    }

    /** The sums of the gauges now; empty until the Fetch operator has registered its metrics (job starting). */
    public Optional<Totals> totals() {
        if (gauges.isEmpty()) {
            return Optional.empty();
        }
        long[] sum = new long[5];
        for (Map.Entry<Gauge<?>, String> e : gauges.entrySet()) {
            long v;
            try {
                v = e.getKey().getValue() instanceof Number n ? n.longValue() : 0;
            } catch (RuntimeException racingTheTaskThread) {
                continue; // a progress line, not an account: skip the value this time
            }
            switch (e.getValue()) {
                case IN_FLIGHT -> sum[0] += v;
                case BACKLOG -> sum[1] += v;
                case PAUSED -> sum[2] += v;
                case THROTTLED -> sum[3] += v;
                default -> sum[4] += v;
            }
        }
        return Optional.of(new Totals(sum[0], sum[1], sum[2], sum[3], sum[4]));
    }

    /** Forgets the run (its reporter, if Flink still holds one, sees nothing more). */
    @Override
    public void close() {
        RUNS.remove(id);
        gauges.clear();
    }

    /** The reporter Flink creates (one per MiniCluster metric registry) for the run named in its configuration. */
    static final class Reporter implements MetricReporter {
        private final FetchGauges run;

        Reporter(FetchGauges run) {
            this.run = run;
        }

        @Override
        public void open(MetricConfig config) {}

        @Override
        public void close() {}

        @Override
        public void notifyOfAddedMetric(Metric metric, String name, MetricGroup group) {
            if (run != null && metric instanceof Gauge<?> g && NAMES.contains(name)
                    && OPERATOR.equals(group.getAllVariables().get(OPERATOR_NAME_VARIABLE))) {
                run.gauges.put(g, name);
            }
        }

        @Override
        public void notifyOfRemovedMetric(Metric metric, String name, MetricGroup group) {
            if (run != null && metric instanceof Gauge<?> g) {
                run.gauges.remove(g);
            }
        }
    }

    /**
     * Creates the {@link Reporter} of the run named by the reporter's {@code run} setting (listed in
     * {@code META-INF/services/org.apache.flink.metrics.reporter.MetricReporterFactory}; public for the
     * ServiceLoader). A run that is gone gets a reporter that keeps nothing.
     */
    public static final class Factory implements MetricReporterFactory {
        @Override
        public MetricReporter createMetricReporter(Properties properties) {
            return new Reporter(RUNS.get(properties.getProperty(RUN, "")));
        }
    }
}
