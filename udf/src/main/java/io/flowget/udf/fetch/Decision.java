package io.flowget.udf.fetch;

import io.flowget.udf.http.FetchOutcome;

/**
 * What to do with a download after one of its attempts ended: the typed verdict of {@link OutcomeRules}, which
 * {@link FetchOperator} applies (writing state, emitting the result, scheduling the next attempt). Pure values:
 * making a decision changes nothing.
 */
sealed interface Decision {
    // Outcomes of an attempt
    /** Store and report the download as OK with what the outcome carried. */
    record Succeed(FetchOutcome outcome) implements Decision {}

    /** The origin confirmed the recorded file (304): NOT_MODIFIED. */
    record NotModified() implements Decision {}

    /** The probe found a large file with a strong validator: fetch the rest in Range chunks. */
    record PlanChunks(long length, String validator, boolean validatorIsEtag, long firstChunkLast)
            implements Decision {}

    /** A chunk was stored; {@code complete} when the file has every byte now. */
    record ChunkStored(boolean complete) implements Decision {}

    /** Ranges do not work (or cannot be trusted) for this resource: one plain GET of the whole body. */
    record SingleStream() implements Decision {}

    /**
     * Discard everything and start a new generation: the resource changed under a chunked download
     * ({@code changed}, counted against {@code flowget.chunk.max-restarts}) or its partial file vanished.
     */
    record StartOver(boolean changed) implements Decision {}

    /** A transient failure: try again after {@code afterMillis}, or after the backoff when negative. */
    record Retry(String reason, long afterMillis) implements Decision {}

    /**
     * The request is over: FAILED with {@code reason} and the HTTP status to report (usually the last one seen;
     * null for a deadline that passed before the download's next attempt, as before the split).
     */
    record Fail(Integer httpStatus, String reason) implements Decision {}

    /** Start an attempt of the whole body (or the probe): the download's turn. */
    record Start() implements Decision {}

    /** Issue the chunked download's next chunk: the download's turn. */
    record NextChunk() implements Decision {}

    /** Digest the completed chunked file: the download's turn. */
    record Finalize() implements Decision {}

    /** Nothing to issue on this turn (attempts still out, or the digest is running). */
    record Nothing() implements Decision {}

    /** Follow a redirect within the same attempt. */
    record Redirect(String url) implements Decision {}
}
