package io.flowget.udf.json;

import io.flowget.udf.model.DeadLetter;

import org.apache.flink.api.common.serialization.SerializationSchema;

/**
 * Writes a {@link DeadLetter} as JSON (UTF-8, one object, no line break; fields in {@link Json}), for the
 * dead-letter topic. Stateless and thread-safe.
 */
public class DeadLetterSerializationSchema implements SerializationSchema<DeadLetter> {
    private static final long serialVersionUID = 1L;

    @Override
    public byte[] serialize(DeadLetter deadLetter) {
        return Json.toJsonBytes(deadLetter);
    }
}
