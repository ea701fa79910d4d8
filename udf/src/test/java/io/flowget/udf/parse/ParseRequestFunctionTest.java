package io.flowget.udf.parse;

import io.flowget.udf.model.DeadLetter;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.RawRequest;
import io.flowget.udf.model.ResultStatus;

import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.OneInputStreamOperatorTestHarness;
import org.apache.flink.streaming.util.ProcessFunctionTestHarnesses;
import org.apache.flink.util.InstantiationUtil;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/** The parse step in Flink's ProcessFunction harness: main output, both side outputs, never an exception. */
class ParseRequestFunctionTest {
    private static final Instant NOW = Instant.parse("2026-11-28T10:00:00Z");

    private OneInputStreamOperatorTestHarness<RawRequest, FetchRequest> harness;

    @BeforeEach
    void open() throws Exception {
        ParseRequestFunction fn = new ParseRequestFunction(new RequestParser(), Clock.fixed(NOW, ZoneOffset.UTC));
        // Flink ships the function serialised; a copy proves it survives that.
        harness = ProcessFunctionTestHarnesses.forProcessFunction(InstantiationUtil.clone(fn));
    }

    @AfterEach
    void close() throws Exception {
        harness.close();
    }

    @Test
    void validEventGoesToTheMainOutputOnly() throws Exception {
        harness.processElement(new RawRequest("k1", "http://example.com/a.txt", "requests", 0, 5L), 1L);
        assertThat(harness.extractOutputValues())
                .singleElement()
                .satisfies(
                        r -> {
                            assertThat(r.id).isEqualTo("k1");
                            assertThat(r.host).isEqualTo("example.com");
                            assertThat(r.path).isEqualTo("example.com/a.txt");
                        });
        assertThat(harness.getSideOutput(ParseRequestFunction.FAILED)).isNull();
        assertThat(harness.getSideOutput(ParseRequestFunction.DEAD_LETTERS)).isNull();
    }

    @Test
    void everyMalformedEventGivesExactlyOneFailedResultAndOneDeadLetter() throws Exception {
        List<RawRequest> bad =
                List.of(
                        new RawRequest(null, "{bad json", "requests", 2, 10L),
                        new RawRequest(null, "{}", "requests", 2, 11L),
                        new RawRequest("k3", "{\"url\":\"ftp://x/y\"}", "requests", 2, 12L),
                        new RawRequest(null, "{\"url\":\"javascript:alert(1)\"}", "requests", 2, 13L),
                        new RawRequest("k5", null, "requests", 2, 14L),
                        new RawRequest(null, "   ", null, null, null));
        long ts = 0;
        for (RawRequest r : bad) {
            harness.processElement(r, ++ts);
        }
        harness.processElement(new RawRequest(null, "https://h/ok"), ++ts);

        assertThat(harness.extractOutputValues()).extracting(r -> r.url).containsExactly("https://h/ok");

        List<FetchResult> failed = values(harness.getSideOutput(ParseRequestFunction.FAILED));
        List<DeadLetter> dead = values(harness.getSideOutput(ParseRequestFunction.DEAD_LETTERS));
        assertThat(failed).hasSize(bad.size());
        assertThat(dead).hasSize(bad.size());
        assertThat(failed).allSatisfy(f -> assertThat(f.status).isEqualTo(ResultStatus.FAILED));
        assertThat(failed)
                .extracting(f -> f.error)
                .containsExactly(
                        "malformed JSON: Unexpected character ('b' (code 98)): was expecting double-quote to start"
                                + " field name at line 1, column 2",
                        "missing url",
                        "unsupported URL scheme 'ftp'",
                        "unsupported URL scheme 'javascript'",
                        "empty request",
                        "empty request");
        for (int i = 0; i < bad.size(); i++) {
            FetchResult f = failed.get(i);
            DeadLetter d = dead.get(i);
            RawRequest raw = bad.get(i);
            assertThat(d.id).isEqualTo(f.id);
            assertThat(d.reason).isEqualTo(f.error);
            assertThat(d.value).isEqualTo(raw.value);
            assertThat(d.key).isEqualTo(raw.key);
            assertThat(d.topic).isEqualTo(raw.topic);
            assertThat(d.partition).isEqualTo(raw.partition);
            assertThat(d.offset).isEqualTo(raw.offset);
            assertThat(d.time).isEqualTo(NOW.toEpochMilli());
        }
        assertThat(failed)
                .extracting(f -> f.id)
                .containsExactly(
                        "unknown", "unknown", "k3", RequestParser.hashId("javascript:alert(1)"), "k5", "unknown");
        assertThat(failed.get(2).url).isEqualTo("ftp://x/y");
    }

    @Test
    void undecodableRecordIsRejectedWithTheDecodeError() throws Exception {
        RawRequest raw = new RawRequest(null, "{\"id\":\"x1\",\"url\":\"http://h/\uFFFD\"}", "requests", 0, 1L);
        raw.decodeError = "invalid UTF-8 in record value";
        harness.processElement(raw, 1L);
        assertThat(harness.extractOutputValues()).isEmpty();
        FetchResult f = values(harness.getSideOutput(ParseRequestFunction.FAILED)).get(0);
        assertThat(f.id).isEqualTo("x1");
        assertThat(f.error).isEqualTo("invalid UTF-8 in record value");
        assertThat(values(harness.getSideOutput(ParseRequestFunction.DEAD_LETTERS))).hasSize(1);
    }

    @Test
    void aBatchOfRandomGarbageNeverThrows() throws Exception {
        Random random = new Random(7);
        String alphabet = "\"{}[]:,\\/%.@#?ab \u0000\n\u00e9\uD800";
        int n = 300;
        for (int i = 0; i < n; i++) {
            StringBuilder sb = new StringBuilder(random.nextBoolean() ? "{" : "http://");
            int len = random.nextInt(60);
            for (int j = 0; j < len; j++) {
                sb.append(alphabet.charAt(random.nextInt(alphabet.length())));
            }
            harness.processElement(new RawRequest(random.nextBoolean() ? "k" + i : null, sb.toString()), i);
        }
        int ok = harness.extractOutputValues().size();
        int failed = values(harness.getSideOutput(ParseRequestFunction.FAILED)).size();
        int dead = values(harness.getSideOutput(ParseRequestFunction.DEAD_LETTERS)).size();
        assertThat(ok + failed).isEqualTo(n);
        assertThat(dead).isEqualTo(failed);
        assertThat(failed).isPositive();
    }

    private static <T> List<T> values(Queue<StreamRecord<T>> q) {
        List<T> out = new ArrayList<>();
        if (q != null) {
            q.forEach(r -> out.add(r.getValue()));
        }
        return out;
    }
}
