package io.flowget.udf.fetch;

import io.flowget.udf.body.BodyException;
import io.flowget.udf.http.BlockedAddressException;
import io.flowget.udf.http.DnsTimeoutException;
import io.flowget.udf.http.StagingResponseConsumer;
import io.flowget.udf.secret.Secrets;

import org.apache.hc.client5.http.ConnectTimeoutException;
import org.apache.hc.core5.http.ConnectionClosedException;
import org.apache.hc.core5.http.HttpException;

import javax.net.ssl.SSLException;
import javax.net.ssl.SSLHandshakeException;

import java.io.IOException;
import java.net.ConnectException;
import java.net.NoRouteToHostException;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.concurrent.CancellationException;

/**
 * Turns an exception of an HTTP attempt into a user-readable reason and a retry decision. The reasons are part of
 * the result contract ({@code timeout: no data for 30s}, {@code connect error: Connection refused}, ...).
 */
final class Failures {
    private Failures() {}

    /** A classified failure. */
    record Failure(String reason, boolean retryable) {}

    /**
     * The reason and retryability of a failed attempt. {@code idleTimeout} is the configured socket timeout the
     * reason names; {@link Duration#ZERO} when the caller does not know it (the politeness classes), and the
     * reason then names no duration rather than a wrong one.
     */
    static Failure classify(Throwable t, String cancelReason, Duration idleTimeout) {
        if (t instanceof CancellationException || cancelReason != null) {
            String r = cancelReason != null ? cancelReason : "cancelled";
            return new Failure(r, r.startsWith("timeout"));
        }
        if (t instanceof ExchangeFailure) {
            // the HTTP client's own trouble with one exchange: this request's, and another attempt may not meet it
            return new Failure("internal error: " + t.getCause(), true);
        }
        Throwable c = t;
        while (c.getCause() != null && !(c instanceof IOException) && c != c.getCause()) {
            c = c.getCause();
        }
        if (c instanceof BodyException) {
            // corrupt coded streams, unknown codings and size guards do not heal by retrying
            return new Failure(c.getMessage(), false);
        }
        if (c instanceof StagingResponseConsumer.BodyLimitException) {
            return new Failure(c.getMessage(), false);
        }
        if (c instanceof Secrets.SecretUnavailableException) {
            return new Failure(c.getMessage(), false); // a missing secret does not appear by retrying at once
        }
        if (c instanceof BlockedAddressException) {
            // the SSRF guard's verdict does not change by asking again
            return new Failure(c.getMessage(), false);
        }
        if (c instanceof DnsTimeoutException) {
            return new Failure(c.getMessage(), true);
        }
        if (c instanceof UnknownHostException) {
            return new Failure("dns: unknown host " + c.getMessage(), true);
        }
        if (c instanceof ConnectTimeoutException) {
            // before SocketTimeoutException, its superclass: this is no idle body
            return new Failure("connect timeout: " + connectTimeout(message(c)), true);
        }
        if (c instanceof ConnectException || c instanceof NoRouteToHostException) {
            return new Failure("connect error: " + message(c), true);
        }
        if (c instanceof SocketTimeoutException
                || (c instanceof java.io.InterruptedIOException && message(c).contains("timeout"))) {
            return new Failure(
                    idleTimeout.isZero() ? "timeout: no data" : "timeout: no data for " + seconds(idleTimeout), true);
        }
        if (c instanceof SSLHandshakeException) {
            // certificate and protocol mismatches do not heal by retrying
            return new Failure("tls: " + message(c), false);
        }
        if (c instanceof SSLException) {
            return new Failure("tls: " + message(c), true);
        }
        if (c instanceof ConnectionClosedException) {
            return new Failure("connection closed: " + message(c), true);
        }
        if (c instanceof SocketException) {
            return new Failure("connection error: " + message(c), true);
        }
        if (c instanceof IOException) {
            return new Failure("i/o error: " + message(c), true);
        }
        if (c instanceof HttpException) {
            // A response head the parser could not read. Seen when a previous response on the same keep-alive
            // connection sent bytes past its Content-Length: they arrive as this request's "response". The
            // connection is closed with the failure, so a new attempt gets a clean one.
            return new Failure("protocol error: " + message(c), true);
        }
        return new Failure("internal error: " + c, false);
    }

    private static final java.util.regex.Pattern CONNECT_TIMEOUT =
            java.util.regex.Pattern.compile("Connect to (\\S+) .*failed: (\\d+) NANOSECONDS");

    /** HttpClient says "Connect to URL [/ip] failed: 300000000 NANOSECONDS"; say it in words. */
    private static String connectTimeout(String m) {
        java.util.regex.Matcher x = CONNECT_TIMEOUT.matcher(m);
        if (x.find()) {
            return "no connection to " + x.group(1) + " within "
                    + seconds(Duration.ofNanos(Long.parseLong(x.group(2))));
        }
        return m;
    }

    static String seconds(Duration d) {
        long ms = d.toMillis();
        return ms % 1000 == 0 ? (ms / 1000) + "s" : ms + "ms";
    }

    private static String message(Throwable t) {
        String m = t.getMessage();
        return m == null ? t.getClass().getSimpleName() : m;
    }
}
