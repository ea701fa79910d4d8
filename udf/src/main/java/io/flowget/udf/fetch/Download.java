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

    public Download() {}

    public Download(FetchRequest request, long now) {
        this.request = request;
        this.firstAttemptAt = now;
    }
}
