package io.flowget.udf.sql;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.functions.ScalarFunction;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * {@code DIFF_KINDS(a_status STRING, b_status STRING, a_http_status INT, b_http_status INT, a_bytes BIGINT,
 * b_bytes BIGINT, a_sha256 STRING, b_sha256 STRING, a_error_class STRING, b_error_class STRING,
 * latency_regression BOOLEAN) → ARRAY<STRING>}: the fields in which two results of one request disagree, as
 * {@link DiffKinds} names in the order status, http_status, bytes, sha256, error_class, latency; an empty array
 * when they agree; NULL when either status is NULL (a side has no result, so this is not a comparison but an
 * unmatched result).
 *
 * <p>{@code NOT_MODIFIED} against {@code OK} is no status or http_status difference: production re-validates the
 * copy it stored (a 304) where a digest-only shadow, which stores nothing, always fetches in full (a 200). Their
 * bytes and sha256 (the stored copy's, and the fresh body's) must still agree. For the same reason an OK result's
 * 206 (production fetches through Range requests and chunks) equals a 200 (the shadow's single plain GET).
 *
 * <p>Fields compare null-safely ({@code IS NOT DISTINCT FROM}): NULL equals NULL and differs from any value, so
 * a candidate that stored nothing where production stored bytes differs in {@code bytes} and {@code sha256}.
 * Digests compare case-insensitively. Errors are compared by class ({@link ErrorClassFunction}), never by
 * message. {@code latency} is reported when {@code latency_regression} is TRUE ({@link LatencyRegressionFunction});
 * NULL or FALSE report nothing.
 */
public class DiffKindsFunction extends ScalarFunction {
    private static final long serialVersionUID = 1L;

    public @DataTypeHint("ARRAY<STRING>") String[] eval(
            String aStatus,
            String bStatus,
            Integer aHttpStatus,
            Integer bHttpStatus,
            Long aBytes,
            Long bBytes,
            String aSha256,
            String bSha256,
            String aErrorClass,
            String bErrorClass,
            Boolean latencyRegression) {
        if (aStatus == null || bStatus == null) {
            return null;
        }
        List<String> kinds = new ArrayList<>(DiffKinds.FIELDS.size());
        boolean revalidated = isRevalidation(aStatus, bStatus) || isRevalidation(bStatus, aStatus);
        if (!aStatus.equals(bStatus) && !revalidated) {
            kinds.add(DiffKinds.STATUS);
        }
        if (!Objects.equals(wholeBody(aStatus, aHttpStatus), wholeBody(bStatus, bHttpStatus)) && !revalidated) {
            kinds.add(DiffKinds.HTTP_STATUS);
        }
        if (!Objects.equals(aBytes, bBytes)) {
            kinds.add(DiffKinds.BYTES);
        }
        if (aSha256 == null ? bSha256 != null : !aSha256.equalsIgnoreCase(bSha256)) {
            kinds.add(DiffKinds.SHA256);
        }
        if (!Objects.equals(aErrorClass, bErrorClass)) {
            kinds.add(DiffKinds.ERROR_CLASS);
        }
        if (Boolean.TRUE.equals(latencyRegression)) {
            kinds.add(DiffKinds.LATENCY);
        }
        return kinds.toArray(new String[0]);
    }

    /**
     * The http_status of a result, with a completed ranged download (OK with 206: the body assembled from
     * ranges) counted as a 200: production probes with a Range request and fetches large files in chunks, a
     * digest-only shadow always fetches in one plain GET.
     */
    private static Integer wholeBody(String status, Integer httpStatus) {
        return OK.equals(status) && httpStatus != null && httpStatus == 206 ? Integer.valueOf(200) : httpStatus;
    }

    /** One side confirmed its stored copy (NOT_MODIFIED, 304) where the other fetched it in full (OK). */
    private static boolean isRevalidation(String a, String b) {
        return NOT_MODIFIED.equals(a) && OK.equals(b);
    }

    private static final String OK = "OK";
    private static final String NOT_MODIFIED = "NOT_MODIFIED";
}
