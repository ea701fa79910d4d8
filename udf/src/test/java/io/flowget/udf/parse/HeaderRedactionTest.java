package io.flowget.udf.parse;

import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.SecretRef;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** Header secrets in the request event, and what of the headers a dead letter keeps. */
class HeaderRedactionTest {
    private final RequestParser parser = new RequestParser();

    @Test
    void aSecretReferenceKeepsOnlyTheName() {
        FetchRequest r =
                parser.parse(null, "{\"url\":\"http://h.test/a\",\"headers\":{\"Authorization\":{\"secret\":\"api-token\"},"
                                + "\"X-Trace\":\"t1\"}}")
                        .request();
        assertThat(SecretRef.isRef(r.headers.get("Authorization"))).isTrue();
        assertThat(SecretRef.name(r.headers.get("Authorization"))).isEqualTo("api-token");
        assertThat(r.headers.get("X-Trace")).isEqualTo("t1");
        assertThat(SecretRef.isRef("t1")).as("no literal value can look like a reference").isFalse();
    }

    @Test
    void badSecretReferencesAreRejectedNamingTheHeader() {
        for (String bad :
                new String[] {
                    "{\"secret\":\"../etc/passwd\"}", "{\"secret\":\"\"}", "{\"secret\":1}", "{\"secret\":\"a\",\"x\":1}",
                    "{\"name\":\"a\"}"
                }) {
            ParseOutcome o = parser.parse(null, "{\"url\":\"http://h.test/a\",\"headers\":{\"Authorization\":" + bad + "}}");
            assertThat(o.isOk()).as(bad).isFalse();
            assertThat(o.reason()).as(bad).startsWith("invalid header value for 'Authorization'");
        }
        ParseOutcome literal =
                parser.parse(null, "{\"url\":\"http://h.test/a\",\"headers\":{\"X\":\"\\u0000secret:api-token\"}}");
        assertThat(literal.isOk()).as("a literal cannot forge a reference").isFalse();
    }

    @Test
    void deadLettersKeepNoLiteralHeaderValue() {
        String rejected =
                "{\"url\":\"ftp://h.test/a\",\"headers\":{\"Authorization\":\"Bearer s3cr3t\",\"Cookie\":\"sid=1\","
                        + "\"X-Key\":{\"secret\":\"k\"}}}";
        String red = HeaderRedaction.redact(rejected);
        assertThat(red).doesNotContain("s3cr3t").doesNotContain("sid=1").contains("ftp://h.test/a");
        assertThat(red).contains("\"Authorization\":\"<redacted>\"").contains("{\"secret\":\"k\"}");

        String broken = "{\"url\":\"http://h.test/a\",\"headers\":{\"Authorization\":\"Bearer s3cr3t\"";
        assertThat(HeaderRedaction.redact(broken)).doesNotContain("s3cr3t").startsWith("{\"url\":\"http://h.test/a\"");
        assertThat(HeaderRedaction.redact("{\"url\":\"x\"}")).isEqualTo("{\"url\":\"x\"}");
        assertThat(HeaderRedaction.redact("not json")).isEqualTo("not json");
        assertThat(HeaderRedaction.redact(null)).isNull();
    }
}
