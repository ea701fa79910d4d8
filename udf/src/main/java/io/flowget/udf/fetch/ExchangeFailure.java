package io.flowget.udf.fetch;

/**
 * An unchecked exception that the HTTP client reported for one exchange through its callback (its connection pool,
 * its protocol code, or a response consumer on an I/O thread), carried as the attempt's error with the original as
 * its cause. Unlike one thrown on the sender's thread while a request is built and handed over (a URL the client
 * cannot take: final), it is that exchange's own failure: retried, and blamed on the request, never on the host
 * ({@link Failures}, {@link Blame}; the charter's "blame the right thing"). Its reason keeps the {@code internal
 * error: <class>: <message>} form of the cause, so it still counts as a bug to look at.
 *
 * <p>Seen: HttpClient 5.6's HTTP/2 sharing pool failed exchanges with {@code IllegalStateException: Connection already
 * assigned} (flowget no longer shares HTTP/2 connections, see {@code HttpClientHolder}). Never thrown; immutable.
 */
final class ExchangeFailure extends RuntimeException {
    private static final long serialVersionUID = 1L;

    ExchangeFailure(RuntimeException cause) {
        super(cause.toString(), cause, false, false);
    }

    /** {@code ex} as an attempt's error: an unchecked exception wrapped, anything else as it is. */
    static Throwable of(Exception ex) {
        if (ex instanceof RuntimeException r && !(ex instanceof java.util.concurrent.CancellationException)) {
            return new ExchangeFailure(r);
        }
        return ex;
    }
}
