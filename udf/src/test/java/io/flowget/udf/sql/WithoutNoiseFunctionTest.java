package io.flowget.udf.sql;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** {@link WithoutNoiseFunction#eval}: noise removal keeps order and treats a missing secondary as no noise. */
class WithoutNoiseFunctionTest {
    private final WithoutNoiseFunction f = new WithoutNoiseFunction();

    @Test
    void dropsTheNoisyKindsAndKeepsTheOrder() {
        assertThat(f.eval(new String[] {"status", "bytes", "sha256"}, new String[] {"sha256", "bytes"}))
                .containsExactly("status");
        assertThat(f.eval(new String[] {"sha256", "bytes"}, new String[] {"sha256", "bytes"})).isEmpty();
        assertThat(f.eval(new String[] {"latency", "status"}, new String[] {"bytes"}))
                .containsExactly("latency", "status");
    }

    @Test
    void noSecondaryMeansNothingIsNoise() {
        String[] kinds = {"sha256"};
        assertThat(f.eval(kinds, null)).containsExactly("sha256");
        assertThat(f.eval(kinds, new String[0])).containsExactly("sha256");
    }

    @Test
    void nullKindsStayNullAndNullElementsAreHandled() {
        assertThat(f.eval(null, new String[] {"sha256"})).isNull();
        assertThat(f.eval(new String[] {null, "bytes"}, new String[] {null, "bytes"})).containsExactly((String) null);
    }
}
