package io.flowget.udf.http;

import org.junit.jupiter.api.Test;

import java.net.URI;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** An attempt parses its current hop's URL once, and a redirect's new hop is parsed anew. */
class AttemptTest {
    @Test
    void theParsedUrlIsTheCurrentHopsAndIsParsedOncePerHop() {
        Attempt a = new Attempt("a.example", 1, "http://a.example:8080/one?x=1", 0, Long.MAX_VALUE);

        URI first = a.uri();
        assertThat(first).isEqualTo(URI.create("http://a.example:8080/one?x=1"));
        assertThat(a.uri()).isSameAs(first); // the DNS gate, the port check and the request share one parse

        a.url = "https://b.example/two"; // a redirect hop
        assertThat(a.uri()).isEqualTo(URI.create("https://b.example/two"));
        assertThat(a.uri().getHost()).isEqualTo("b.example");

        a.url = "http://a.example:8080/one?x=1"; // back to an equal string: its own parse, equal to the first
        assertThat(a.uri()).isEqualTo(first);
    }

    @Test
    void aUrlThatDoesNotParseFailsAsUriCreateDoes() {
        Attempt a = new Attempt("h", 1, "http://h/a b", 0, Long.MAX_VALUE);

        assertThatThrownBy(a::uri).isInstanceOf(IllegalArgumentException.class);
    }
}
