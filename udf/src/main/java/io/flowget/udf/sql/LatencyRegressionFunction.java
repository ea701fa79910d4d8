package io.flowget.udf.sql;

import org.apache.flink.table.functions.ScalarFunction;

/**
 * {@code LATENCY_REGRESSION(primary_ms BIGINT, candidate_ms BIGINT, max_ratio DOUBLE, min_delta_ms BIGINT) →
 * BOOLEAN}: TRUE when the candidate took more than {@code max_ratio} times production's time <em>and</em> more
 * than {@code min_delta_ms} longer; FALSE otherwise; NULL when any argument is NULL (a side has no
 * {@code elapsed_ms}, so there is nothing to compare).
 *
 * <p>Both bounds must be crossed because each alone misfires: on a fast origin a 3 ms request against a 1 ms one
 * is a ratio of 3 but no regression anyone would notice, and on a large file 2 s more out of 60 s is within the
 * network's own variation. A {@code primary_ms} of 0 counts as 1 ms for the ratio.
 */
public class LatencyRegressionFunction extends ScalarFunction {
    private static final long serialVersionUID = 1L;

    public Boolean eval(Long primaryMs, Long candidateMs, Double maxRatio, Long minDeltaMs) {
        if (primaryMs == null || candidateMs == null || maxRatio == null || minDeltaMs == null) {
            return null;
        }
        return regressed(primaryMs, candidateMs, maxRatio, minDeltaMs);
    }

    /** The same test for Java callers. */
    public static boolean regressed(long primaryMs, long candidateMs, double maxRatio, long minDeltaMs) {
        long base = Math.max(1, primaryMs);
        return candidateMs > base * maxRatio && candidateMs - primaryMs > minDeltaMs;
    }
}
