package io.flowget.udf.fetch;

import io.flowget.udf.body.BodyException;
import io.flowget.udf.body.ContentCoding;
import io.flowget.udf.crypto.Decryption;
import io.flowget.udf.crypto.SegmentGeometry;
import io.flowget.udf.http.ContentRange;
import io.flowget.udf.http.FetchOutcome;

/**
 * Chunked downloads of Tink-segmented encrypted objects (README "Encrypted payloads"): which requests qualify, and
 * the segment-aligned planning the shared chunk code asks for through small hooks. Such a download counts its
 * {@link Download#length} and {@link Download#done} in <em>ciphertext</em> bytes, always at segment boundaries (the
 * multiples of the segment size, {@link SegmentGeometry}), while its staging file holds the plaintext, pre-sized to
 * the plaintext length; each chunk is decrypted on its own at its segment indices ({@code
 * http.SegmentedRangeConsumer}). What a resume needs — the object's header and segment size — is in {@link
 * Download#segmentHeader} and {@link Download#segmentBytes}. A plain download ({@code segmentBytes == 0}) passes
 * through every hook unchanged.
 *
 * <p>Stateless; static methods, called on the task thread.
 */
final class SegmentedChunks {
    private SegmentedChunks() {}

    /**
     * Whether an encrypted request may be fetched in Range chunks: a segmented scheme, and plaintext stored as
     * decrypted ({@code encoding} {@code identity}, or {@code auto}, which the probe checks for gzip and zstd).
     */
    static boolean chunkable(Decryption decryption) {
        if (decryption == null || !decryption.scheme().segmented()) {
            return false;
        }
        if (sniffs(decryption)) {
            return true;
        }
        try {
            return ContentCoding.parse(decryption.innerEncoding()).isEmpty();
        } catch (BodyException unsupported) {
            return false; // the streaming pipeline reports it
        }
    }

    /** The inner encoding is to be detected ({@code auto}). */
    static boolean sniffs(Decryption decryption) {
        String enc = decryption.innerEncoding();
        return enc == null || enc.isBlank() || enc.trim().equalsIgnoreCase(Decryption.AUTO);
    }

    /** The geometry of a segmented download, or null for a plain one. */
    static SegmentGeometry geometry(Download d) {
        return d.segmentBytes > 0 ? new SegmentGeometry(d.segmentBytes) : null;
    }

    /** Bytes a probe of {@code decryption}'s objects asks for: the chunk size as whole segments. */
    static long probeBytes(long chunkSize, Decryption decryption) {
        return new SegmentGeometry(decryption.scheme().ciphertextSegmentSize()).chunkSize(chunkSize);
    }

    /** The length of the stored file: the plaintext length of a segmented download (-1 if none can be). */
    static long storedLength(Download d) {
        SegmentGeometry g = geometry(d);
        return g == null ? d.length : g.plaintextLength(d.length);
    }

    /** {@link Download#done} in stored-file offsets: each ciphertext range mapped to the plaintext it decrypts to. */
    static long[] storedDone(Download d) {
        SegmentGeometry g = geometry(d);
        if (g == null) {
            return d.done;
        }
        long[] out = Intervals.EMPTY;
        for (int i = 0; i + 1 < d.done.length; i += 2) {
            long from = g.plaintextBefore(d.done[i], d.length);
            long to = g.plaintextBefore(d.done[i + 1] + 1, d.length);
            if (to > from) {
                out = Intervals.add(out, from, to - 1);
            }
        }
        return out;
    }

    /** The chunk size of a download's plan: whole segments for a segmented download. */
    static long chunkSize(Download d, long planned) {
        SegmentGeometry g = geometry(d);
        return g == null ? planned : g.chunkSize(planned);
    }

    /**
     * Where a straggler may be split near {@code mid}: at the next segment boundary for a segmented download (its
     * attempt then ends on a segment end), or -1 when that boundary is past {@code limit}.
     */
    static long splitPoint(Download d, long mid, long limit) {
        SegmentGeometry g = geometry(d);
        long at = g == null ? mid : g.alignUp(mid);
        return at <= limit ? at : -1;
    }

    /** A probe read the object's header: the download keeps it (and the geometry) for its chunks and a resume. */
    static void adopt(Download d, FetchOutcome o) {
        if (o.segmentHeader != null && o.error == null) {
            d.segmentHeader = o.segmentHeader;
            d.segmentBytes = o.segmentBytes;
        }
    }

    /** Forgets the object's header and geometry (a new generation). */
    static void forget(Download d) {
        d.segmentHeader = null;
        d.segmentBytes = 0;
    }

    /**
     * The decision on a probe's 206 of an encrypted object, or null to decide as for any probe. The whole object in
     * one answer was decrypted by the streaming pipeline: done. A part of it plans segment-aligned chunks after the
     * segments the probe stored, unless the plaintext is compressed (one stream instead) or the total is no Tink
     * ciphertext length ({@code decryption failed}); {@code max_bytes} applies to the plaintext length.
     */
    static Decision probe(Download d, FetchOutcome o, long maxBytes) {
        ContentRange cr = o.contentRange;
        if (d.request.decryptKeyId == null || cr == null) {
            return null;
        }
        if (o.segmentHeader == null) {
            boolean whole = o.stored && cr.first() == 0 && cr.last() + 1 == cr.complete();
            return whole ? new Decision.Succeed(o) : new Decision.SingleStream();
        }
        if (o.compressedInside) {
            return new Decision.SingleStream();
        }
        long plain = new SegmentGeometry(o.segmentBytes).plaintextLength(cr.complete());
        if (plain < 0) {
            return new Decision.Fail(
                    o.status, "decryption failed: " + cr.complete() + " bytes is no Tink ciphertext length");
        }
        if (plain > maxBytes) {
            return new Decision.Fail(
                    o.status, OutcomeRules.maxBytesExceeded(maxBytes) + ": the origin announced " + plain
                            + " decrypted bytes");
        }
        if (cr.complete() > OutcomeRules.MAX_REPRESENTATION_BYTES) {
            return new Decision.Fail(o.status, "implausible Content-Range total " + cr.complete());
        }
        String validator = OutcomeRules.strongValidator(o);
        if (validator == null || o.rangeLast < 0) {
            return new Decision.SingleStream(); // no validator to keep versions apart, or no whole segment came
        }
        boolean isEtag = o.etag != null && validator.equals(o.etag.trim());
        return new Decision.PlanChunks(cr.complete(), validator, isEtag, o.rangeLast);
    }
}
