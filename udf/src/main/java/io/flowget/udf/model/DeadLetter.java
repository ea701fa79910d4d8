package io.flowget.udf.model;

import java.util.Objects;

/**
 * A request event that could not be turned into a fetch, kept with the reason for the dead-letter topic: a
 * bounded prefix of its raw value plus the whole value's length and SHA-256, so that a record of any size still
 * fits a Kafka record (a 1 MiB event of control characters would grow past the limit when escaped as JSON). Every dead letter has a FAILED result with the same {@link #id} and {@link #reason} (as its
 * {@code error}). A Flink POJO; its JSON form is written by {@code io.flowget.udf.json.Json}.
 */
public class DeadLetter {
    /** The id the FAILED result carries (the event's id, the record key, a hash of the url, or "unknown"). */
    public String id;
    /** Why the event was rejected; the FAILED result's {@code error}. */
    public String reason;
    /**
     * The raw record value as received (null for a tombstone), cut to its first
     * {@value Bounded#MAX_DEAD_LETTER_VALUE_CHARS} characters (see {@link #valueLength}).
     */
    public String value;
    /** Length of the whole raw value in UTF-8 bytes, or null for a tombstone. */
    public Long valueLength;
    /** SHA-256 (lower-case hex) of the whole raw value's UTF-8 bytes, or null for a tombstone. */
    public String valueSha256;
    /** The record key, or null; cut like {@link #value}. */
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
        d.reason = Bounded.error(reason);
        d.value = Bounded.text(raw.value, Bounded.MAX_DEAD_LETTER_VALUE_CHARS);
        if (raw.value != null) {
            d.valueLength = (long) raw.value.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
            d.valueSha256 = Bounded.sha256(raw.value);
        }
        d.key = Bounded.text(raw.key, Bounded.MAX_DEAD_LETTER_VALUE_CHARS);
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
                && Objects.equals(valueLength, that.valueLength)
                && Objects.equals(valueSha256, that.valueSha256)
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
