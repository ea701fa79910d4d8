package io.flowget.udf.crypto;

import java.io.IOException;

/**
 * A key id no provider knows, or whose key material is unusable. Its message is the result's {@code error},
 * e.g. {@code unknown key id 'backup-2026'}; it never holds key material. Not retried.
 */
public final class UnknownKeyException extends IOException {
    private static final long serialVersionUID = 1L;

    public UnknownKeyException(String message) {
        super(message);
    }

    /** The standard message for a key id that is not there. */
    public static UnknownKeyException unknown(String keyId) {
        return new UnknownKeyException("unknown key id '" + keyId + "'");
    }
}
