package io.flowget.udf.body;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * A push-style decoder for one content-coding. {@link #accept} consumes all remaining coded bytes of its argument
 * and hands the decoded bytes downstream in chunks of at most {@link BodyPipeline#CHUNK_SIZE} bytes, so the
 * store step can check the size limits before more is decoded; {@link #finish} marks the end of the coded
 * stream and fails with {@link BodyException.Kind#CORRUPT} when it was truncated. Not thread-safe: owned by
 * one {@link BodyPipeline}.
 */
interface Decoder extends ChunkConsumer {

    @Override
    void accept(ByteBuffer coded) throws IOException;

    /** End of the coded input: verifies the stream was complete. */
    void finish() throws IOException;

    /** Bytes of Java heap buffers this decoder holds between calls (decode buffers are borrowed per call). */
    int heapBytes();

    /** Bytes of direct/native buffers this decoder allocated explicitly (not the codec's own state). */
    int directBytes();

    /** Frees native state; idempotent. */
    void close();
}
