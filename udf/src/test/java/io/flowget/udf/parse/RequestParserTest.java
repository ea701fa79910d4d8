package io.flowget.udf.parse;

import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.HexFormat;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class RequestParserTest {

    private final RequestParser parser = new RequestParser();

    // ---- the cases named in the contract ---------------------------------------------------------

    @Test
    void malformedJson() {
        ParseOutcome o = parser.parse(null, "{bad json");
        assertThat(o.isOk()).isFalse();
        assertThat(o.id()).isEqualTo("unknown");
        assertThat(o.url()).isNull();
        assertThat(o.reason()).startsWith("malformed JSON: Unexpected character ('b'").endsWith("at line 1, column 2");
        // With a record key, the key is the id to report.
        assertThat(parser.parse("line-7", "{bad json").id()).isEqualTo("line-7");
    }

    @Test
    void emptyObjectHasNoUrl() {
        ParseOutcome o = parser.parse(null, "{}");
        assertThat(o.isOk()).isFalse();
        assertThat(o.reason()).isEqualTo("missing url");
        assertThat(o.id()).isEqualTo("unknown");
        FetchResult r = o.toFailedResult();
        assertThat(r.status).isEqualTo(ResultStatus.FAILED);
        assertThat(r.error).isEqualTo("missing url");
        assertThat(r.id).isEqualTo("unknown");
        assertThat(r.url).isNull();
        assertThat(r.attempts).isZero();
    }

    @Test
    void ftpUrlIsUnsupported() {
        ParseOutcome o = parser.parse(null, "{\"url\":\"ftp://x/y\"}");
        assertThat(o.reason()).isEqualTo("unsupported URL scheme 'ftp'");
        assertThat(o.url()).isEqualTo("ftp://x/y");
        assertThat(o.id()).isEqualTo(sha256Prefix("ftp://x/y"));
    }

    @Test
    void javascriptUrlIsUnsupported() {
        ParseOutcome o = parser.parse("k1", "{\"url\":\"javascript:alert(1)\"}");
        assertThat(o.reason()).isEqualTo("unsupported URL scheme 'javascript'");
        assertThat(o.id()).isEqualTo("k1");
        assertThat(o.url()).isEqualTo("javascript:alert(1)");
    }

    @Test
    void bareUrlLine() {
        ParseOutcome o = parser.parse(null, "  https://Example.com:443/files/a.txt?v=2#top \r\n");
        assertThat(o.isOk()).isTrue();
        FetchRequest r = o.request();
        assertThat(r.url).isEqualTo("https://example.com/files/a.txt?v=2");
        assertThat(r.host).isEqualTo("example.com");
        assertThat(r.path).matches("example\\.com/files/a~[0-9a-f]{10}\\.txt");
        assertThat(r.id).isEqualTo(sha256Prefix("https://Example.com:443/files/a.txt?v=2#top"));
        assertThat(r.sha256).isNull();
        assertThat(r.maxBytes).isNull();
        assertThat(r.headers).isNull();
        assertThat(r.deadline).isNull();
        // The record key, when there is one, is the id.
        assertThat(parser.parse("run-0001", "http://h/x").request().id).isEqualTo("run-0001");
    }

    @Test
    void jsonLineWithEveryField() {
        String event =
                "{\"id\":\"req-42\",\"url\":\"http://[::1]:8080/d/f.bin\",\"path\":\"./out//f.bin\","
                        + "\"sha256\":\"" + "AB".repeat(32) + "\",\"max_bytes\":1048576,"
                        + "\"headers\":{\"Authorization\":\"Bearer t\",\"X-Trace\":\"  1 \","
                        + "\"Connection\":\"close\",\"Accept-Encoding\":\"gzip\",\"Proxy-Authorization\":\"x\"},"
                        + "\"deadline\":\"2026-01-02T03:04:05.250+01:00\",\"priority\":7,\"extra\":{\"a\":[1]}}";
        ParseOutcome o = parser.parse("ignored-key", event);
        assertThat(o.isOk()).as(o.toString()).isTrue();
        FetchRequest r = o.request();
        assertThat(r.id).isEqualTo("req-42");
        assertThat(r.url).isEqualTo("http://[::1]:8080/d/f.bin");
        assertThat(r.host).isEqualTo("::1");
        assertThat(r.path).isEqualTo("out/f.bin");
        assertThat(r.sha256).isEqualTo("ab".repeat(32));
        assertThat(r.maxBytes).isEqualTo(1_048_576L);
        assertThat(r.headers).containsExactly(Map.entry("Authorization", "Bearer t"), Map.entry("X-Trace", "1"));
        assertThat(r.deadline).isEqualTo(Instant.parse("2026-01-02T02:04:05.250Z").toEpochMilli());
    }

    // ---- input shapes ----------------------------------------------------------------------------

    @ParameterizedTest
    @ValueSource(strings = {"", "   ", "\r\n", "\uFEFF"})
    void blankValueIsAnEmptyRequest(String value) {
        ParseOutcome o = parser.parse("k", value);
        assertThat(o.reason()).isEqualTo("empty request");
        assertThat(o.id()).isEqualTo("k");
        assertThat(parser.parse(null, null).reason()).isEqualTo("empty request");
        assertThat(parser.parse(null, null).id()).isEqualTo("unknown");
    }

    @Test
    void byteOrderMarkIsIgnored() {
        assertThat(parser.parse(null, "\uFEFF{\"url\":\"http://h/\"}").isOk()).isTrue();
        assertThat(parser.parse(null, "\uFEFFhttp://h/").isOk()).isTrue();
    }

    @Test
    void jsonThatIsNotARequestObject() {
        assertThat(parser.parse(null, "{\"url\":\"http://h/\"} trailing").reason()).startsWith("malformed JSON: ");
        assertThat(parser.parse(null, "{\"url\":\"http://h/a\",\"url\":\"http://evil/\"}").reason())
                .startsWith("malformed JSON: Duplicate field 'url'");
        assertThat(parser.parse(null, "{\"url\":").reason()).startsWith("malformed JSON: Unexpected end-of-input");
        String deep = "{\"a\":".repeat(100) + "1" + "}".repeat(100);
        assertThat(parser.parse(null, deep).reason()).startsWith("malformed JSON: ").contains("nesting depth");
        // Anything not starting with '{' is a URL line, so a JSON array or string is a (relative) URL.
        assertThat(parser.parse(null, "[\"http://h/\"]").reason()).startsWith("relative URL");
    }

    @Test
    void malformedJsonReasonIsOneShortLine() {
        ParseOutcome o = parser.parse(null, "{\"url\":\"http://h/\n\"}");
        assertThat(o.reason()).startsWith("malformed JSON: ").doesNotContain("\n").hasSizeLessThan(300);
    }

    @Test
    void oversizedEventIsRejectedBeforeParsing() {
        String huge = "{\"url\":\"http://h/\",\"pad\":\"" + "x".repeat(RequestParser.MAX_EVENT_CHARS) + "\"}";
        assertThat(parser.parse("k", huge).reason()).isEqualTo("request too large (over 1048576 characters)");
    }

    // ---- url ------------------------------------------------------------------------------------

    @ParameterizedTest(name = "[{index}] {0}")
    @CsvSource(
            delimiter = '|',
            quoteCharacter = '`',
            value = {
                "{\"url\":null}                     | missing url",
                "{\"url\":\"  \"}                   | missing url",
                "{\"url\":42}                       | invalid url: must be a string",
                "{\"url\":[\"http://h/\"]}          | invalid url: must be a string",
                "{\"url\":\"file:///etc/passwd\"}   | unsupported URL scheme 'file'",
                "{\"url\":\"data:text/plain,x\"}    | unsupported URL scheme 'data'",
                "{\"url\":\"/just/a/path\"}         | relative URL (expected http:// or https://)",
                "{\"url\":\"http:///nohost\"}       | missing host",
                "{\"url\":\"http://h/a\\r\\nX: y\"} | invalid URL: control character at index 10",
                "ftp://x/y                          | unsupported URL scheme 'ftp'",
                "javascript:alert(1)                | unsupported URL scheme 'javascript'",
                "not a url                          | relative URL (expected http:// or https://)",
            })
    void badUrls(String value, String reason) {
        assertThat(parser.parse(null, value).reason()).isEqualTo(reason);
    }

    @Test
    void passwordInUrlIsRejectedAndMaskedInTheResult() {
        ParseOutcome o = parser.parse(null, "{\"url\":\"https://alice:s3cret@example.com/x\"}");
        assertThat(o.reason()).startsWith("unsupported user info in URL");
        assertThat(o.url()).isEqualTo("https://***@example.com/x").doesNotContain("s3cret");
        assertThat(o.toFailedResult().url).doesNotContain("s3cret");
        assertThat(parser.parse(null, "https://alice:s3cret@example.com/x").url()).doesNotContain("s3cret");
    }

    @Test
    void overLongUrlIsRejectedAndEchoedCut() {
        String url = "http://h/" + "a".repeat(20_000);
        ParseOutcome o = parser.parse(null, "{\"url\":\"" + url + "\"}");
        assertThat(o.reason()).isEqualTo("URL too long (over 8192 characters)");
        assertThat(o.url()).hasSize(8192);
        assertThat(o.id()).isEqualTo(sha256Prefix(url));
    }

    // ---- id -------------------------------------------------------------------------------------

    @Test
    void idDefaultsAndPrecedence() {
        String url = "http://h/x";
        assertThat(parser.parse(null, "{\"url\":\"" + url + "\"}").id()).isEqualTo(sha256Prefix(url));
        assertThat(parser.parse("key", "{\"url\":\"" + url + "\"}").id()).isEqualTo("key");
        assertThat(parser.parse("key", "{\"url\":\"" + url + "\",\"id\":\"mine\"}").id()).isEqualTo("mine");
        assertThat(parser.parse("  ", "{\"url\":\"" + url + "\"}").id()).isEqualTo(sha256Prefix(url));
        assertThat(parser.parse(null, "{\"url\":\"" + url + "\",\"id\":17}").id()).isEqualTo("17");
        // The same url as a JSON event and as a line gets the same stable id.
        assertThat(parser.parse(null, url).id()).isEqualTo(sha256Prefix(url)).hasSize(32);
        // Stable: parsing twice gives the same id; a different url a different one.
        assertThat(parser.parse(null, url).id()).isEqualTo(parser.parse(null, url).id());
        assertThat(parser.parse(null, url + "y").id()).isNotEqualTo(parser.parse(null, url).id());
    }

    @Test
    void rejectionCarriesTheEventIdWhenItIsValid() {
        ParseOutcome o = parser.parse("key", "{\"id\":\"mine\",\"url\":\"ftp://x/\"}");
        assertThat(o.id()).isEqualTo("mine");
        assertThat(o.reason()).isEqualTo("unsupported URL scheme 'ftp'");
    }

    @Test
    void invalidIds() {
        assertThat(parser.parse("key", "{\"url\":\"http://h/\",\"id\":{}}").reason())
                .isEqualTo("invalid id: must be a string");
        assertThat(parser.parse("key", "{\"url\":\"http://h/\",\"id\":{}}").id()).isEqualTo("key");
        assertThat(parser.parse(null, "{\"url\":\"http://h/\",\"id\":1.5}").reason())
                .isEqualTo("invalid id: must be a string");
        assertThat(parser.parse(null, "{\"url\":\"http://h/\",\"id\":\"\"}").reason()).isEqualTo("invalid id: empty");
        assertThat(parser.parse(null, "{\"url\":\"http://h/\",\"id\":\"a\\nb\"}").reason())
                .isEqualTo("invalid id: control character");
        assertThat(parser.parse(null, "{\"url\":\"http://h/\",\"id\":\"" + "i".repeat(513) + "\"}").reason())
                .isEqualTo("invalid id: over 512 characters");
        assertThat(parser.parse("bad\u0000key", "http://h/").reason()).isEqualTo("invalid record key: control character");
        assertThat(parser.parse("bad\u0000key", "http://h/").id()).isEqualTo(sha256Prefix("http://h/"));
        // A valid event id makes a bad key irrelevant.
        assertThat(parser.parse("bad\u0000key", "{\"url\":\"http://h/\",\"id\":\"ok\"}").isOk()).isTrue();
        // JSON null is absent.
        assertThat(parser.parse("key", "{\"url\":\"http://h/\",\"id\":null}").id()).isEqualTo("key");
    }

    // ---- path -----------------------------------------------------------------------------------

    @Test
    void defaultPathComesFromTheUrl() {
        assertThat(parser.parse(null, "http://Example.com:8080/a/%2e%2e/b/").request().path)
                .isEqualTo("example.com_8080/a/b/index.html");
        assertThat(parser.parse(null, "http://h").request().path).isEqualTo("h/index.html");
        assertThat(parser.parse(null, "http://h/..%2f..%2fetc%2fpasswd").request().path).isEqualTo("h/_.._.._etc_passwd");
    }

    @ParameterizedTest(name = "[{index}] {0}")
    @CsvSource(
            delimiter = '|',
            quoteCharacter = '"',
            value = {
                "/etc/passwd  | invalid path: absolute",
                "../x         | invalid path: '..' segment",
                "a/../../x    | invalid path: '..' segment",
                "a\\u0000b    | invalid path: NUL",
                "''           | invalid path: empty",
            })
    void explicitPathIsValidated(String path, String reason) {
        String jsonPath = path.equals("''") ? "" : path;
        ParseOutcome o = parser.parse("k", "{\"url\":\"http://h/x\",\"path\":\"" + jsonPath + "\"}");
        assertThat(o.reason()).isEqualTo(reason);
        assertThat(o.url()).isEqualTo("http://h/x");
        assertThat(o.id()).isEqualTo("k");
    }

    @Test
    void nonStringPathIsRejected() {
        assertThat(parser.parse(null, "{\"url\":\"http://h/x\",\"path\":7}").reason())
                .isEqualTo("invalid path: must be a string");
    }

    // ---- sha256, max_bytes, deadline -------------------------------------------------------------

    @ParameterizedTest
    @ValueSource(
            strings = {
                "\"abc\"",
                "\"g000000000000000000000000000000000000000000000000000000000000000\"",
                "\"00000000000000000000000000000000000000000000000000000000000000000\"",
                "42",
                "true"
            })
    void invalidSha256(String json) {
        assertThat(parser.parse(null, "{\"url\":\"http://h/\",\"sha256\":" + json + "}").reason())
                .isEqualTo("invalid sha256: expected 64 hex digits");
    }

    @ParameterizedTest(name = "[{index}] {0}")
    @CsvSource(
            delimiter = '|',
            value = {
                "0       | 0",
                "12345   | 12345",
                "1e6     | 1000000",
                "2.0     | 2",
                "9223372036854775807 | 9223372036854775807",
            })
    void validMaxBytes(String json, long expected) {
        assertThat(parser.parse(null, "{\"url\":\"http://h/\",\"max_bytes\":" + json + "}").request().maxBytes)
                .isEqualTo(expected);
    }

    @ParameterizedTest(name = "[{index}] {0}")
    @CsvSource(
            delimiter = '|',
            value = {
                "-1                   | invalid max_bytes: negative",
                "1.5                  | invalid max_bytes: not an integer",
                "9223372036854775808  | invalid max_bytes: too large",
                "'\"100\"'            | invalid max_bytes: must be a non-negative integer",
                "true                 | invalid max_bytes: must be a non-negative integer",
            })
    void invalidMaxBytes(String json, String reason) {
        assertThat(parser.parse(null, "{\"url\":\"http://h/\",\"max_bytes\":" + json + "}").reason())
                .isEqualTo(reason);
    }

    @ParameterizedTest(name = "[{index}] {0}")
    @CsvSource(
            delimiter = '|',
            value = {
                "2026-01-02T03:04:05Z          | 2026-01-02T03:04:05Z",
                "2026-01-02t03:04:05z          | 2026-01-02T03:04:05Z",
                "2026-01-02 03:04:05Z          | 2026-01-02T03:04:05Z",
                "2026-01-02T03:04:05.123456Z   | 2026-01-02T03:04:05.123Z",
                "2026-01-02T03:04:05-05:30     | 2026-01-02T08:34:05Z",
                "1970-01-01T00:00:00Z          | 1970-01-01T00:00:00Z",
            })
    void validDeadlines(String deadline, String instant) {
        assertThat(parser.parse(null, "{\"url\":\"http://h/\",\"deadline\":\"" + deadline + "\"}").request().deadline)
                .isEqualTo(Instant.parse(instant).toEpochMilli());
    }

    @ParameterizedTest
    @ValueSource(strings = {"2026-01-02T03:04:05", "2026-01-02", "tomorrow", "2026-13-02T03:04:05Z", ""})
    void invalidDeadlines(String deadline) {
        assertThat(parser.parse(null, "{\"url\":\"http://h/\",\"deadline\":\"" + deadline + "\"}").reason())
                .startsWith("invalid deadline '" + deadline + "': expected RFC 3339");
    }

    @Test
    void numericDeadlineIsRejected() {
        assertThat(parser.parse(null, "{\"url\":\"http://h/\",\"deadline\":1700000000000}").reason())
                .isEqualTo("invalid deadline: must be an RFC 3339 string");
    }

    // ---- headers --------------------------------------------------------------------------------

    @Test
    void hopByHopAndClientOwnedHeadersAreDropped() {
        String headers =
                "{\"Connection\":\"x\",\"keep-alive\":\"x\",\"Proxy-Authorization\":\"x\",\"Proxy-Connection\":\"x\","
                        + "\"TE\":\"x\",\"Trailer\":\"x\",\"Transfer-Encoding\":\"x\",\"Upgrade\":\"x\",\"HOST\":\"x\","
                        + "\"Content-Length\":\"1\",\"Range\":\"bytes=0-1\",\"If-Range\":\"x\",\"Accept-Encoding\":\"x\","
                        + "\"Expect\":\"100-continue\",\"User-Agent\":\"me/1\",\"If-None-Match\":\"\\\"v1\\\"\","
                        + "\"Cookie\":\"a=b\"}";
        FetchRequest r = parser.parse(null, "{\"url\":\"http://h/\",\"headers\":" + headers + "}").request();
        assertThat(r.headers)
                .containsExactly(
                        Map.entry("User-Agent", "me/1"),
                        Map.entry("If-None-Match", "\"v1\""),
                        Map.entry("Cookie", "a=b"));
        // Only dropped headers, or none at all: no map.
        assertThat(parser.parse(null, "{\"url\":\"http://h/\",\"headers\":{\"Host\":\"x\"}}").request().headers).isNull();
        assertThat(parser.parse(null, "{\"url\":\"http://h/\",\"headers\":{}}").request().headers).isNull();
        assertThat(parser.parse(null, "{\"url\":\"http://h/\",\"headers\":null}").request().headers).isNull();
    }

    @ParameterizedTest(name = "[{index}] {0}")
    @CsvSource(
            delimiter = '|',
            quoteCharacter = '`',
            value = {
                "{\"X-A\":\"a\\r\\nX-Injected: 1\"}  | invalid header value for 'X-A': CR/LF",
                "{\"X-A\":\"a\\nb\"}                 | invalid header value for 'X-A': CR/LF",
                "{\"X-A\":\"a\\u0000b\"}             | invalid header value for 'X-A': control character",
                "{\"X-A\":\"\\u65e5\"}               | invalid header value for 'X-A': character beyond ISO-8859-1",
                "{\"X-A\":1}                         | invalid header value for 'X-A': must be a string",
                "{\"X-A\":null}                      | invalid header value for 'X-A': must be a string",
                "{\"X A\":\"v\"}                     | invalid header name 'X A'",
                "{\"X-A\\r\\nB\":\"v\"}              | invalid header name 'X-A\\u000d\\u000aB'",
                "{\"\":\"v\"}                        | invalid header name ''",
                "{\":authority\":\"v\"}              | invalid header name ':authority'",
                "{\"X-A\":\"1\",\"x-a\":\"2\"}       | invalid headers: 'x-a' given twice",
                "[\"X-A: 1\"]                        | invalid headers: must be an object",
                "\"X-A: 1\"                          | invalid headers: must be an object",
            })
    void invalidHeaders(String headers, String reason) {
        ParseOutcome o = parser.parse("k", "{\"url\":\"http://h/\",\"headers\":" + headers + "}");
        assertThat(o.reason()).isEqualTo(reason);
        assertThat(o.id()).isEqualTo("k");
    }

    @Test
    void headerLimits() {
        StringBuilder many = new StringBuilder("{");
        for (int i = 0; i <= RequestParser.MAX_HEADERS; i++) {
            many.append(i == 0 ? "" : ",").append("\"X-").append(i).append("\":\"v\"");
        }
        many.append('}');
        assertThat(parser.parse(null, "{\"url\":\"http://h/\",\"headers\":" + many + "}").reason())
                .isEqualTo("invalid headers: more than 64");
        String big = "v".repeat(RequestParser.MAX_HEADER_VALUE_CHARS + 1);
        assertThat(parser.parse(null, "{\"url\":\"http://h/\",\"headers\":{\"X\":\"" + big + "\"}}").reason())
                .isEqualTo("invalid header value for 'X': over 8192 characters");
        // Latin-1 and tabs are allowed.
        assertThat(parser.parse(null, "{\"url\":\"http://h/\",\"headers\":{\"X\":\"caf\u00e9\\tok\"}}").request().headers)
                .containsEntry("X", "caf\u00e9\tok");
    }

    @Test
    void firstProblemInContractOrderIsTheReason() {
        // Both url and sha256 are bad: url is checked first.
        assertThat(parser.parse(null, "{\"url\":\"ftp://x\",\"sha256\":\"zz\"}").reason()).startsWith("unsupported URL");
        // Both sha256 and deadline are bad: sha256 first.
        assertThat(parser.parse(null, "{\"url\":\"http://x/\",\"deadline\":\"no\",\"sha256\":\"zz\"}").reason())
                .startsWith("invalid sha256");
    }

    @Test
    void outcomeGuardsItsAccessors() {
        ParseOutcome ok = parser.parse(null, "http://h/");
        ParseOutcome bad = parser.parse(null, "{}");
        assertThatThrownBy(ok::toFailedResult).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(bad::request).isInstanceOf(IllegalStateException.class).hasMessageContaining("missing url");
        assertThat(ok.reason()).isNull();
        assertThat(ok.id()).isEqualTo(ok.request().id);
        assertThat(ok.url()).isEqualTo("http://h/");
    }

    private static String sha256Prefix(String s) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(d).substring(0, 32);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }
}
