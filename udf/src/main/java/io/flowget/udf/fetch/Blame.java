package io.flowget.udf.fetch;

import io.flowget.udf.http.FetchOutcome;

import java.time.Duration;
import java.util.concurrent.CancellationException;

/**
 * Who an attempt's outcome is blamed on (README "Who is blamed"): the request alone, or its host. URL-level
 * trouble — a stall or trickle, a reset or truncated body after the response began, a parse error — costs the
 * request one of its retries and leaves the host's limit, pause and breaker alone; connection-level failures and
 * overload answers are the host's. A retryable 5xx or a response that never began ({@link #SUSPECT}) is the URL's
 * while the host's other requests answer, and the host's when they fail alike ({@link HostPoliteness} keeps that
 * streak).
 *
 * <p>Pure: {@link #of} reads the outcome only. Used on the task thread.
 */
enum Blame {
    /** An HTTP answer (2xx–4xx but 408/429): the host is alive and served; the limit may grow. */
    ANSWER,
    /**
     * The request's own trouble after the host answered (stall, trickle, reset or cut body, bad head), or the HTTP
     * client's own failure of the exchange ({@link ExchangeFailure}).
     */
    URL,
    /** A retryable 5xx or 408, or no response head in time: the URL's unless the host's other requests fail too. */
    SUSPECT,
    /** No connection or no usable one: refused, connect timeout, DNS, TLS, reset before any answer. */
    CONNECTION,
    /** 429 or 503: the host asks for less (cap, and a pause with Retry-After). */
    OVERLOAD,
    /** Nothing about the host: a local verdict (max_bytes, blocked address, shutdown, a request's deadline). */
    NONE;

    /**
     * Classifies a finished attempt.
     *
     * @param headersReceived true when the attempt's (last hop's) response head arrived, even if its body then
     *     failed
     */
    static Blame of(FetchOutcome o, String cancelReason, boolean headersReceived) {
        if (o.error == null && cancelReason == null) {
            if (RetryPolicy.isRefusal(o.status)) {
                return OVERLOAD;
            }
            if (RetryPolicy.isRetryableStatus(o.status)) {
                return SUSPECT;
            }
            return o.status > 0 ? ANSWER : NONE;
        }
        Throwable t = o.error != null ? o.error : new CancellationException();
        Failures.Failure f = Failures.classify(t, cancelReason, Duration.ZERO);
        if (!f.retryable()) {
            return NONE;
        }
        if (headersReceived || o.status > 0) {
            return URL; // the response began: whatever went wrong after is this URL's transfer
        }
        if (t instanceof ExchangeFailure) {
            return URL; // the client's own trouble with this exchange (its pool, a consumer): says nothing of the host
        }
        if (f.reason().startsWith("protocol error")) {
            return URL; // the host answered bytes this request could not parse
        }
        if (f.reason().startsWith("timeout")) {
            // A connection that was made but got no response head in time (response or idle timeout; connect
            // timeouts are "connect timeout: ..."): the server took the request and is slow on this URL.
            return SUSPECT;
        }
        return CONNECTION;
    }

    /** True for an outcome that shows the host is alive (it answered, however badly): closes its circuit. */
    static boolean answered(FetchOutcome o, boolean headersReceived) {
        return o.status > 0 || headersReceived;
    }
}
