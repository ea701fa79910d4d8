package io.flowget.udf.http;

import org.apache.flink.annotation.Internal;

/**
 * How one response body is checked and digested on its way to the staging file: the request's size limit
 * ({@code max_bytes}, or the global default), the operator's decode-ratio guard and whether BLAKE3 is wanted.
 * Immutable; built per request by the fetch operator and handed to {@link StagingResponseConsumer}.
 *
 * @param maxBytes most decoded bytes to store; {@link Long#MAX_VALUE} for no limit
 * @param maxRatio most decoded bytes per coded byte while a Content-Encoding is removed; 0 turns the guard off
 * @param blake3 also compute BLAKE3 of the stored bytes
 */
@Internal
public record BodyPolicy(long maxBytes, long maxRatio, boolean blake3) {
    public BodyPolicy {
        if (maxBytes < 0 || maxRatio < 0) {
            throw new IllegalArgumentException("maxBytes and maxRatio must be >= 0: " + maxBytes + ", " + maxRatio);
        }
    }
}
