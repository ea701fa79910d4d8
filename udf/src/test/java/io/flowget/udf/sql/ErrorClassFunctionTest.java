package io.flowget.udf.sql;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** {@link ErrorClassFunction#eval}: every failure message flowget writes maps to its class; NULL stays NULL. */
class ErrorClassFunctionTest {
    private final ErrorClassFunction f = new ErrorClassFunction();

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource(
            delimiter = '|',
            value = {
                "http 503 (after 5 attempts)|http_5xx",
                "http 404|http_4xx",
                "HTTP 429 (after 2 attempts)|http_4xx",
                "http 302 without usable Location|http_3xx",
                "connect error: Connection refused|connect",
                "connection closed: peer reset|connection",
                "connection error: stream reset|connection",
                "timeout: no data for 30s (after 3 attempts)|timeout",
                "timeout: attempt exceeded 10m|timeout",
                "deadline exceeded (last error: http 503)|deadline",
                "dns: unknown host nowhere.invalid|dns",
                "tls: PKIX path building failed|tls",
                "i/o error: broken pipe|io",
                "checksum mismatch (expected aa, got bb)|checksum",
                "max_bytes exceeded (limit 100 bytes)|too_large",
                "decode ratio exceeded (limit 100:1, 5000 from 10)|decode_ratio",
                "corrupt gzip stream|corrupt_body",
                "unsupported content-coding 'x-foo'|unsupported_coding",
                "decryption failed: AES-GCM tag mismatch (wrong key, or damaged, truncated or extended object)|decryption",
                "unknown key id 'backup-2026'|unknown_key",
                "length mismatch (expected 100, stored 90)|length_mismatch",
                "resource changed during download (ETag)|resource_changed",
                "path conflict: it exists and was not written by flowget|path_conflict",
                "storage error: disk full|storage",
                "too many redirects (more than 10)|redirect",
                "redirect loop at http://h/a|redirect",
                "internal error: java.lang.IllegalStateException|internal",
                "cancelled|cancelled",
                "missing url|bad_request",
                "invalid URL: control character at index 3|bad_request",
                "malformed JSON: unexpected end|bad_request",
                "unsupported URL scheme 'ftp'|bad_request",
                "  http 500  |http_5xx",
                "something new|other",
                "http 5000|other",
                "http abc|other",
            })
    void classifiesByTheMessagesBeginning(String error, String expected) {
        assertThat(f.eval(error)).isEqualTo(expected);
    }

    @Test
    void nullMessageIsNullClassAndEmptyIsOther() {
        assertThat(f.eval(null)).isNull();
        assertThat(f.eval("")).isEqualTo("other");
    }

    @Test
    void attemptCountsAndDetailsDoNotChangeTheClass() {
        assertThat(f.eval("http 503 (after 5 attempts)")).isEqualTo(f.eval("http 502 (after 1 attempts)"));
        assertThat(f.eval("timeout: no data for 30s")).isEqualTo(f.eval("timeout: no response headers within 10s"));
    }
}
