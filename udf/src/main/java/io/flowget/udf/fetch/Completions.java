package io.flowget.udf.fetch;

import io.flowget.udf.body.Digests;
import io.flowget.udf.http.FetchOutcome;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.storage.OutputStore;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * How a download the rules call done ends: OK once its bytes pass the request's {@code sha256} pin and its staging
 * file is published at the request's path ({@link #succeed}); NOT_MODIFIED on the recorded copy a 304 confirmed
 * ({@link #notModified}), whose bytes are checked against a pin first ({@link #pinnedCopy}). Each returns the result
 * to emit or the FAILED end to take instead ({@link End}); the operator emits and drops the request's state. It
 * publishes files and counts OK / NOT_MODIFIED in the metrics; it touches no keyed state.
 *
 * <p>Not thread-safe: task thread only.
 */
final class Completions {
    /** A request's end: the result to emit ({@code failure} null), or the FAILED end it takes instead. */
    record End(FetchResult result, Decision.Fail failure) {
        static End failed(Integer httpStatus, String reason) {
            return new End(null, new Decision.Fail(httpStatus, reason));
        }
    }

    private final FetchSettings settings;
    private final OutputStore store;
    private final ConditionalFetch conditional;
    private final FetchMetrics metrics;

    Completions(FetchSettings settings, OutputStore store, ConditionalFetch conditional, FetchMetrics metrics) {
        this.settings = settings;
        this.store = store;
        this.conditional = conditional;
        this.metrics = metrics;
    }

    /**
     * OK with {@code o}: the pin ({@code sha256}) is checked, then the staging file is published (moved to the
     * request's path with its validators and digests); a mismatch, a path conflict or a storage error FAILs.
     */
    End succeed(Download d, FetchOutcome o, Path staging) throws IOException {
        FetchRequest req = d.request;
        if (req.sha256 != null && !req.sha256.equalsIgnoreCase(o.sha256)) {
            return End.failed(o.status, "checksum mismatch (expected " + req.sha256 + ", got " + o.sha256 + ")");
        }
        try {
            if (!settings.digestOnly && Files.exists(staging)) {
                var meta = new OutputStore.FileMeta(o.etag, o.lastModified, o.sha256, o.blake3);
                store.publish(staging, req.path, req.url, meta);
            }
        } catch (IOException e) { // the operator's FAILED end discards the staging file
            boolean conflict = e instanceof OutputStore.PathConflictException;
            return End.failed(o.status, conflict ? e.getMessage() : "storage error: " + e.getMessage());
        }
        metrics.ok(o.bytes);
        return new End(Results.ok(d, o), null);
    }

    /**
     * A 304: the origin confirmed the validators sent with the request, so the file at the path is current and
     * stays untouched. Without a usable recorded file (it changed or vanished meanwhile) the 304 cannot be
     * honoured and the request FAILs.
     */
    End notModified(Download d) {
        FetchRequest req = d.request;
        FetchResult r = Results.base(d);
        if (!conditional.notModified(req, settings.maxBytes(req), r)) {
            return End.failed(304, "http 304 without a recorded copy at " + req.path);
        }
        metrics.notModified();
        return new End(r, null);
    }

    /**
     * The digest of the recorded copy of a request that pins {@code sha256} and got a 304 (a recorded sha256 can be
     * forged, so the pin is checked on the bytes): null when it matches (NOT_MODIFIED follows); otherwise the
     * request is distrusted ({@link ConditionalFetch#distrust}: fetched again without validators) and the retry
     * to take is returned.
     */
    Decision.Retry pinnedCopy(FetchRequest req, Digests.FileDigest digest, Exception error) {
        if (error == null && req.sha256.equalsIgnoreCase(digest.sha256())) {
            return null;
        }
        conditional.distrust(req);
        String why = error == null ? "got " + digest.sha256() : error.toString();
        return new Decision.Retry("stored copy does not match the expected sha256 (" + why + ")", 0);
    }
}
