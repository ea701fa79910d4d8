package io.flowget.udf.fetch;

import io.flowget.udf.model.FetchRequest;

/**
 * A request that left its host's queue and has not yet reached a terminal result: in flight, or waiting for a
 * retry. Lives in the host's {@code active} MapState under the request's queue sequence number, so that a
 * restore re-issues it (the checkpoint invariant in DESIGN.md).
 */
public class Download {
    public FetchRequest request;
    /** HTTP attempts started so far (redirect hops of one attempt count once). */
    public int attempts;
    /** Epoch millis of the first attempt. */
    public long firstAttemptAt;
    /** Epoch millis when a retry is due; 0 while in flight or ready. */
    public long retryAt;
    /** Last HTTP status seen, or null. */
    public Integer lastHttpStatus;
    /** Last transient error, for the FAILED reason when retries run out. */
    public String lastError;
    /** Consecutive transient failures (any attempt of this download); reset by every success. */
    public int failures;

    // ---- large files (Range chunks) ----

    /** {@link #PROBE} until the first answer decides, then {@link #CHUNKED} or {@link #SINGLE}. */
    public String mode = PROBE;
    /** Bumped whenever the download starts over (resource changed, ranges stopped working). */
    public int generation;
    /** Times the resource changed under the download. */
    public int restarts;
    /** The strong validator chunk requests carry in If-Range (strong ETag, or else Last-Modified). */
    public String validator;
    /** True when {@link #validator} is an ETag (else an HTTP-date). */
    public boolean validatorIsEtag;
    /** Total length of the representation, -1 until known. */
    public long length = -1;
    /** Completed byte ranges, flat [start, end] pairs (see {@link Intervals}); written and fsynced by checkpoint. */
    public long[] done = Intervals.EMPTY;

    /**
     * Unique, never reused id of this download, drawn when it leaves the queue; it names the download's staging
     * files, so a download restored from an older checkpoint can never adopt the file of another request that got
     * the same (reusable) queue sequence number meanwhile. 0 in state written before it existed: such a download
     * keeps its old host-and-sequence staging name (a POJO field added to a state class: restores of old snapshots
     * see the default).
     */
    public long downloadId;

    /**
     * For a chunked download of a Tink-segmented encrypted object: the object's 40-byte header (salt and nonce
     * prefix, no key material), read by the probe; every chunk needs it to decrypt its segments, so it is kept
     * here for a resume after a restore. Null for a plain download, and in state written before it existed (POJO
     * fields added to a state class: old snapshots restore with the default; such a download is never encrypted
     * and chunked, because encrypted downloads were not chunked then).
     */
    public byte[] segmentHeader;
    /**
     * With {@link #segmentHeader}: the ciphertext segment size, so the segment geometry of a resumed download is
     * that of its own object whatever the configured default scheme says meanwhile. 0 for a plain download; then
     * {@link #length} and {@link #done} are the stored file's own offsets, else they count ciphertext bytes.
     */
    public int segmentBytes;

    /** First request: a ranged GET for the first chunk. */
    public static final String PROBE = "PROBE";
    /** Parallel Range chunks into a pre-sized staging file. */
    public static final String CHUNKED = "CHUNKED";
    /** One plain GET of the whole body (no range support, or no validator). */
    public static final String SINGLE = "SINGLE";

    /**
     * The typed view of {@link #mode}, which stays a String because savepoints hold it (the field and its
     * values are state; the enum's names are those values).
     */
    public enum Mode {
        PROBE,
        CHUNKED,
        SINGLE
    }

    public Download() {}

    public Download(FetchRequest request, long now) {
        this.request = request;
        this.firstAttemptAt = now;
    }

    /** The download's mode, typed (not a bean getter: Flink's POJO analysis sees only the public fields). */
    public Mode mode() {
        return Mode.valueOf(mode);
    }

    /** Sets {@link #mode} from its typed value. */
    public void switchTo(Mode m) {
        mode = m.name();
    }
}
