package io.flowget.udf.body;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Where a {@link BodyPipeline} delivers decoded bytes, typically a staging file's {@code FileChannel}.
 *
 * <p>Contract: {@link #write} must consume every remaining byte of {@code decoded} before it returns (loop on
 * partial channel writes) and must not keep a reference to the buffer: the pipeline reuses it, or it is a view of
 * native decoder memory that is only valid during the call. The buffer may be heap or direct.
 */
@FunctionalInterface
public interface ByteSink {

    /** Stores all remaining bytes of {@code decoded}. */
    void write(ByteBuffer decoded) throws IOException;

    /** A sink that drops everything, for digest-only runs (shadow pipeline, benchmarks). */
    static ByteSink discard() {
        return decoded -> decoded.position(decoded.limit());
    }
}
