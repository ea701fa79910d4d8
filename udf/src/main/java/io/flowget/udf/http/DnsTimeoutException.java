package io.flowget.udf.http;

import java.net.UnknownHostException;

/**
 * A name lookup that did not finish within {@code flowget.dns.timeout}. Retryable: resolvers recover. The
 * message is the result's error, e.g. {@code dns: lookup of example.org timed out after 5s}.
 */
public final class DnsTimeoutException extends UnknownHostException {
    private static final long serialVersionUID = 1L;

    public DnsTimeoutException(String message) {
        super(message);
    }
}
