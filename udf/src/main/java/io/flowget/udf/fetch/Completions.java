package io.flowget.udf.fetch;

import io.flowget.udf.body.Digests;
import io.flowget.udf.http.FetchOutcome;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.storage.OutputStore;

import java.io.IOException;
import java.nio.file.Path;

/**
 * How a download the rules call done ends: OK once its bytes pass the request's {@code sha256} pin and its staging
 * file is published at the request's path ({@link #succeed}, then {@link #published} once the storage pool did the
 * file work); NOT_MODIFIED on the recorded copy a 304 confirmed
 * ({@link #notModified}), whose bytes are checked against a pin first ({@link #pinnedCopy}). Each returns the result
 * to emit or the FAILED end to take instead ({@link End}); the operator emits and drops the request's state. It
 * publishes files and counts OK / NOT_MODIFIED in the metrics; it touches no keyed state.
 *
 * <p>Not thread-safe: task thread only (the file work it begins runs on the storage pool, see {@link
 * OutputStore#prepare}, and comes back through the operator's mail).
 */
final class Completions {
    /**
     * A request's end: the result to emit ({@code failure} null), the FAILED end it takes instead, or (both null) a
     * publish whose file work must run on the storage pool first ({@code publishing}; its end is {@link #published}).
     */
    record End(FetchResult result, Decision.Fail failure, Publishing publishing) {
        End(FetchResult result, Decision.Fail failure) {
            this(result, failure, null);
        }

        static End failed(Integer httpStatus, String reason) {
            return new End(null, new Decision.Fail(httpStatus, reason));
        }
    }

    /** A download whose pin passed and whose file is being published off the task thread. */
    record Publishing(FetchOutcome outcome, OutputStore.Publish publish) {}

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
     * OK with {@code o}: the pin ({@code sha256}) is checked, then the staging file's publish begins (the path is
     * reserved; the file work, moving it to the request's path with its validators and digests, is returned as
     * {@link End#publishing} for the storage pool, and {@link #published} ends it); a mismatch or a path reserved
     * for another URL FAILs at once.
     */
    End succeed(Download d, FetchOutcome o, Path staging) {
        FetchRequest req = d.request;
        if (req.sha256 != null && !req.sha256.equalsIgnoreCase(o.sha256)) {
            return End.failed(o.status, "checksum mismatch (expected " + req.sha256 + ", got " + o.sha256 + ")");
        }
        if (settings.digestOnly) {
            return ok(d, o);
        }
        try {
            var meta = new OutputStore.FileMeta(o.etag, o.lastModified, o.sha256, o.blake3);
            return new End(null, null, new Publishing(o, store.beginPublish(staging, req.path, req.url, meta)));
        } catch (IOException e) { // the operator's FAILED end discards the staging file
            return storageFailure(o, e);
        }
    }

    /**
     * The file work of {@code p} has ended (task thread, in its completion mail): OK when the file was published; a
     * path conflict found on the way (another URL's file, a directory, a symbolic link among its directories) or a
     * storage error FAILs that request only.
     */
    End published(Download d, Publishing p) {
        try {
            store.completePublish(p.publish());
        } catch (IOException e) {
            return storageFailure(p.outcome(), e);
        }
        return ok(d, p.outcome());
    }

    private End ok(Download d, FetchOutcome o) {
        metrics.ok(o.bytes);
        return new End(Results.ok(d, o), null);
    }

    private static End storageFailure(FetchOutcome o, IOException e) {
        boolean conflict = e instanceof OutputStore.PathConflictException;
        return End.failed(o.status, conflict ? e.getMessage() : "storage error: " + e.getMessage());
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
