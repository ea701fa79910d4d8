package io.flowget.udf.json;

import io.flowget.udf.model.DeadLetter;
import io.flowget.udf.model.FetchResult;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.format.DateTimeParseException;

/**
 * The one JSON configuration of flowget, and the JSON forms of its events.
 *
 * <ul>
 *   <li>Reading is strict where ambiguity could hide an attack or a typo: a duplicate field
 *       ({@code {"url":"a","url":"b"}}) and trailing content after the object are errors; nesting is limited
 *       to {@value #MAX_NESTING_DEPTH} levels (events are flat). Unknown fields are ignored, as the contract
 *       says.
 *   <li>A result is one JSON object on one line (JSON escapes every control character inside strings), with
 *       the contract's snake_case names and absent values left out: {@link #toJson(FetchResult)},
 *       {@link #toJsonLine(FetchResult)}, {@link #resultFromJson(String)}.
 *   <li>A dead letter is {@code {"id","reason","key","topic","partition","offset","time","value","value_length",
 *       "value_sha256"}} ({@code value} a bounded prefix of the raw value, the last two of the whole), with
 *       {@code time} as an RFC 3339 UTC timestamp and absent values left out: {@link #toJson(DeadLetter)},
 *       {@link #deadLetterFromJson(String)}.
 * </ul>
 *
 * <p>The mapper is configured once here and only shared through immutable {@link ObjectReader} and
 * {@link ObjectWriter}s, so every use is thread-safe and nobody can reconfigure it for everybody else.
 */
public final class Json {
    /** Deepest nesting accepted when reading. */
    public static final int MAX_NESTING_DEPTH = 32;

    private static final ObjectMapper MAPPER =
            JsonMapper.builder(
                            JsonFactory.builder()
                                    .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
                                    .streamReadConstraints(
                                            StreamReadConstraints.builder()
                                                    .maxNestingDepth(MAX_NESTING_DEPTH)
                                                    .build())
                                    .build())
                    .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
                    .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
                    .build();

    private static final ObjectReader READER = MAPPER.reader();
    private static final ObjectReader RESULT_READER = MAPPER.readerFor(FetchResult.class);
    private static final ObjectWriter WRITER = MAPPER.writer();

    private Json() {}

    /** A reader with flowget's settings (thread-safe, immutable). */
    public static ObjectReader reader() {
        return READER;
    }

    /** A writer with flowget's settings (thread-safe, immutable). */
    public static ObjectWriter writer() {
        return WRITER;
    }

    /** Parses one JSON document strictly (see class Javadoc). */
    public static JsonNode readTree(String json) throws JsonProcessingException {
        return READER.readTree(json);
    }

    /** A result as one JSON object, no line break. */
    public static String toJson(FetchResult result) {
        try {
            return WRITER.writeValueAsString(result);
        } catch (JsonProcessingException e) {
            // Only strings, numbers and an enum: cannot fail short of a bug.
            throw new IllegalStateException("cannot write result " + result, e);
        }
    }

    /** A result as one JSON Lines line, ending in {@code \n}. */
    public static String toJsonLine(FetchResult result) {
        return toJson(result) + '\n';
    }

    /** UTF-8 bytes of {@link #toJson(FetchResult)}. */
    public static byte[] toJsonBytes(FetchResult result) {
        return toJson(result).getBytes(StandardCharsets.UTF_8);
    }

    /** Reads a result line (surrounding white space and the line break are ignored). */
    public static FetchResult resultFromJson(String line) throws JsonProcessingException {
        return RESULT_READER.readValue(line.strip());
    }

    /** A dead letter as one JSON object, no line break. */
    public static String toJson(DeadLetter d) {
        ObjectNode n = MAPPER.createObjectNode();
        putIfNotNull(n, "id", d.id);
        putIfNotNull(n, "reason", d.reason);
        putIfNotNull(n, "key", d.key);
        putIfNotNull(n, "topic", d.topic);
        if (d.partition != null) {
            n.put("partition", d.partition);
        }
        if (d.offset != null) {
            n.put("offset", d.offset);
        }
        if (d.time != null) {
            n.put("time", Instant.ofEpochMilli(d.time).toString());
        }
        putIfNotNull(n, "value", d.value);
        if (d.valueLength != null) {
            n.put("value_length", d.valueLength);
        }
        putIfNotNull(n, "value_sha256", d.valueSha256);
        try {
            return WRITER.writeValueAsString(n);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write dead letter " + d, e);
        }
    }

    /** UTF-8 bytes of {@link #toJson(DeadLetter)}. */
    public static byte[] toJsonBytes(DeadLetter d) {
        return toJson(d).getBytes(StandardCharsets.UTF_8);
    }

    /** Reads what {@link #toJson(DeadLetter)} wrote. */
    public static DeadLetter deadLetterFromJson(String json) throws JsonProcessingException {
        JsonNode n = READER.readTree(json.strip());
        if (n == null || !n.isObject()) {
            throw new JsonMappingFailure("dead letter must be a JSON object");
        }
        DeadLetter d = new DeadLetter();
        d.id = text(n, "id");
        d.reason = text(n, "reason");
        d.key = text(n, "key");
        d.topic = text(n, "topic");
        d.partition = n.hasNonNull("partition") ? n.get("partition").asInt() : null;
        d.offset = n.hasNonNull("offset") ? n.get("offset").asLong() : null;
        String time = text(n, "time");
        if (time != null) {
            try {
                d.time = Instant.parse(time).toEpochMilli();
            } catch (DateTimeParseException e) {
                throw new JsonMappingFailure("dead letter time is not an RFC 3339 instant: " + time);
            }
        }
        d.value = text(n, "value");
        d.valueLength = n.hasNonNull("value_length") ? n.get("value_length").asLong() : null;
        d.valueSha256 = text(n, "value_sha256");
        return d;
    }

    private static void putIfNotNull(ObjectNode n, String field, String value) {
        if (value != null) {
            n.put(field, value);
        }
    }

    private static String text(JsonNode n, String field) {
        JsonNode v = n.get(field);
        return v == null || v.isNull() ? null : v.asText();
    }

    /** A JSON document that parsed but does not have the expected shape. */
    private static final class JsonMappingFailure extends JsonProcessingException {
        private static final long serialVersionUID = 1L;

        JsonMappingFailure(String msg) {
            super(msg);
        }
    }
}
