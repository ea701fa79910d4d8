package io.flowget.udf.fetch;

import io.flowget.udf.http.FetchOutcome;
import io.flowget.udf.model.Bounded;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;

/**
 * Builds the one {@link FetchResult} of a request from its download and, for success, the outcome that
 * completed it: ids, attempts, restarts and elapsed time always; status, size, digests, path and decoded coding
 * as the contract defines them. Stateless.
 */
final class Results {
    private Results() {}

    /** The fields every result has; {@code elapsed_ms} counts from the first attempt to now. */
    static FetchResult base(Download d) {
        FetchResult r = new FetchResult();
        r.id = d.request.id;
        r.url = d.request.url;
        r.attempts = d.attempts;
        r.elapsedMs = Math.max(0, System.currentTimeMillis() - d.firstAttemptAt);
        r.restarts = d.restarts > 0 ? d.restarts : null;
        return r;
    }

    /** OK: the file at the request's path holds what the outcome describes. */
    static FetchResult ok(Download d, FetchOutcome o) {
        FetchResult r = base(d);
        r.status = ResultStatus.OK;
        r.httpStatus = o.status;
        r.bytes = o.bytes;
        r.sha256 = o.sha256;
        r.blake3 = o.blake3;
        r.path = d.request.path;
        r.contentEncoding = o.decodedCoding;
        return r;
    }

    /** FAILED with a reason (cut to {@link Bounded#MAX_ERROR_CHARS}) and the last HTTP status seen (null if none). */
    static FetchResult failed(Download d, Integer httpStatus, String reason) {
        FetchResult r = base(d);
        r.status = ResultStatus.FAILED;
        r.httpStatus = httpStatus;
        r.error = Bounded.error(reason);
        return r;
    }

    /** The outcome of a chunked download whose whole file was digested at finalize. */
    static FetchOutcome finalized(Download d, long bytes, String sha256, String blake3) {
        FetchOutcome o = new FetchOutcome();
        o.status = d.lastHttpStatus == null ? 206 : d.lastHttpStatus;
        o.bytes = bytes;
        o.sha256 = sha256;
        o.blake3 = blake3;
        o.stored = true;
        if (d.validatorIsEtag) {
            o.etag = d.validator;
        } else {
            o.lastModified = d.validator;
        }
        return o;
    }
}
