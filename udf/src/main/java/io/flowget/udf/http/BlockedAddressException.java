package io.flowget.udf.http;

import java.net.UnknownHostException;

/**
 * Thrown by {@link GuardedDnsResolver} when every address of a host is refused by the {@link AddressPolicy}. It
 * is an {@link UnknownHostException} because that is what HttpClient's connect path passes through unchanged to
 * the request's failure callback; the fetch operator turns it into a FAILED result that is never retried. The
 * message is the result's error, e.g. {@code blocked address: 169.254.169.254 (link-local / cloud metadata)}.
 */
public final class BlockedAddressException extends UnknownHostException {
    private static final long serialVersionUID = 1L;

    public BlockedAddressException(String message) {
        super(message);
    }
}
