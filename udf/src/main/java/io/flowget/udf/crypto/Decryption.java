package io.flowget.udf.crypto;

/**
 * What one download decrypts: the scheme (the request's, else {@code flowget.decrypt.scheme}), the key id, and
 * the compression inside the encryption ({@code innerEncoding}: a {@code Content-Encoding}-style list such as
 * {@code gzip} or {@code identity}, or null to detect gzip and zstd by their magic bytes). Holds no key
 * material; the key is looked up through a {@link KeyProvider} when the body starts. Immutable.
 */
public record Decryption(DecryptScheme scheme, String keyId, String innerEncoding) {
    /** The {@code encoding} value that asks for detection. */
    public static final String AUTO = "auto";

    public Decryption {
        if (scheme == null || keyId == null) {
            throw new IllegalArgumentException("scheme and key id are required");
        }
    }
}
