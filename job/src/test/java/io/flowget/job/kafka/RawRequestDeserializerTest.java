package io.flowget.job.kafka;

import io.flowget.udf.model.RawRequest;

import org.apache.flink.api.common.functions.util.ListCollector;
import org.apache.flink.api.java.typeutils.PojoTypeInfo;
import org.apache.flink.util.InstantiationUtil;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class RawRequestDeserializerTest {

    private final RawRequestDeserializer deserializer = new RawRequestDeserializer();

    private RawRequest read(byte[] key, byte[] value) throws Exception {
        List<RawRequest> out = new ArrayList<>();
        // Flink ships the schema serialised to the task managers; use such a copy.
        InstantiationUtil.clone(deserializer)
                .deserialize(new ConsumerRecord<>("requests", 3, 42L, key, value), new ListCollector<>(out));
        assertThat(out).hasSize(1);
        return out.get(0);
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void keyValueAndSourcePosition() throws Exception {
        RawRequest r = read(utf8("line-1"), utf8("{\"url\":\"http://h/caf\u00e9\"}"));
        assertThat(r.key).isEqualTo("line-1");
        assertThat(r.value).isEqualTo("{\"url\":\"http://h/caf\u00e9\"}");
        assertThat(r.topic).isEqualTo("requests");
        assertThat(r.partition).isEqualTo(3);
        assertThat(r.offset).isEqualTo(42L);
        assertThat(r.decodeError).isNull();
    }

    @Test
    void nullKeyAndTombstoneAreKeptNotDropped() throws Exception {
        RawRequest r = read(null, null);
        assertThat(r.key).isNull();
        assertThat(r.value).isNull();
        assertThat(r.decodeError).isNull();
        assertThat(r.offset).isEqualTo(42L);
    }

    @Test
    void invalidUtf8IsFlaggedAndDecodedLossily() throws Exception {
        RawRequest v = read(utf8("k"), new byte[] {'h', 't', (byte) 0xC3, (byte) 0x28});
        assertThat(v.decodeError).isEqualTo("invalid UTF-8 in record value");
        assertThat(v.value).startsWith("ht").contains("\uFFFD");

        RawRequest k = read(new byte[] {(byte) 0xFF}, utf8("http://h/"));
        assertThat(k.decodeError).isEqualTo("invalid UTF-8 in record key");
        assertThat(k.value).isEqualTo("http://h/");
    }

    @Test
    void producesAPojoType() {
        assertThat(deserializer.getProducedType()).isInstanceOf(PojoTypeInfo.class);
        assertThat(deserializer.getProducedType().getTypeClass()).isEqualTo(RawRequest.class);
    }
}
