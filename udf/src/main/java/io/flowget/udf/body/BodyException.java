package io.flowget.udf.body;

import java.io.IOException;

/**
 * A body that cannot be stored: its content-coding is unknown, its coded stream is corrupt or truncated, its
 * ciphertext does not authenticate or its key is unknown, or it broke a size guard. The message is meant for the result event's {@code error} field as it is (for example
 * {@code corrupt gzip stream} or {@code max_bytes exceeded (limit 67108864 bytes)}); {@link #kind()} lets the
 * caller decide between FAILED and a retry without parsing it. Storage failures of the {@link ByteSink} are
 * never wrapped in this type: they propagate as the sink threw them.
 */
public final class BodyException extends IOException {
    private static final long serialVersionUID = 1L;

    /** Why the body was refused. */
    public enum Kind {
        /** The Content-Encoding names a coding flowget cannot decode; the message names it. */
        UNSUPPORTED_CODING,
        /** The coded stream is malformed, fails its checksum, or ended early (truncated). */
        CORRUPT,
        /** The decoded (stored) size would exceed {@code max_bytes}. */
        LIMIT_EXCEEDED,
        /** Decoded bytes grew faster than the maximum decode ratio allows (decompression bomb guard). */
        RATIO_EXCEEDED,
        /**
         * An encrypted body did not authenticate (wrong key, damaged, truncated or extended ciphertext); message
         * {@code decryption failed: …}.
         */
        DECRYPT_FAILED,
        /** The request's key id is unknown to every key provider, or its key is unusable; not retried. */
        UNKNOWN_KEY
    }

    private final Kind kind;

    BodyException(Kind kind, String message) {
        super(message);
        this.kind = kind;
    }

    BodyException(Kind kind, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind;
    }

    /** The category of this failure. */
    public Kind kind() {
        return kind;
    }

    static BodyException decryptFailed(String detail, Throwable cause) {
        return new BodyException(Kind.DECRYPT_FAILED, "decryption failed: " + detail, cause);
    }

    static BodyException corrupt(ContentCoding coding, Throwable cause) {
        return new BodyException(Kind.CORRUPT, "corrupt " + coding.token() + " stream", cause);
    }

    static BodyException corrupt(ContentCoding coding, String detail) {
        // The detail goes into the cause so the message stays the stable "corrupt <coding> stream".
        return new BodyException(
                Kind.CORRUPT, "corrupt " + coding.token() + " stream", new IOException(detail));
    }
}
