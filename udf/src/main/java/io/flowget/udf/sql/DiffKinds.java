package io.flowget.udf.sql;

import java.util.List;

/**
 * The names of the ways a candidate's result can disagree with production's, as they appear in diff records
 * ({@code kinds}), in the summary ({@code diff_<kind>} counters) and in {@code flowget canary}'s report. The order
 * of {@link #FIELDS} is the order {@link DiffKindsFunction} reports them in.
 */
public final class DiffKinds {
    private DiffKinds() {}

    /** Terminal status differs (OK / NOT_MODIFIED / FAILED). */
    public static final String STATUS = "status";
    /** Last HTTP status differs. */
    public static final String HTTP_STATUS = "http_status";
    /** Stored size differs. */
    public static final String BYTES = "bytes";
    /** Digest of the stored bytes differs. */
    public static final String SHA256 = "sha256";
    /** Class of the failure differs ({@link ErrorClassFunction}); the raw message is not compared. */
    public static final String ERROR_CLASS = "error_class";
    /** The candidate took much longer ({@link LatencyRegressionFunction}). */
    public static final String LATENCY = "latency";

    /** A production result without a candidate result within the join interval (shadow missing or lagging). */
    public static final String UNMATCHED_PRIMARY = "unmatched_primary";
    /** A candidate result without a production result within the join interval. */
    public static final String UNMATCHED_CANDIDATE = "unmatched_candidate";

    /** The per-field kinds, in report order. */
    public static final List<String> FIELDS = List.of(STATUS, HTTP_STATUS, BYTES, SHA256, ERROR_CLASS, LATENCY);
}
