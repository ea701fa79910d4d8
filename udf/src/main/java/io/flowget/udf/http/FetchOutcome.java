package io.flowget.udf.http;

/**
 * What one HTTP exchange produced, handed from the I/O reactor thread to the operator's task thread. Either a
 * response (status &gt; 0, body stored in the staging file when {@link #stored}) or an {@link #error}.
 */
public final class FetchOutcome {
    /** HTTP status, 0 when no response arrived. */
    public int status;

    /** True when the response came over HTTP/2. */
    public boolean http2;

    public String location;
    public String retryAfter;
    public String contentEncoding;
    public String etag;
    public String lastModified;
    /** Declared Content-Length, -1 when absent. */
    public long contentLength = -1;

    /** True when the body was written to the staging file. */
    public boolean stored;
    /** Stored (decoded) bytes. */
    public long bytes;
    /** SHA-256 of the stored bytes, lower-case hex. */
    public String sha256;
    /** BLAKE3 (256 bit) of the stored bytes, lower-case hex; null unless requested. */
    public String blake3;
    /** The content-coding that was removed from the stored bytes, or null. */
    public String decodedCoding;

    /** A 206 for another version of the resource (total length or validator differ): nothing was written. */
    public boolean changed;

    /** The parsed Content-Range of a 206, or null. */
    public ContentRange contentRange;
    /** First and last byte offsets written by a range answer (last = -1 when nothing was written). */
    public long rangeFirst = -1;
    public long rangeLast = -1;

    /**
     * A probe of a Tink-segmented encrypted object that answered with a part of it: the object's header (salt and
     * nonce prefix), which every later chunk needs to decrypt its segments; null otherwise.
     */
    public byte[] segmentHeader;
    /** With {@link #segmentHeader}: the object's ciphertext segment size. */
    public int segmentBytes;
    /** A probe of an encrypted object found gzip or zstd inside: it cannot be stored chunk by chunk. */
    public boolean compressedInside;

    /** Set when the exchange failed (I/O error, timeout, limit, cancellation). */
    public Throwable error;

    public static FetchOutcome failure(Throwable error) {
        FetchOutcome o = new FetchOutcome();
        o.error = error;
        return o;
    }

    /**
     * A copy of what the response head said (status, validators, codings, lengths, Content-Range, whether its body
     * is being stored), for a hand-over while the body still streams into this one.
     */
    public FetchOutcome copyOfHead() {
        FetchOutcome h = new FetchOutcome();
        h.status = status;
        h.http2 = http2;
        h.location = location;
        h.retryAfter = retryAfter;
        h.contentEncoding = contentEncoding;
        h.etag = etag;
        h.lastModified = lastModified;
        h.contentLength = contentLength;
        h.contentRange = contentRange;
        h.stored = stored;
        return h;
    }

    public boolean isRedirect() {
        return error == null
                && location != null
                && (status == 301 || status == 302 || status == 303 || status == 307 || status == 308);
    }
}
