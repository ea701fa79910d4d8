package io.flowget.udf.fetch;

import java.lang.management.ManagementFactory;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * The figures every harness benchmark prints beside its rounds: the machine's load average (so a reader can judge
 * the noise) and the median of a series. Stateless; called from a benchmark's main thread.
 */
final class BenchStats {
    private BenchStats() {}

    /** The one-minute load average, one decimal, as the benchmarks print it. */
    static String load() {
        return String.format(Locale.ROOT, "%.1f", ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
    }

    /** The median of {@code values} (the upper one of an even count); {@code values} is not changed. */
    static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }

    /** The median of {@code values}, as {@link #median(double[])}. */
    static double median(List<Double> values) {
        return median(values.stream().mapToDouble(Double::doubleValue).toArray());
    }
}
