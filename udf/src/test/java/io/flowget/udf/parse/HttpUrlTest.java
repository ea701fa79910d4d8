package io.flowget.udf.parse;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.net.URI;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class HttpUrlTest {

    @ParameterizedTest(name = "[{index}] {0}")
    @CsvSource(
            delimiter = '|',
            quoteCharacter = '"',
            value = {
                "http://example.com/a/b.txt                | http://example.com/a/b.txt",
                "HTTP://EXAMPLE.com/A/B.TXT                | http://example.com/A/B.TXT",
                "https://Example.COM:443/x                 | https://example.com/x",
                "http://example.com:80/x                   | http://example.com/x",
                "https://example.com:80/x                  | https://example.com:80/x",
                "http://example.com:8080                   | http://example.com:8080/",
                "http://example.com                        | http://example.com/",
                "http://example.com:/x                     | http://example.com/x",
                "http://example.com/a#frag                 | http://example.com/a",
                "http://example.com/a?q=1#frag             | http://example.com/a?q=1",
                "http://example.com?q                      | http://example.com/?q",
                "http://example.com/a?                     | http://example.com/a?",
                "http://example.com/a b?c d                | http://example.com/a%20b?c%20d",
                "http://example.com/%7e%2F?x=%C3%A9        | http://example.com/%7e%2F?x=%C3%A9",
                "http://example.com/100%                   | http://example.com/100%25",
                "http://example.com/caf\u00e9              | http://example.com/caf%C3%A9",
                "http://example.com/?a=[1]&b=<x>           | http://example.com/?a=%5B1%5D&b=%3Cx%3E",
                "http://example.com/a/../b/./c             | http://example.com/a/../b/./c",
                "http://[::1]:8080/x                       | http://[::1]:8080/x",
                "http://[2001:DB8::1]/                     | http://[2001:db8::1]/",
                "http://127.0.0.1:9/x                      | http://127.0.0.1:9/x",
                "http://b\u00fccher.example/x              | http://xn--bcher-kva.example/x",
                "http://\u4f8b\u3048.\u30c6\u30b9\u30c8/   | http://xn--r8jz45g.xn--zckzah/",
                "http://my_host.internal/x                 | http://my_host.internal/x",
                "http://example.com./x                     | http://example.com./x",
                "'  http://example.com/x  '                | http://example.com/x",
            })
    void normalisesMinimally(String in, String expected) throws Exception {
        String input = in.startsWith("'") ? in.substring(1, in.length() - 1) : in;
        HttpUrl url = HttpUrl.parse(input);
        assertThat(url.toString()).isEqualTo(expected);
        // Whatever we produce is a URI that java.net (and HTTP clients) accept.
        assertThat(new URI(url.toString()).getScheme()).isIn("http", "https");
    }

    @Test
    void encodesCharactersThatMayNotAppearRaw() throws Exception {
        assertThat(HttpUrl.parse("http://example.com/a|b{c}[d]^`\\\"<>?q=|").toString())
                .isEqualTo("http://example.com/a%7Cb%7Bc%7D%5Bd%5D%5E%60%5C%22%3C%3E?q=%7C");
        // Characters outside the BMP are encoded as their 4 UTF-8 bytes.
        assertThat(HttpUrl.parse("http://h/\uD83D\uDE00").rawPath()).isEqualTo("/%F0%9F%98%80");
    }

    @Test
    void exposesTheParts() throws Exception {
        HttpUrl url = HttpUrl.parse("https://[::1]:8443/a/b%20c?x=1");
        assertThat(url.scheme()).isEqualTo("https");
        assertThat(url.host()).isEqualTo("::1");
        assertThat(url.port()).isEqualTo(8443);
        assertThat(url.effectivePort()).isEqualTo(8443);
        assertThat(url.rawPath()).isEqualTo("/a/b%20c");
        assertThat(url.rawQuery()).isEqualTo("x=1");

        HttpUrl plain = HttpUrl.parse("https://h/");
        assertThat(plain.port()).isEqualTo(-1);
        assertThat(plain.effectivePort()).isEqualTo(443);
        assertThat(plain.rawQuery()).isNull();
        assertThat(HttpUrl.parse("http://h").effectivePort()).isEqualTo(80);
        assertThat(HttpUrl.parse("HTTP://H/").equals(HttpUrl.parse("http://h:80/"))).isTrue();
    }

    @ParameterizedTest(name = "[{index}] {0}")
    @CsvSource(
            delimiter = '|',
            quoteCharacter = '"',
            value = {
                "ftp://x/y                       | unsupported URL scheme 'ftp'",
                "javascript:alert(1)             | unsupported URL scheme 'javascript'",
                "file:///etc/passwd              | unsupported URL scheme 'file'",
                "data:text/plain,hi              | unsupported URL scheme 'data'",
                "FTP://x/y                       | unsupported URL scheme 'ftp'",
                "/relative/path                  | relative URL (expected http:// or https://)",
                "example.com/a                   | relative URL (expected http:// or https://)",
                "//example.com/a                 | relative URL (expected http:// or https://)",
                "http:/example.com/a             | missing host",
                "http:example.com                | missing host",
                "http://                         | missing host",
                "http:///a                       | missing host",
                "http://:80/                     | missing host",
                "http://user:secret@example.com/ | unsupported user info in URL (send credentials in an Authorization header)",
                "http://user@example.com/        | unsupported user info in URL (send credentials in an Authorization header)",
                "http://example.com:0/           | invalid port 0",
                "http://example.com:65536/       | invalid port 65536",
                "http://example.com:12x/         | invalid port '12x'",
                "http://example.com:123456/      | invalid port '123456'",
                "http://exa mple.com/            | invalid host: character '\\u0020'",
                "http://exa%6dple.com/           | invalid host: character '%'",
                "http://a\\b/                    | invalid host: character '\\'",
                "http://a..b/                    | invalid host: empty label",
                "http://.a/                      | invalid host: empty label",
                "http://[::1/                    | invalid host: unterminated IPv6 literal",
                "http://[::g]/                   | invalid host: bad IPv6 literal",
                "http://[1:2:3:4:5:6:7:8:9]/     | invalid host: bad IPv6 literal",
                "http://[::1]x/                  | invalid host",
                "''                              | missing url",
                "'   '                           | missing url",
            })
    void rejectsWithAClearReason(String in, String reason) {
        String input = in.startsWith("'") ? in.substring(1, in.length() - 1) : in;
        assertThatThrownBy(() -> HttpUrl.parse(input))
                .isInstanceOf(RequestRejectedException.class)
                .hasMessage(reason);
    }

    @Test
    void rejectsControlCharactersAndOverLongUrls() throws Exception {
        assertThatThrownBy(() -> HttpUrl.parse("http://h/a\r\nHost: evil"))
                .hasMessage("invalid URL: control character at index 10");
        assertThatThrownBy(() -> HttpUrl.parse("http://h/\u0000")).hasMessageStartingWith("invalid URL: control");
        assertThatThrownBy(() -> HttpUrl.parse(null)).hasMessage("missing url");
        String base = "http://h/";
        assertThat(HttpUrl.parse(base + "a".repeat(HttpUrl.MAX_URL_CHARS - base.length())).toString())
                .hasSize(HttpUrl.MAX_URL_CHARS);
        assertThatThrownBy(() -> HttpUrl.parse(base + "a".repeat(HttpUrl.MAX_URL_CHARS)))
                .hasMessage("URL too long (over 8192 characters)");
        // Encoding can make a URL longer than the limit: that is refused too.
        assertThatThrownBy(() -> HttpUrl.parse(base + "\u00e9".repeat(2000)))
                .hasMessage("URL too long (over 8192 characters once encoded)");
        assertThatThrownBy(() -> HttpUrl.parse("http://" + "a".repeat(64) + ".com/"))
                .hasMessage("invalid host: not a valid (internationalised) host name");
        assertThatThrownBy(() -> HttpUrl.parse("x".repeat(100) + "://h/"))
                .hasMessage("unsupported URL scheme '" + "x".repeat(32) + "...'");
    }
}
