package io.flowget.udf.fetch;

import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.storage.OutputStore;
import io.flowget.udf.storage.OutputStore.RecordedFile;

import org.apache.flink.annotation.Internal;

import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * Conditional re-fetch for mirror sync ({@code flowget.fetch.conditional}): decides whether a request may be
 * answered from the file an earlier run stored at its path, supplies the validator headers, and turns a
 * {@code 304} into the {@code NOT_MODIFIED} result.
 *
 * <p>A recorded file is used only when {@link OutputStore#recorded} vouches for it (same URL, unchanged since
 * flowget wrote it, with an ETag or Last-Modified and a SHA-256) and it could also have been the answer of a
 * full fetch: its digest equals the request's expected {@code sha256}, its size is within {@code max_bytes},
 * and it has a BLAKE3 when results must carry one. Otherwise the body is fetched in full, which records fresh
 * validators. A 304 is checked against the file again when it arrives, so the result describes the file
 * that is at the path at that moment. The recorded attributes can be forged by anyone who can write the file: for
 * a request that pins {@code sha256} the operator therefore hashes the file's bytes before it reports
 * NOT_MODIFIED, and {@link #distrust}s a copy that does not match.
 *
 * <p>Not thread-safe: used on the fetch operator's task thread.
 */
@Internal
final class ConditionalFetch {
    private final OutputStore store;
    private final boolean enabled;
    private final boolean blake3;
    /**
     * Requests whose recorded copy failed the re-hash of a pinned sha256: fetched in full from now on. In memory
     * only (after a restore such a request is checked again) and bounded: cleared past {@link #MAX_DISTRUSTED}.
     */
    private final Set<String> distrusted = new HashSet<>();

    static final int MAX_DISTRUSTED = 10_000;

    /**
     * @param store the output directory, or null when nothing is stored (digest-only sink): never conditional
     * @param enabled {@code flowget.fetch.conditional}
     * @param blake3 {@code flowget.digest.blake3}: results carry BLAKE3, so the file must have it recorded
     */
    ConditionalFetch(OutputStore store, boolean enabled, boolean blake3) {
        this.store = store;
        this.enabled = enabled && store != null;
        this.blake3 = blake3;
    }

    /** The validator headers to send for this request; empty when the body must be fetched in full. */
    Map<String, String> headers(FetchRequest req, long maxBytes) {
        RecordedFile f = usable(req, maxBytes);
        return f == null ? Map.of() : f.conditionalHeaders();
    }

    /**
     * Fills {@code r} as the NOT_MODIFIED result of a 304 answer; false when no usable recorded file is at the
     * path (any more), so the 304 cannot be honoured.
     */
    boolean notModified(FetchRequest req, long maxBytes, FetchResult r) {
        RecordedFile f = usable(req, maxBytes);
        if (f == null) {
            return false;
        }
        r.status = ResultStatus.NOT_MODIFIED;
        r.httpStatus = 304;
        r.bytes = f.bytes();
        r.sha256 = f.sha256();
        r.blake3 = blake3 ? f.blake3() : null;
        r.path = req.path;
        return true;
    }

    /** The request's recorded copy did not hash to its pinned sha256: never answer it conditionally again. */
    void distrust(FetchRequest req) {
        if (distrusted.size() >= MAX_DISTRUSTED) {
            distrusted.clear();
        }
        distrusted.add(req.id);
    }

    private RecordedFile usable(FetchRequest req, long maxBytes) {
        if (!enabled || req.path == null || distrusted.contains(req.id)) {
            return null;
        }
        RecordedFile f = store.recorded(req.path, req.url);
        if (f == null
                || (req.sha256 != null && !req.sha256.equalsIgnoreCase(f.sha256()))
                || f.bytes() > maxBytes
                || (blake3 && f.blake3() == null)) {
            return null;
        }
        return f;
    }
}
