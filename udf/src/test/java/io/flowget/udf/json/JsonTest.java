package io.flowget.udf.json;

import io.flowget.udf.model.DeadLetter;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.RawRequest;
import io.flowget.udf.model.ResultStatus;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class JsonTest {

    private static FetchResult fullResult() {
        FetchResult r = new FetchResult();
        r.id = "id-1";
        r.url = "https://h/a?b=1";
        r.status = ResultStatus.OK;
        r.httpStatus = 206;
        r.bytes = 1234L;
        r.sha256 = "ab".repeat(32);
        r.path = "h/a~0123456789";
        r.contentEncoding = "gzip";
        r.attempts = 2;
        r.elapsedMs = 55L;
        return r;
    }

    @Test
    void resultUsesTheContractFieldNamesInOrder() throws Exception {
        String json = Json.toJson(fullResult());
        assertThat(json)
                .isEqualTo(
                        "{\"id\":\"id-1\",\"url\":\"https://h/a?b=1\",\"status\":\"OK\",\"http_status\":206,"
                                + "\"bytes\":1234,\"sha256\":\"" + "ab".repeat(32) + "\",\"path\":\"h/a~0123456789\","
                                + "\"content_encoding\":\"gzip\",\"attempts\":2,\"elapsed_ms\":55}");
        assertThat(Json.resultFromJson(json)).isEqualTo(fullResult());
    }

    @Test
    void blake3FollowsSha256WhenPresent() throws Exception {
        FetchResult r = fullResult();
        r.status = ResultStatus.NOT_MODIFIED;
        r.blake3 = "cd".repeat(32);
        String json = Json.toJson(r);
        assertThat(json)
                .contains("\"status\":\"NOT_MODIFIED\"")
                .contains("\"sha256\":\"" + "ab".repeat(32) + "\",\"blake3\":\"" + "cd".repeat(32) + "\",\"path\"");
        assertThat(Json.resultFromJson(json)).isEqualTo(r);
        assertThat(Json.resultFromJson(json).blake3).isEqualTo(r.blake3);
    }

    @Test
    void failedResultLeavesAbsentFieldsOut() throws Exception {
        FetchResult f = FetchResult.failed("unknown", null, "malformed JSON: x");
        String json = Json.toJson(f);
        assertThat(json)
                .isEqualTo(
                        "{\"id\":\"unknown\",\"status\":\"FAILED\",\"attempts\":0,\"error\":\"malformed JSON: x\","
                                + "\"elapsed_ms\":0}");
        assertThat(Json.resultFromJson(json + "\r\n")).isEqualTo(f);
    }

    @Test
    void jsonLineIsExactlyOneLineWhateverTheStrings() throws Exception {
        FetchResult f = FetchResult.failed("a\nb", "http://h/\r\n", "bad \u2028 \u0000 \"quoted\" \\ \t");
        String line = Json.toJsonLine(f);
        assertThat(line).endsWith("\n");
        assertThat(line.substring(0, line.length() - 1)).doesNotContain("\n").doesNotContain("\r");
        assertThat(Json.resultFromJson(line)).isEqualTo(f);
        assertThat(new String(Json.toJsonBytes(f), StandardCharsets.UTF_8)).isEqualTo(Json.toJson(f));
    }

    @Test
    void readingIgnoresUnknownFieldsButNotDuplicates() throws Exception {
        assertThat(Json.resultFromJson("{\"id\":\"x\",\"status\":\"OK\",\"new_field\":[1,2]}").id).isEqualTo("x");
        assertThatThrownBy(() -> Json.readTree("{\"a\":1,\"a\":2}"))
                .isInstanceOf(JsonProcessingException.class)
                .hasMessageContaining("Duplicate field 'a'");
        assertThatThrownBy(() -> Json.readTree("{\"a\":1} {\"b\":2}")).isInstanceOf(JsonProcessingException.class);
        assertThatThrownBy(() -> Json.readTree("[".repeat(Json.MAX_NESTING_DEPTH + 1)))
                .isInstanceOf(JsonProcessingException.class)
                .hasMessageContaining("nesting depth");
        JsonNode n = Json.readTree("{\"a\":{\"b\":[1]}}");
        assertThat(n.at("/a/b/0").asInt()).isEqualTo(1);
    }

    @Test
    void deadLetterRoundTrip() throws Exception {
        RawRequest raw = new RawRequest("k", "{bad json\n", "requests", 3, 99L);
        DeadLetter d = DeadLetter.of(raw, "k", "malformed JSON: ...", 1_764_324_000_123L);
        String json = Json.toJson(d);
        assertThat(json)
                .isEqualTo(
                        "{\"id\":\"k\",\"reason\":\"malformed JSON: ...\",\"key\":\"k\",\"topic\":\"requests\","
                                + "\"partition\":3,\"offset\":99,\"time\":\"2025-11-28T10:00:00.123Z\","
                                + "\"value\":\"{bad json\\n\",\"value_length\":10,"
                                + "\"value_sha256\":\"abb4c7ff7d9dcf23a49d2dbc6449966a4457f797e7f1af7eb01892cb66c66479\"}");
        assertThat(Json.deadLetterFromJson(json)).isEqualTo(d);

        DeadLetter sparse = DeadLetter.of(new RawRequest(null, null), "unknown", "empty request", 0L);
        assertThat(Json.toJson(sparse))
                .isEqualTo("{\"id\":\"unknown\",\"reason\":\"empty request\",\"time\":\"1970-01-01T00:00:00Z\"}");
        assertThat(Json.deadLetterFromJson(Json.toJson(sparse))).isEqualTo(sparse);
        assertThatThrownBy(() -> Json.deadLetterFromJson("[1]")).isInstanceOf(JsonProcessingException.class);
        assertThatThrownBy(() -> Json.deadLetterFromJson("{\"time\":\"yesterday\"}"))
                .isInstanceOf(JsonProcessingException.class);
    }

    @Test
    void serializationSchemasWriteTheSameJson() {
        FetchResult r = fullResult();
        assertThat(new String(new FetchResultSerializationSchema().serialize(r), StandardCharsets.UTF_8))
                .isEqualTo(Json.toJson(r));
        DeadLetter d = DeadLetter.of(new RawRequest("k", "x"), "k", "why", 1L);
        assertThat(new String(new DeadLetterSerializationSchema().serialize(d), StandardCharsets.UTF_8))
                .isEqualTo(Json.toJson(d));
    }

    @Test
    void sharedMapperIsSafeToUseFromManyThreads() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<Boolean>> futures = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                final int thread = t;
                futures.add(
                        pool.submit(
                                () -> {
                                    for (int i = 0; i < 500; i++) {
                                        FetchResult r = fullResult();
                                        r.id = thread + "-" + i;
                                        if (!Json.resultFromJson(Json.toJson(r)).equals(r)) {
                                            return false;
                                        }
                                    }
                                    return true;
                                }));
            }
            for (Future<Boolean> f : futures) {
                assertThat(f.get(60, TimeUnit.SECONDS)).isTrue();
            }
        } finally {
            pool.shutdownNow();
        }
    }
}
