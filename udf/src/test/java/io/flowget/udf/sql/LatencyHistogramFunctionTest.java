package io.flowget.udf.sql;

import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

/** {@link LatencyHistogramFunction} and {@link LatencyBuckets}: bucket bounds, counting, merging, quantiles. */
class LatencyHistogramFunctionTest {
    private final LatencyHistogramFunction f = new LatencyHistogramFunction();

    @Test
    void bucketsAreExactBelow32AndWithinASixteenthAbove() {
        for (long v = 0; v < 32; v++) {
            assertThat(LatencyBuckets.upperBound(v)).isEqualTo(v);
        }
        assertThat(LatencyBuckets.upperBound(-5)).isZero();
        for (long v : new long[] {32, 33, 47, 100, 1000, 1023, 1024, 65_537, 3_600_000, Long.MAX_VALUE / 2}) {
            long ub = LatencyBuckets.upperBound(v);
            assertThat(ub).isGreaterThanOrEqualTo(v);
            assertThat((double) (ub - v) / v).isLessThan(1.0 / 16);
            assertThat(LatencyBuckets.upperBound(ub)).as("the bound is in its own bucket").isEqualTo(ub);
        }
    }

    @Test
    void countsPerBucketSkipsNullsAndRetracts() {
        LatencyHistogramFunction.Acc acc = f.createAccumulator();
        for (Long v : new Long[] {5L, 5L, null, 1000L, 1001L}) {
            f.accumulate(acc, v);
        }
        f.retract(acc, 1001L);
        f.retract(acc, null);
        Map<String, Long> h = f.getValue(acc);
        assertThat(h).containsEntry("5", 2L).containsEntry(Long.toString(LatencyBuckets.upperBound(1000)), 1L);
        assertThat(LatencyBuckets.count(h)).isEqualTo(3);

        f.resetAccumulator(acc);
        assertThat(f.getValue(acc)).isEmpty();
    }

    @Test
    void mergedHistogramsGiveTheQuantilesOfAllValues() {
        LatencyHistogramFunction.Acc a = f.createAccumulator();
        LatencyHistogramFunction.Acc b = f.createAccumulator();
        for (long v = 1; v <= 990; v++) {
            f.accumulate(a, 10L);
        }
        for (long v = 1; v <= 10; v++) {
            f.accumulate(b, 5000L);
        }
        f.merge(a, List.of(b));
        Map<String, Long> h = f.getValue(a);
        assertThat(LatencyBuckets.quantile(h, 0.99)).isEqualTo(10);
        assertThat(LatencyBuckets.quantile(h, 0.995)).isCloseTo(5000, within(5000L / 16));
        assertThat(LatencyBuckets.quantile(h, 1.0)).isEqualTo(LatencyBuckets.upperBound(5000));

        Map<String, Long> twice = new HashMap<>();
        LatencyBuckets.mergeInto(twice, h);
        LatencyBuckets.mergeInto(twice, h);
        LatencyBuckets.mergeInto(twice, null);
        assertThat(LatencyBuckets.count(twice)).isEqualTo(2000);
        assertThat(LatencyBuckets.quantile(twice, 0.99)).isEqualTo(10);
    }

    @Test
    void quantileOfNothingIsMinusOneAndBadInputIsRejectedOrIgnored() {
        assertThat(LatencyBuckets.quantile(Map.of(), 0.99)).isEqualTo(-1);
        assertThat(LatencyBuckets.quantile(Map.of("x", 3L, "7", 1L), 0.5)).isEqualTo(7);
        assertThatThrownBy(() -> LatencyBuckets.quantile(Map.of("1", 1L), 0)).isInstanceOf(IllegalArgumentException.class);
    }
}
