package io.flowget.job.kafka;

import io.flowget.udf.model.RawRequest;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * Reads a requests-topic record as a {@link RawRequest}: key and value decoded as UTF-8, plus topic, partition
 * and offset. It never throws and never drops a record, so that every request event reaches the parse step and
 * gets its one result: a tombstone becomes a RawRequest with a null value (rejected as {@code empty request}),
 * and bytes that are not valid UTF-8 are decoded with U+FFFD replacements and flagged in
 * {@link RawRequest#decodeError} ({@code invalid UTF-8 in record value} / {@code ... key}), which the parse
 * step turns into a FAILED result and a dead letter.
 *
 * <p>Usage: {@code KafkaSource.<RawRequest>builder().setDeserializer(new RawRequestDeserializer())}. Stateless.
 */
public class RawRequestDeserializer implements KafkaRecordDeserializationSchema<RawRequest> {
    private static final long serialVersionUID = 1L;

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<RawRequest> out) {
        RawRequest r = new RawRequest();
        r.topic = record.topic();
        r.partition = record.partition();
        r.offset = record.offset();
        Decoded key = decode(record.key());
        Decoded value = decode(record.value());
        r.key = key.text;
        r.value = value.text;
        if (!value.valid) {
            r.decodeError = "invalid UTF-8 in record value";
        } else if (!key.valid) {
            r.decodeError = "invalid UTF-8 in record key";
        }
        out.collect(r);
    }

    @Override
    public TypeInformation<RawRequest> getProducedType() {
        return TypeInformation.of(RawRequest.class);
    }

    private static Decoded decode(byte[] bytes) {
        if (bytes == null) {
            return new Decoded(null, true);
        }
        String s = strictUtf8(bytes, 0, bytes.length);
        // new String(..) replaces malformed input with U+FFFD; keep it so the dead letter shows something.
        return s != null ? new Decoded(s, true) : new Decoded(new String(bytes, StandardCharsets.UTF_8), false);
    }

    /**
     * {@code bytes[offset, offset + length)} decoded as UTF-8, or null when they are not valid UTF-8 (a record this
     * deserializer flags, decoding it with U+FFFD replacements as {@code new String(bytes, UTF_8)} does). Also what
     * {@code run} checks its input lines with, so a line is rejected exactly as its record will be.
     */
    public static String strictUtf8(byte[] bytes, int offset, int length) {
        try {
            // A fresh decoder per call: decoders are stateful and not thread-safe, and this is cheap.
            return StandardCharsets.UTF_8
                    .newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes, offset, length))
                    .toString();
        } catch (CharacterCodingException e) {
            return null;
        }
    }

    private static final class Decoded {
        final String text;
        final boolean valid;

        Decoded(String text, boolean valid) {
            this.text = text;
            this.valid = valid;
        }
    }
}
