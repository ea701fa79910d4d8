package io.flowget.udf.http;

import io.flowget.udf.crypto.Decryption;
import io.flowget.udf.crypto.KeyProvider;

import org.apache.flink.annotation.Internal;

/**
 * How one response body is checked and digested on its way to the staging file: the request's size limit
 * ({@code max_bytes}, or the global default), the operator's decode-ratio guard and whether BLAKE3 is wanted.
 * Immutable; built per request by the fetch operator and handed to {@link StagingResponseConsumer}.
 *
 * @param maxBytes most decoded bytes to store; {@link Long#MAX_VALUE} for no limit
 * @param maxRatio most decoded bytes per coded byte while a Content-Encoding is removed; 0 turns the guard off
 * @param blake3 also compute BLAKE3 of the stored bytes
 * @param decryption what to decrypt (README "Encrypted payloads"), or null for a body stored as received
 * @param keys where the decryption key comes from; required with {@code decryption}
 */
@Internal
public record BodyPolicy(long maxBytes, long maxRatio, boolean blake3, Decryption decryption, KeyProvider keys) {
    public BodyPolicy {
        if (maxBytes < 0 || maxRatio < 0) {
            throw new IllegalArgumentException("maxBytes and maxRatio must be >= 0: " + maxBytes + ", " + maxRatio);
        }
        if (decryption != null && keys == null) {
            throw new IllegalArgumentException("a key provider is required to decrypt");
        }
    }

    /** A policy for a body stored as received (no decryption). */
    public BodyPolicy(long maxBytes, long maxRatio, boolean blake3) {
        this(maxBytes, maxRatio, blake3, null, null);
    }
}
