package io.flowget.udf.model;

import java.util.Objects;

/**
 * One raw request event as read from the requests topic (or produced by the {@code run} CLI), before any
 * validation: the record key and value as text, and where the record came from. A Flink POJO (public fields,
 * no-arg constructor), so it never goes through Kryo.
 *
 * <p>{@link #decodeError} is set by the source when the record's bytes were not valid UTF-8; {@link #value}
 * then holds a lossy decoding, and {@code io.flowget.udf.parse.ParseRequestFunction} rejects the record with that reason.
 */
public class RawRequest {
    /** Record key, or null. Used as the request id when the event does not set one. */
    public String key;
    /** Record value: a JSON request event or a bare URL line; null for a tombstone. */
    public String value;
    /** Source topic, or null when not read from Kafka. */
    public String topic;
    /** Source partition, or null. */
    public Integer partition;
    /** Source offset, or null. */
    public Long offset;
    /** Why the record's bytes could not be decoded, or null when they could. */
    public String decodeError;

    public RawRequest() {}

    public RawRequest(String key, String value) {
        this.key = key;
        this.value = value;
    }

    public RawRequest(String key, String value, String topic, Integer partition, Long offset) {
        this(key, value);
        this.topic = topic;
        this.partition = partition;
        this.offset = offset;
    }

    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        if (!(o instanceof RawRequest)) {
            return false;
        }
        RawRequest that = (RawRequest) o;
        return Objects.equals(key, that.key)
                && Objects.equals(value, that.value)
                && Objects.equals(topic, that.topic)
                && Objects.equals(partition, that.partition)
                && Objects.equals(offset, that.offset)
                && Objects.equals(decodeError, that.decodeError);
    }

    @Override
    public int hashCode() {
        return Objects.hash(key, value, topic, partition, offset);
    }

    @Override
    public String toString() {
        return "RawRequest{" + topic + '-' + partition + '@' + offset + " key=" + key + '}';
    }
}
