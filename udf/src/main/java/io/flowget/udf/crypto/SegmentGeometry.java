package io.flowget.udf.crypto;

/**
 * Where the segments of a Tink {@code AesGcmHkdfStreaming} ciphertext lie, and where their plaintext goes: the
 * arithmetic a chunked download needs to fetch, decrypt and store segments independently. Layout (Tink's, with
 * ciphertext offset 0): a {@value #HEADER_BYTES}-byte header ({@code 0x28 || salt (32) || nonce prefix (7)}), then
 * segments of {@code S} ciphertext bytes each, the first one {@value #HEADER_BYTES} bytes shorter so that segment
 * {@code i} ends at ciphertext offset {@code (i + 1) * S}; every segment carries a {@value #TAG_BYTES}-byte tag;
 * the last one may be shorter and is marked last in its nonce. So the segment boundaries of the ciphertext are the
 * multiples of {@code S} (segment 0 including the header), and segment {@code i}'s plaintext starts at {@code 0}
 * for {@code i = 0} and at {@code i * (S - 16) - 40} after.
 *
 * <p>Immutable; all methods are pure.
 *
 * @param segmentBytes Tink's ciphertext segment size {@code S} ({@link DecryptScheme#ciphertextSegmentSize()})
 */
public record SegmentGeometry(int segmentBytes) {
    /** Tink's header for 32-byte keys: length byte, salt, 7-byte nonce prefix. */
    public static final int HEADER_BYTES = 1 + DecryptScheme.KEY_BYTES + 7;

    /** The GCM tag at the end of every segment. */
    public static final int TAG_BYTES = 16;

    public SegmentGeometry {
        if (segmentBytes <= HEADER_BYTES + TAG_BYTES) {
            throw new IllegalArgumentException("segment size " + segmentBytes + " too small");
        }
    }

    /** The smallest valid ciphertext: the header and one empty last segment (an empty plaintext). */
    public long minCiphertextBytes() {
        return HEADER_BYTES + TAG_BYTES;
    }

    /** Index of the segment that holds ciphertext offset {@code offset} (the header counts as segment 0's). */
    public long segmentAt(long offset) {
        return offset / segmentBytes;
    }

    /** Ciphertext offset of segment {@code i}'s first byte (after the header for segment 0). */
    public long ciphertextStart(long i) {
        return i == 0 ? HEADER_BYTES : i * segmentBytes;
    }

    /** Ciphertext offset one past segment {@code i} of a ciphertext of {@code length} bytes. */
    public long ciphertextEnd(long i, long length) {
        return Math.min((i + 1) * segmentBytes, length);
    }

    /** Plaintext offset of segment {@code i}'s first byte: where its plaintext goes in the stored file. */
    public long plaintextStart(long i) {
        return i == 0 ? 0 : i * (long) (segmentBytes - TAG_BYTES) - HEADER_BYTES;
    }

    /** Number of segments of a ciphertext of {@code length} bytes (valid or not: at least 1). */
    public long segments(long length) {
        return Math.max(1, (length + segmentBytes - 1) / segmentBytes);
    }

    /**
     * The plaintext length of a well-formed ciphertext of {@code length} bytes, or -1 when no Tink ciphertext can
     * have that length (shorter than header and tag, or a last segment shorter than its tag).
     */
    public long plaintextLength(long length) {
        if (length < minCiphertextBytes()) {
            return -1;
        }
        long last = segments(length) - 1;
        long lastBytes = length - ciphertextStart(last);
        if (lastBytes < TAG_BYTES) {
            return -1;
        }
        return plaintextStart(last) + lastBytes - TAG_BYTES;
    }

    /**
     * The plaintext bytes that ciphertext offsets {@code [0, end)} decrypt to, for {@code end} a segment boundary
     * (a multiple of {@code S}) or the ciphertext's end: where that prefix ends in the stored file.
     */
    public long plaintextBefore(long end, long length) {
        if (end >= length) {
            return Math.max(0, plaintextLength(length));
        }
        return end <= 0 ? 0 : plaintextStart(end / segmentBytes);
    }

    /** The first segment boundary at or after {@code offset}. */
    public long alignUp(long offset) {
        long r = offset % segmentBytes;
        return r == 0 ? offset : offset - r + segmentBytes;
    }

    /** A chunk size that is a whole number of segments, at least one, near {@code planned}. */
    public long chunkSize(long planned) {
        return Math.max(1, Math.round((double) planned / segmentBytes)) * segmentBytes;
    }
}
