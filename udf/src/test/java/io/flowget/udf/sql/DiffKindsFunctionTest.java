package io.flowget.udf.sql;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** {@link DiffKindsFunction#eval}: which kinds two results differ in, null-safe, and NULL when a side is missing. */
class DiffKindsFunctionTest {
    private static final String SHA = "ab".repeat(32);
    private final DiffKindsFunction f = new DiffKindsFunction();

    @Test
    void identicalResultsHaveNoKinds() {
        assertThat(f.eval("OK", "OK", 200, 200, 10L, 10L, SHA, SHA, null, null, false)).isEmpty();
        assertThat(f.eval("FAILED", "FAILED", 503, 503, null, null, null, null, "http_5xx", "http_5xx", null))
                .isEmpty();
    }

    @Test
    void okTurnedFailedDiffersInEveryFieldItTouches() {
        assertThat(f.eval("OK", "FAILED", 200, 500, 10L, null, SHA, null, null, "http_5xx", null))
                .containsExactly("status", "http_status", "bytes", "sha256", "error_class");
    }

    @Test
    void corruptDigestIsOnlyASha256Diff() {
        String other = SHA.substring(0, 63) + "c";
        assertThat(f.eval("OK", "OK", 200, 200, 10L, 10L, SHA, other, null, null, false)).containsExactly("sha256");
    }

    @Test
    void digestsCompareCaseInsensitively() {
        assertThat(f.eval("OK", "OK", 200, 200, 10L, 10L, SHA, SHA.toUpperCase(), null, null, false)).isEmpty();
    }

    @Test
    void latencyOnlyWhenTheRegressionFlagIsTrue() {
        assertThat(f.eval("OK", "OK", 200, 200, 1L, 1L, SHA, SHA, null, null, true)).containsExactly("latency");
        assertThat(f.eval("OK", "OK", 200, 200, 1L, 1L, SHA, SHA, null, null, null)).isEmpty();
    }

    @Test
    void nullComparesEqualToNullAndDifferentFromAValue() {
        assertThat(f.eval("OK", "OK", null, null, null, null, null, null, null, null, false)).isEmpty();
        assertThat(f.eval("OK", "OK", null, 200, null, 0L, null, SHA, null, null, false))
                .containsExactly("http_status", "bytes", "sha256");
    }

    @Test
    void productionsRevalidatedCopyMatchesTheShadowsFullFetchOfTheSameBytes() {
        assertThat(f.eval("NOT_MODIFIED", "OK", 304, 200, 10L, 10L, SHA, SHA, null, null, false)).isEmpty();
        assertThat(f.eval("OK", "NOT_MODIFIED", 200, 304, 10L, 10L, SHA, SHA, null, null, false)).isEmpty();
        String other = SHA.substring(0, 63) + "c";
        assertThat(f.eval("NOT_MODIFIED", "OK", 304, 200, 10L, 11L, SHA, other, null, null, false))
                .as("the stored copy is stale: a content diff, not a status one")
                .containsExactly("bytes", "sha256");
        assertThat(f.eval("NOT_MODIFIED", "FAILED", 304, 500, 10L, null, SHA, null, null, "http_5xx", false))
                .containsExactly("status", "http_status", "bytes", "sha256", "error_class");
    }

    @Test
    void aCompleteRangedDownloadEqualsAPlainOne() {
        assertThat(f.eval("OK", "OK", 206, 200, 10L, 10L, SHA, SHA, null, null, false)).isEmpty();
        assertThat(f.eval("OK", "OK", 200, 206, 10L, 10L, SHA, SHA, null, null, false)).isEmpty();
        assertThat(f.eval("FAILED", "FAILED", 206, 200, null, null, null, null, "io", "io", false))
                .as("only a completed download counts a 206 as whole")
                .containsExactly("http_status");
    }

    @Test
    void aMissingSideIsNotAComparison() {
        assertThat(f.eval(null, "OK", 200, 200, 1L, 1L, SHA, SHA, null, null, false)).isNull();
        assertThat(f.eval("OK", null, 200, 200, 1L, 1L, SHA, SHA, null, null, false)).isNull();
    }
}
