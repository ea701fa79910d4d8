package io.flowget.udf.json;

import io.flowget.udf.model.FetchResult;

import org.apache.flink.api.common.serialization.SerializationSchema;

/**
 * Writes a {@link FetchResult} as its contract JSON (UTF-8, one object, no line break), for the results topic.
 * Stateless and thread-safe.
 */
public class FetchResultSerializationSchema implements SerializationSchema<FetchResult> {
    private static final long serialVersionUID = 1L;

    @Override
    public byte[] serialize(FetchResult result) {
        return Json.toJsonBytes(result);
    }
}
