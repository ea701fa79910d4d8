package io.flowget.udf.parse;

import io.flowget.udf.json.Json;
import io.flowget.udf.model.Bounded;
import io.flowget.udf.model.DeadLetter;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.RawRequest;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Records that would not fit Kafka's record limit are never produced from hostile input (issue 12): a 600 KB record
 * key never becomes an id, on any rejection path; a dead letter carries a bounded prefix of the raw value with the
 * whole value's length and SHA-256; errors are capped.
 */
class HostileInputTest {
    private final RequestParser parser = new RequestParser();

    @Test
    void anOversizedOrControlCharacterKeyIsNeverAnId() {
        String hugeKey = "k".repeat(600_000);
        for (String value : new String[] {null, " ", "{bad json", "[1]", "x".repeat(RequestParser.MAX_EVENT_CHARS + 1),
                "http://example.org/a", "{\"url\":\"http://example.org/a\"}"}) {
            assertThat(parser.parse(hugeKey, value).id()).as("value %s", value == null ? null : value.length())
                    .hasSizeLessThanOrEqualTo(RequestParser.MAX_ID_CHARS);
            assertThat(parser.parse("a\u0001b", value).id()).doesNotContain("\u0001");
        }
        assertThat(parser.parse(hugeKey, "{bad json").id()).isEqualTo(RequestParser.UNKNOWN_ID);
        assertThat(RequestParser.idOfKey(hugeKey)).isEqualTo(RequestParser.UNKNOWN_ID);
        assertThat(RequestParser.idOfKey("fine")).isEqualTo("fine");
    }

    @Test
    void aDeadLetterOfAOneMebibyteEventOfControlCharactersStaysSmall() {
        String value = "\u0001".repeat(1 << 20);
        RawRequest raw = new RawRequest("k".repeat(600_000), value, "requests", 0, 7L);
        ParseOutcome outcome = parser.parse(raw.key, raw.value);

        DeadLetter d = DeadLetter.of(raw, outcome.id(), outcome.reason(), 0L);
        byte[] json = Json.toJsonBytes(d);
        FetchResult result = outcome.toFailedResult();

        assertThat(json.length).as("dead-letter record bytes").isLessThan(64 * 1024);
        assertThat(d.valueLength).isEqualTo(1L << 20);
        assertThat(d.valueSha256).isEqualTo(Bounded.sha256(value));
        assertThat(d.value).hasSizeLessThanOrEqualTo(Bounded.MAX_DEAD_LETTER_VALUE_CHARS);
        assertThat(d.key).hasSizeLessThanOrEqualTo(Bounded.MAX_DEAD_LETTER_VALUE_CHARS);
        assertThat(Json.toJson(result).getBytes(StandardCharsets.UTF_8).length).as("result record bytes").isLessThan(64 * 1024);
        assertThat(result.id).as("the url-line hash, never the key").hasSize(32);
    }

    @Test
    void errorsAreCapped() {
        FetchResult r = FetchResult.failed("id", null, "e".repeat(100_000));
        assertThat(r.error).hasSize(Bounded.MAX_ERROR_CHARS).endsWith("more characters)");
        assertThat(Bounded.text("short", 10)).isEqualTo("short");
        assertThat(Bounded.text(null, 10)).isNull();
    }
}
