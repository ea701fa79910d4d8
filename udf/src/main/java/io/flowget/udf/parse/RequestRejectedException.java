package io.flowget.udf.parse;

/**
 * A request that cannot be fetched, with the reason as its message. The message is reported as is, as the
 * {@code error} of the request's FAILED result and the {@code reason} of its dead-letter record, so it must be
 * short, say what is wrong and never carry a stack trace (none is recorded: this is expected input, not a bug).
 */
public class RequestRejectedException extends Exception {
    private static final long serialVersionUID = 1L;

    public RequestRejectedException(String reason) {
        super(reason, null, false, false);
    }
}
