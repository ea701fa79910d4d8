package io.flowget.udf.body;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

import java.util.List;

/** Content-Encoding parsing and the Accept-Encoding offer. */
class ContentCodingTest {

    @Test
    void parsesInHeaderOrderIgnoringCaseIdentityAndEmptyElements() throws BodyException {
        assertThat(ContentCoding.parse(null)).isEmpty();
        assertThat(ContentCoding.parse("")).isEmpty();
        assertThat(ContentCoding.parse(" identity ")).isEmpty();
        assertThat(ContentCoding.parse("X-GZip")).containsExactly(ContentCoding.GZIP);
        assertThat(ContentCoding.parse("gzip, , br")).containsExactly(ContentCoding.GZIP, ContentCoding.BR);
        assertThat(ContentCoding.parse("deflate,zstd")).containsExactly(ContentCoding.DEFLATE, ContentCoding.ZSTD);
        assertThat(ContentCoding.join(List.of(ContentCoding.GZIP, ContentCoding.BR))).isEqualTo("gzip, br");
        assertThat(ContentCoding.join(List.of())).isNull();
    }

    @Test
    void offersEveryCodingThatLoadsHere() {
        // The build bundles linux-x86_64 natives for zstd and br; both must load on the build machine.
        assertThat(ContentCoding.ZSTD.available()).isTrue();
        assertThat(ContentCoding.BR.available()).isTrue();
        assertThat(ContentCoding.acceptEncoding()).isEqualTo("zstd, br, gzip, deflate");
    }
}
