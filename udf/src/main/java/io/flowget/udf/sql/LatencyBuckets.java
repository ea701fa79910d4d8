package io.flowget.udf.sql;

import java.util.Map;
import java.util.TreeMap;

/**
 * The latency histogram of the diff summary: log-linear buckets keyed by their largest value in milliseconds,
 * written as a JSON object {@code {"<upper ms>": count, ...}} that holds only non-empty buckets. Values below 32
 * ms get a bucket each; above, every power of two is split into 16 buckets, so a bucket's upper bound
 * overstates any value in it by less than 1/16 (6.25%). Histograms of several windows merge by adding counts,
 * which per-window percentiles could not do; {@link #quantile(Map, double)} then reads a percentile off the
 * merged counts ({@code flowget canary}'s p99).
 *
 * <p>Stateless and thread-safe.
 */
public final class LatencyBuckets {
    private LatencyBuckets() {}

    private static final int EXACT_BELOW = 32;
    private static final int SUB_BUCKET_BITS = 4;

    /** The upper bound (inclusive, ms) of the bucket that holds {@code ms}; negative values count as 0. */
    public static long upperBound(long ms) {
        if (ms < EXACT_BELOW) {
            return Math.max(0, ms);
        }
        int log2 = 63 - Long.numberOfLeadingZeros(ms);
        int shift = log2 - SUB_BUCKET_BITS;
        long lower = (ms >>> shift) << shift;
        return lower + (1L << shift) - 1;
    }

    /** Adds {@code from}'s counts to {@code into}; keys are bucket upper bounds as decimal strings. */
    public static void mergeInto(Map<String, Long> into, Map<String, Long> from) {
        if (from == null) {
            return;
        }
        from.forEach((k, v) -> {
            if (k != null && v != null) {
                into.merge(k, v, Long::sum);
            }
        });
    }

    /** Total count of a histogram. */
    public static long count(Map<String, Long> histogram) {
        long n = 0;
        for (Long v : histogram.values()) {
            n += v == null ? 0 : v;
        }
        return n;
    }

    /**
     * The {@code q}-quantile (0 < q ≤ 1) of a histogram, as the upper bound of the bucket where the cumulative
     * count reaches {@code ceil(q × total)}: an overestimate by less than 6.25%, the same for both sides of a
     * comparison. -1 for an empty histogram. Keys that are not numbers are ignored.
     */
    public static long quantile(Map<String, Long> histogram, double q) {
        if (!(q > 0 && q <= 1)) {
            throw new IllegalArgumentException("quantile must be in (0, 1], got " + q);
        }
        TreeMap<Long, Long> sorted = new TreeMap<>();
        histogram.forEach((k, v) -> {
            try {
                if (v != null && v > 0) {
                    sorted.merge(Long.parseLong(k), v, Long::sum);
                }
            } catch (NumberFormatException notABucket) {
                // not written by LATENCY_HISTOGRAM: ignore rather than fail the gate on it
            }
        });
        long total = 0;
        for (long v : sorted.values()) {
            total += v;
        }
        if (total == 0) {
            return -1;
        }
        long rank = (long) Math.ceil(q * total);
        long seen = 0;
        for (Map.Entry<Long, Long> e : sorted.entrySet()) {
            seen += e.getValue();
            if (seen >= rank) {
                return e.getKey();
            }
        }
        return sorted.lastKey();
    }
}
