package io.flowget.udf.crypto;

import java.io.IOException;

/**
 * Where decryption keys come from: a key id (the request's {@code decrypt.key_id}) to 32 bytes of key material.
 * flowget ships {@link DirectoryKeyProvider} (a directory of key files, e.g. a mounted Kubernetes secret) and
 * {@link EnvironmentKeyProvider}; a deployment can implement this interface (a KMS client, say) and name the
 * class in {@code flowget.decrypt.key-provider}.
 *
 * <p>Contract: keys are looked up when a response body starts (on an HTTP I/O thread), once per attempt; the
 * returned array belongs to the caller, which wipes it after use. An implementation must never put key
 * material into an exception message or a log line. Rotation is a new key id, so an implementation may cache.
 * Implementations must be thread-safe.
 */
public interface KeyProvider {
    /**
     * The key of {@code keyId}.
     *
     * @return a fresh array of {@link DecryptScheme#KEY_BYTES} bytes
     * @throws UnknownKeyException when there is no such key (the request FAILs, not retried)
     * @throws IOException when the key store cannot be read now (the attempt is retried like an I/O error)
     */
    byte[] key(String keyId) throws IOException;
}
