package io.flowget.udf.fetch;

import io.flowget.udf.body.BodyException;
import io.flowget.udf.body.ContentCoding;
import io.flowget.udf.http.BlockedAddressException;
import io.flowget.udf.http.DnsTimeoutException;
import io.flowget.udf.http.StagingResponseConsumer;

import org.apache.hc.client5.http.ConnectTimeoutException;
import org.apache.hc.core5.http.ConnectionClosedException;
import org.junit.jupiter.api.Test;

import javax.net.ssl.SSLException;
import javax.net.ssl.SSLHandshakeException;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.ConnectException;
import java.net.NoRouteToHostException;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

/** {@link Failures#classify}: every exception class an attempt can end with, its reason text and retryability. */
class FailuresTest {
    private static final Duration IDLE = Duration.ofSeconds(30);

    private static Failures.Failure classify(Throwable t) {
        return Failures.classify(t, null, IDLE);
    }

    private static Failures.Failure retryable(String reason) {
        return new Failures.Failure(reason, true);
    }

    private static Failures.Failure permanent(String reason) {
        return new Failures.Failure(reason, false);
    }

    @Test
    void cancelReasonsWinAndOnlyTimeoutsAreRetried() {
        IOException any = new IOException("Request cancelled");

        assertThat(Failures.classify(any, "timeout: no response headers within 10s", IDLE))
                .isEqualTo(retryable("timeout: no response headers within 10s"));
        assertThat(Failures.classify(any, "timeout: attempt exceeded 5m", IDLE)).isEqualTo(retryable("timeout: attempt exceeded 5m"));
        assertThat(Failures.classify(any, "deadline exceeded", IDLE)).isEqualTo(permanent("deadline exceeded"));
        assertThat(Failures.classify(any, "shutdown", IDLE)).isEqualTo(permanent("shutdown"));
        assertThat(Failures.classify(any, "superseded", IDLE)).isEqualTo(permanent("superseded"));
        assertThat(Failures.classify(new CancellationException(), null, IDLE)).isEqualTo(permanent("cancelled"));
    }

    @Test
    void connectTimeoutsNameTheTargetAndTheTimeInWords() {
        ConnectTimeoutException hc =
                new ConnectTimeoutException("Connect to http://10.1.2.3:80 [/10.1.2.3] failed: 300000000 NANOSECONDS");
        ConnectTimeoutException whole = new ConnectTimeoutException("Connect to http://h:1 failed: 10000000000 NANOSECONDS");

        assertThat(classify(hc)).isEqualTo(retryable("connect timeout: no connection to http://10.1.2.3:80 within 300ms"));
        assertThat(classify(whole)).isEqualTo(retryable("connect timeout: no connection to http://h:1 within 10s"));
        assertThat(classify(new ConnectTimeoutException("odd"))).isEqualTo(retryable("connect timeout: odd"));
    }

    @Test
    void connectErrorsAndDnsFailuresAreRetried() {
        assertThat(classify(new ConnectException("Connection refused"))).isEqualTo(retryable("connect error: Connection refused"));
        assertThat(classify(new ConnectException())).isEqualTo(retryable("connect error: ConnectException"));
        assertThat(classify(new NoRouteToHostException("No route to host"))).isEqualTo(retryable("connect error: No route to host"));
        assertThat(classify(new UnknownHostException("nowhere.invalid"))).isEqualTo(retryable("dns: unknown host nowhere.invalid"));
        assertThat(classify(new DnsTimeoutException("dns: no answer for x within 5s")))
                .isEqualTo(retryable("dns: no answer for x within 5s"));
    }

    @Test
    void theSsrfGuardsVerdictIsFinal() {
        assertThat(classify(new BlockedAddressException("blocked address: 10.0.0.1 (private)")))
                .isEqualTo(permanent("blocked address: 10.0.0.1 (private)"));
    }

