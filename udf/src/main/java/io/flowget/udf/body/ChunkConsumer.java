package io.flowget.udf.body;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The next step of a {@link BodyPipeline}: another decoder or the store step. {@link #accept} consumes every
 * remaining byte of the chunk before it returns and keeps no reference to it, because the producer reuses the
 * buffer (or it is a view of native decoder memory valid only during the call).
 */
interface ChunkConsumer {
    void accept(ByteBuffer chunk) throws IOException;
}
