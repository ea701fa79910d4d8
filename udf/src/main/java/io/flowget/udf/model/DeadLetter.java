package io.flowget.udf.model;

import java.util.Objects;

/**
 * A request event that could not be turned into a fetch, kept verbatim with the reason, for the dead-letter
 * topic. Every dead letter has a FAILED result with the same {@link #id} and {@link #reason} (as its
 * {@code error}). A Flink POJO; its JSON form is written by {@code io.flowget.udf.json.Json}.
 */
public class DeadLetter {
    /** The id the FAILED result carries (the event's id, the record key, a hash of the url, or "unknown"). */
    public String id;
    /** Why the event was rejected; the FAILED result's {@code error}. */
    public String reason;
    /** The raw record value as received (null for a tombstone). */
    public String value;
    /** The record key, or null. */
    public String key;
    /** Source topic, or null when not read from Kafka. */
    public String topic;
    /** Source partition, or null. */
    public Integer partition;
    /** Source offset, or null. */
    public Long offset;
    /** When the event was rejected, epoch milliseconds. */
    public Long time;

    public DeadLetter() {}

    /** A dead letter for {@code raw}, rejected at {@code timeMillis}. */
    public static DeadLetter of(RawRequest raw, String id, String reason, long timeMillis) {
        DeadLetter d = new DeadLetter();
        d.id = id;
        d.reason = reason;
        d.value = raw.value;
        d.key = raw.key;
        d.topic = raw.topic;
        d.partition = raw.partition;
        d.offset = raw.offset;
        d.time = timeMillis;
        return d;
    }

    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        if (!(o instanceof DeadLetter)) {
            return false;
        }
        DeadLetter that = (DeadLetter) o;
        return Objects.equals(id, that.id)
                && Objects.equals(reason, that.reason)
                && Objects.equals(value, that.value)
                && Objects.equals(key, that.key)
                && Objects.equals(topic, that.topic)
                && Objects.equals(partition, that.partition)
                && Objects.equals(offset, that.offset)
                && Objects.equals(time, that.time);
    }

    @Override
    public int hashCode() {
        return Objects.hash(id, reason, topic, partition, offset);
    }

    @Override
    public String toString() {
        return "DeadLetter{" + id + ": " + reason + " (" + topic + '-' + partition + '@' + offset + ")}";
    }
}
