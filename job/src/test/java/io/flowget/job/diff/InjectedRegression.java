package io.flowget.job.diff;

import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;

import org.apache.flink.api.common.functions.FlatMapFunction;
import org.apache.flink.util.Collector;

/**
 * TEST ONLY: the regression of the "broken candidate" in {@link ShadowDiffITCase}, applied to its results through
 * {@code FlowgetJob#withResultsFault}. Of the OK results of requests {@code req-NNN}, 2% each (by NNN mod 50)
 * turn FAILED with {@code http 500}, get a corrupted digest, or are lost; everything else passes unchanged.
 * {@link #faultOf(String)} tells a test which requests were hit.
 */
final class InjectedRegression implements FlatMapFunction<FetchResult, FetchResult> {
    private static final long serialVersionUID = 1L;

    /** What happened to a result. */
    enum Fault {
        FAILED,
        CORRUPT_DIGEST,
        LOST
    }

    /** The fault for a request id, or null when its result is left alone. */
    static Fault faultOf(String id) {
        if (id == null || !id.startsWith("req-")) {
            return null;
        }
        switch (Integer.parseInt(id.substring(4)) % 50) {
            case 7:
                return Fault.FAILED;
            case 23:
                return Fault.CORRUPT_DIGEST;
            case 41:
                return Fault.LOST;
            default:
                return null;
        }
    }

    @Override
    public void flatMap(FetchResult r, Collector<FetchResult> out) {
        Fault f = r.status == ResultStatus.OK ? faultOf(r.id) : null;
        if (f == null) {
            out.collect(r);
            return;
        }
        switch (f) {
            case FAILED:
                r.status = ResultStatus.FAILED;
                r.httpStatus = 500;
                r.error = "http 500 (after 1 attempts)";
                r.bytes = null;
                r.sha256 = null;
                r.path = null;
                out.collect(r);
                break;
            case CORRUPT_DIGEST:
                char last = r.sha256.charAt(r.sha256.length() - 1);
                r.sha256 = r.sha256.substring(0, r.sha256.length() - 1) + (last == '0' ? '1' : '0');
                out.collect(r);
                break;
            case LOST:
            default:
                break;
        }
    }
}
