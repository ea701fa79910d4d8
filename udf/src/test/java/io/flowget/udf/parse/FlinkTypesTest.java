package io.flowget.udf.parse;

import io.flowget.udf.model.DeadLetter;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.RawRequest;
import io.flowget.udf.model.ResultStatus;

import org.apache.flink.api.common.serialization.SerializerConfigImpl;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.java.typeutils.GenericTypeInfo;
import org.apache.flink.api.java.typeutils.MapTypeInfo;
import org.apache.flink.api.java.typeutils.PojoTypeInfo;
import org.apache.flink.api.java.typeutils.TypeExtractor;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The stream types must be Flink POJOs all the way down: a Kryo fallback would be slow, would break state
 * compatibility on any class change, and fails outright with {@code pipeline.generic-types: false}.
 */
class FlinkTypesTest {

    @Test
    void everyStreamTypeIsAPojoWithoutGenericTypesAnywhere() {
        for (Class<?> c : List.of(FetchRequest.class, FetchResult.class, RawRequest.class, DeadLetter.class)) {
            TypeInformation<?> info = TypeExtractor.createTypeInfo(c);
            assertThat(info).as(c.getSimpleName()).isInstanceOf(PojoTypeInfo.class);
            assertThat(genericTypesIn(info, c.getSimpleName())).as(c.getSimpleName()).isEmpty();
        }
    }

    /** Guards the check above against passing vacuously: a field Flink cannot analyse must be found. */
    @Test
    void detectorFindsAGenericField() {
        TypeInformation<?> info = TypeExtractor.createTypeInfo(WithGenericField.class);
        assertThat(genericTypesIn(info, "WithGenericField"))
                .singleElement(org.assertj.core.api.InstanceOfAssertFactories.STRING)
                .startsWith("WithGenericField.odd: ");
    }

    /** A POJO with a field that only Kryo could serialise. */
    public static class WithGenericField {
        public Object odd;
        public String fine;
    }

    @Test
    void headersMapIsAMapTypeInfoOfStrings() {
        PojoTypeInfo<FetchRequest> info = (PojoTypeInfo<FetchRequest>) TypeExtractor.createTypeInfo(FetchRequest.class);
        TypeInformation<?> headers = info.getPojoFieldAt(info.getFieldIndex("headers")).getTypeInformation();
        assertThat(headers).isInstanceOf(MapTypeInfo.class);
        assertThat(((MapTypeInfo<?, ?>) headers).getKeyTypeInfo().getTypeClass()).isEqualTo(String.class);
        assertThat(((MapTypeInfo<?, ?>) headers).getValueTypeInfo().getTypeClass()).isEqualTo(String.class);
    }

    @Test
    void serializersWorkWithGenericTypesDisabled() throws Exception {
        FetchRequest req = new FetchRequest("id-1", "https://example.com/a?b=c", "example.com", "example.com/a");
        req.sha256 = "ab".repeat(32);
        req.maxBytes = 1234L;
        Map<String, String> headers = new LinkedHashMap<>();
        headers.put("Authorization", "Bearer x");
        headers.put("X-Empty", "");
        req.headers = headers;
        req.deadline = 1_700_000_000_000L;
        assertThat(roundTrip(req, FetchRequest.class)).isEqualTo(req);
        assertThat(roundTrip(new FetchRequest("id-2", "http://h/", "h", "h/index.html"), FetchRequest.class))
                .isEqualTo(new FetchRequest("id-2", "http://h/", "h", "h/index.html"));

        FetchResult res = FetchResult.failed("id", "http://h/", "http 404");
        res.httpStatus = 404;
        res.status = ResultStatus.FAILED;
        assertThat(roundTrip(res, FetchResult.class)).isEqualTo(res);

        RawRequest raw = new RawRequest("k", "{\"url\":\"http://h/\"}", "requests", 3, 42L);
        raw.decodeError = "invalid UTF-8";
        assertThat(roundTrip(raw, RawRequest.class)).isEqualTo(raw);

        DeadLetter dl = DeadLetter.of(raw, "k", "missing url", 5L);
        assertThat(roundTrip(dl, DeadLetter.class)).isEqualTo(dl);
    }

    private static <T> T roundTrip(T value, Class<T> type) throws Exception {
        SerializerConfigImpl config = new SerializerConfigImpl();
        config.setGenericTypes(false); // creating a Kryo serializer now throws
        TypeSerializer<T> serializer = TypeExtractor.createTypeInfo(type).createSerializer(config);
        DataOutputSerializer out = new DataOutputSerializer(256);
        serializer.serialize(value, out);
        return serializer.deserialize(new DataInputDeserializer(out.getCopyOfBuffer()));
    }

    /** Paths of every GenericTypeInfo reachable from {@code info}. */
    private static List<String> genericTypesIn(TypeInformation<?> info, String path) {
        List<String> found = new ArrayList<>();
        if (info instanceof GenericTypeInfo) {
            found.add(path + ": " + info);
        }
        if (info instanceof PojoTypeInfo) {
            PojoTypeInfo<?> pojo = (PojoTypeInfo<?>) info;
            for (int i = 0; i < pojo.getArity(); i++) {
                found.addAll(
                        genericTypesIn(
                                pojo.getPojoFieldAt(i).getTypeInformation(),
                                path + "." + pojo.getPojoFieldAt(i).getField().getName()));
            }
        }
        if (info instanceof MapTypeInfo) {
            MapTypeInfo<?, ?> map = (MapTypeInfo<?, ?>) info;
            found.addAll(genericTypesIn(map.getKeyTypeInfo(), path + "<key>"));
            found.addAll(genericTypesIn(map.getValueTypeInfo(), path + "<value>"));
        }
        return found;
    }
}
