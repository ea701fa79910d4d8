package io.flowget.udf.sql;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** {@link LatencyRegressionFunction#eval}: both bounds must be crossed; NULL in, NULL out. */
class LatencyRegressionFunctionTest {
    private final LatencyRegressionFunction f = new LatencyRegressionFunction();

    @Test
    void needsBothTheRatioAndTheDelta() {
        assertThat(f.eval(1000L, 2500L, 2.0, 1000L)).isTrue();
        assertThat(f.eval(1000L, 1900L, 2.0, 500L)).as("ratio 1.9 < 2").isFalse();
        assertThat(f.eval(1L, 30L, 2.0, 1000L)).as("ratio 30 but only 29 ms more").isFalse();
        assertThat(f.eval(60_000L, 62_000L, 1.01, 1000L)).as("both crossed").isTrue();
        assertThat(f.eval(60_000L, 62_000L, 1.1, 1000L)).as("delta crossed, ratio not").isFalse();
    }

    @Test
    void fasterOrEqualIsNeverARegression() {
        assertThat(f.eval(5000L, 5000L, 1.0, 0L)).isFalse();
        assertThat(f.eval(5000L, 10L, 0.0, 0L)).isFalse();
    }

    @Test
    void zeroPrimaryCountsAsOneMillisecond() {
        assertThat(f.eval(0L, 3L, 2.0, 1L)).isTrue();
        assertThat(f.eval(0L, 2L, 2.0, 1L)).isFalse();
    }

    @Test
    void anyNullArgumentIsNull() {
        assertThat(f.eval(null, 10L, 2.0, 1L)).isNull();
        assertThat(f.eval(10L, null, 2.0, 1L)).isNull();
        assertThat(f.eval(10L, 10L, null, 1L)).isNull();
        assertThat(f.eval(10L, 10L, 2.0, null)).isNull();
    }
}
