package io.flowget.udf.fetch;

import io.flowget.udf.model.Bounded;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.parse.HttpUrl;
import io.flowget.udf.parse.RequestParser;

/**
 * Whether the fetch operator takes a request in: it must be well formed (an id the parser would accept, a url, a
 * host and a path: the operator's input is checked again, since old state or another producer may bypass the
 * parser) and its host's queue must not be full ({@link Scheduler#queueFull}). A refused request gets its one
 * FAILED result at once, with an id that is safe to use as a record key. Stateless.
 */
final class Admission {
    private Admission() {}

    /** Null to admit {@code req}; else the FAILED reason: a malformed request, or {@code queueFull} when set. */
    static String refusal(FetchRequest req, String queueFull) {
        if (req == null || req.url == null || req.host == null || req.path == null) {
            return "invalid request: url, host and path are required";
        }
        if (RequestParser.UNKNOWN_ID.equals(RequestParser.idOfKey(req.id)) && !RequestParser.UNKNOWN_ID.equals(req.id)) {
            return "invalid id";
        }
        return queueFull;
    }

    /** The FAILED result of a refused request: its id if valid (else {@code unknown}) and its url, bounded. */
    static FetchResult refused(FetchRequest req, String reason) {
        String id = req == null ? RequestParser.UNKNOWN_ID : RequestParser.idOfKey(req.id);
        String url = req == null ? null : Bounded.text(req.url, HttpUrl.MAX_URL_CHARS);
        return FetchResult.failed(id, url, reason);
    }
}
