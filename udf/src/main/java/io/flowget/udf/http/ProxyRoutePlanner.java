package io.flowget.udf.http;

import org.apache.hc.client5.http.impl.DefaultSchemePortResolver;
import org.apache.hc.client5.http.impl.routing.DefaultRoutePlanner;
import org.apache.hc.core5.http.HttpException;
import org.apache.hc.core5.http.HttpHost;
import org.apache.hc.core5.http.protocol.HttpContext;

import java.net.UnknownHostException;

/**
 * Routes a request through the proxy its {@link ProxySelection} names (https origins through a CONNECT tunnel, which
 * HttpClient opens for a secure route via a proxy), and applies the SSRF guard to the origin before: through a proxy
 * the client connects to the proxy only, so the origin's name is resolved here and judged by the {@link
 * AddressPolicy} (the proxy resolves it again for itself; see the README's Security section on what that leaves).
 * A refused origin fails the request with its {@link BlockedAddressException} as the cause, nothing sent.
 *
 * <p>Thread-safe; called by the HTTP client for every request.
 */
final class ProxyRoutePlanner extends DefaultRoutePlanner {
    private final ProxySelection selection;
    private final GuardedDnsResolver originGuard;

    ProxyRoutePlanner(ProxySelection selection, GuardedDnsResolver originGuard) {
        super(DefaultSchemePortResolver.INSTANCE);
        this.selection = selection;
        this.originGuard = originGuard;
    }

    @Override
    protected HttpHost determineProxy(HttpHost target, HttpContext context) throws HttpException {
        HttpHost proxy = selection.proxyFor(target.getSchemeName(), target.getHostName());
        if (proxy != null) {
            try {
                originGuard.resolve(target.getHostName()); // throws when every address is refused
            } catch (UnknownHostException e) { // BlockedAddressException included
                HttpException refused = new HttpException(e.getMessage());
                refused.initCause(e);
                throw refused;
            }
        }
        return proxy;
    }
}
