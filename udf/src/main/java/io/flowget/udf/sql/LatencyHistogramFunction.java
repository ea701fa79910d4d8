package io.flowget.udf.sql;

import org.apache.flink.table.functions.AggregateFunction;

import java.util.HashMap;
import java.util.Map;

/**
 * {@code LATENCY_HISTOGRAM(elapsed_ms BIGINT) → MAP<STRING, BIGINT>} (aggregate): the counts of the group's
 * latencies per {@link LatencyBuckets} bucket, keyed by the bucket's upper bound in ms; NULL values are skipped;
 * an empty map when the group has no non-NULL value. Mergeable (session and two-phase window aggregation) and
 * retractable.
 *
 * <p>A histogram rather than a percentile, because the summary is per minute and the gate judges a longer
 * window: histograms add up, percentiles do not.
 */
public class LatencyHistogramFunction extends AggregateFunction<Map<String, Long>, LatencyHistogramFunction.Acc> {
    private static final long serialVersionUID = 1L;

    /** Accumulator: count per bucket upper bound. A POJO, so Flink serializes it without Kryo. */
    public static class Acc {
        public Map<Long, Long> counts = new HashMap<>();
    }

    @Override
    public Acc createAccumulator() {
        return new Acc();
    }

    public void accumulate(Acc acc, Long elapsedMs) {
        if (elapsedMs != null) {
            acc.counts.merge(LatencyBuckets.upperBound(elapsedMs), 1L, Long::sum);
        }
    }

    public void retract(Acc acc, Long elapsedMs) {
        if (elapsedMs != null) {
            acc.counts.computeIfPresent(LatencyBuckets.upperBound(elapsedMs), (k, v) -> v <= 1 ? null : v - 1);
        }
    }

    public void merge(Acc acc, Iterable<Acc> others) {
        for (Acc o : others) {
            o.counts.forEach((k, v) -> acc.counts.merge(k, v, Long::sum));
        }
    }

    public void resetAccumulator(Acc acc) {
        acc.counts.clear();
    }

    @Override
    public Map<String, Long> getValue(Acc acc) {
        Map<String, Long> out = new HashMap<>();
        acc.counts.forEach((k, v) -> out.put(Long.toString(k), v));
        return out;
    }
}
