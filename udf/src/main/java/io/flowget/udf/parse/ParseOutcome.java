package io.flowget.udf.parse;

import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;

import java.util.Objects;

/**
 * What {@link RequestParser} made of one event: either a valid {@link FetchRequest}, or a rejection with the id
 * and url to report (as far as they could be read) and the reason. Immutable.
 */
public final class ParseOutcome {
    private final FetchRequest request;
    private final String id;
    private final String url;
    private final String reason;

    private ParseOutcome(FetchRequest request, String id, String url, String reason) {
        this.request = request;
        this.id = id;
        this.url = url;
        this.reason = reason;
    }

    public static ParseOutcome ok(FetchRequest request) {
        return new ParseOutcome(Objects.requireNonNull(request), request.id, request.url, null);
    }

    public static ParseOutcome failed(String id, String url, String reason) {
        return new ParseOutcome(null, Objects.requireNonNull(id), url, Objects.requireNonNull(reason));
    }

    public boolean isOk() {
        return request != null;
    }

    /** The valid request. @throws IllegalStateException if the event was rejected */
    public FetchRequest request() {
        if (request == null) {
            throw new IllegalStateException("rejected: " + reason);
        }
        return request;
    }

    /** The request id; for a rejection the best one known (event id, record key, url hash, or "unknown"). */
    public String id() {
        return id;
    }

    /** The normalised url, or for a rejection the url as given (user info masked), or null if none. */
    public String url() {
        return url;
    }

    /** Why the event was rejected, or null when it was not. */
    public String reason() {
        return reason;
    }

    /** The FAILED result for a rejection. @throws IllegalStateException if the event was valid */
    public FetchResult toFailedResult() {
        if (request != null) {
            throw new IllegalStateException("not a rejection: " + request);
        }
        return FetchResult.failed(id, url, reason);
    }

    @Override
    public String toString() {
        return isOk() ? "ok " + request : "failed " + id + ": " + reason;
    }
}