    @Test
    void anIdleSocketIsReportedWithTheConfiguredTimeout() {
        assertThat(classify(new SocketTimeoutException("Read timed out"))).isEqualTo(retryable("timeout: no data for 30s"));
        assertThat(Failures.classify(new SocketTimeoutException("x"), null, Duration.ofMillis(1500)))
                .isEqualTo(retryable("timeout: no data for 1500ms"));
        assertThat(classify(new InterruptedIOException("socket timeout"))).isEqualTo(retryable("timeout: no data for 30s"));
        assertThat(classify(new InterruptedIOException("interrupted"))).isEqualTo(retryable("i/o error: interrupted"));
        // The breaker's "host unreachable: <last error>" is built without the timeout: it named "0s" before.
        assertThat(Failures.classify(new SocketTimeoutException("x"), null, Duration.ZERO))
                .isEqualTo(retryable("timeout: no data"));
    }

    @Test
    void handshakeFailuresAreFinalOtherTlsErrorsRetried() {
        assertThat(classify(new SSLHandshakeException("PKIX path building failed"))).isEqualTo(permanent("tls: PKIX path building failed"));
        assertThat(classify(new SSLException("bad record MAC"))).isEqualTo(retryable("tls: bad record MAC"));
    }

    @Test
    void closedAndResetConnectionsAreRetried() {
        assertThat(classify(new ConnectionClosedException("Premature end of Content-Length delimited message body")))
                .isEqualTo(retryable("connection closed: Premature end of Content-Length delimited message body"));
        assertThat(classify(new SocketException("Connection reset"))).isEqualTo(retryable("connection error: Connection reset"));
        assertThat(classify(new IOException("Broken pipe"))).isEqualTo(retryable("i/o error: Broken pipe"));
    }

    @Test
    void bodyAndSizeGuardsAreFinal() {
        BodyException unsupported =
                catchThrowableOfType(BodyException.class, () -> ContentCoding.parse("gzip, compress"));

        assertThat(classify(unsupported)).isEqualTo(permanent("unsupported content-coding 'compress'"));
        assertThat(classify(new StagingResponseConsumer.BodyLimitException(5000)))
                .isEqualTo(permanent("max_bytes exceeded (limit 5000 bytes)"));
    }

    @Test
    void wrappersAreUnwrappedToTheFirstIOException() {
        ExecutionException wrapped = new ExecutionException(new RuntimeException(new ConnectException("Connection refused")));

        assertThat(classify(wrapped)).isEqualTo(retryable("connect error: Connection refused"));
        assertThat(classify(new IOException("outer", new ConnectException("inner")))).as("an IOException is not unwrapped")
                .isEqualTo(retryable("i/o error: outer"));
    }

    @Test
    void anUnreadableResponseHeadIsAProtocolErrorAndRetried() {
        // bytes a previous response sent past its Content-Length, read as this request's status line
        assertThat(classify(new org.apache.hc.core5.http.ParseException("Invalid protocol version")))
                .isEqualTo(retryable("protocol error: Invalid protocol version"));
    }

    @Test
    void anythingElseIsAnInternalErrorAndFinal() {
        assertThat(classify(new IllegalStateException("boom"))).isEqualTo(permanent("internal error: java.lang.IllegalStateException: boom"));
    }

    @Test
    void anUncheckedExceptionTheClientReportsForAnExchangeIsRetried() {
        // HttpClient 5.6's HTTP/2 sharing pool failed exchanges this way (HttpClientHolder): the exchange's trouble
        Throwable reported = ExchangeFailure.of(new IllegalStateException("Connection already assigned"));

        assertThat(classify(reported))
                .isEqualTo(retryable("internal error: java.lang.IllegalStateException: Connection already assigned"));
        assertThat(ExchangeFailure.of(new CancellationException())).as("a cancellation stays one")
                .isInstanceOf(CancellationException.class);
        IOException io = new IOException("reset");
        assertThat(ExchangeFailure.of(io)).as("checked exceptions are classified as they are").isSameAs(io);
    }

    @Test
    void secondsAreWholeOrMilliseconds() {
        assertThat(Failures.seconds(Duration.ofSeconds(30))).isEqualTo("30s");
        assertThat(Failures.seconds(Duration.ofMinutes(5))).isEqualTo("300s");
        assertThat(Failures.seconds(Duration.ofMillis(250))).isEqualTo("250ms");
        assertThat(Failures.seconds(Duration.ZERO)).isEqualTo("0s");
    }
}
