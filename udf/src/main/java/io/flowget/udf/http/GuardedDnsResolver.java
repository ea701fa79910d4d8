package io.flowget.udf.http;

import org.apache.hc.client5.http.DnsResolver;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The SSRF guard: a {@link DnsResolver} that resolves through a delegate and then drops every address the
 * {@link AddressPolicy} refuses. HttpClient's async connection manager calls its resolver for every connection
 * it opens (literal IP hosts included: the route carries no pre-resolved address), so the check runs after DNS
 * resolution, on the address that is actually dialled, and on every redirect hop. Checking after resolution is
 * what defeats names that point at internal addresses (and DNS rebinding between a check and the connect).
 *
 * <p>When some addresses of a name are refused and others are not, only the allowed ones are returned (the
 * connection tries them in order). When none is left, it throws {@link BlockedAddressException} naming the first
 * refused address and why. Thread-safe when the delegate is.
 */
public final class GuardedDnsResolver implements DnsResolver {
    private static final Logger LOG = LoggerFactory.getLogger(GuardedDnsResolver.class);

    private final DnsResolver delegate;
    private final AddressPolicy policy;
    /** Lower-case names of the configured forward proxies: not origins, so not judged (their origins are). */
    private final Set<String> proxies;

    public GuardedDnsResolver(DnsResolver delegate, AddressPolicy policy) {
        this(delegate, policy, Set.of());
    }

    public GuardedDnsResolver(DnsResolver delegate, AddressPolicy policy, Set<String> proxies) {
        this.delegate = delegate;
        this.policy = policy;
        this.proxies = Set.copyOf(proxies);
    }

    @Override
    public InetAddress[] resolve(String host) throws UnknownHostException {
        InetAddress[] all = delegate.resolve(host);
        if (!proxies.isEmpty() && proxies.contains(host.toLowerCase(java.util.Locale.ROOT))) {
            return all; // the proxy itself; ProxyRoutePlanner judged the origin before this connection
        }
        if (all == null || all.length == 0) {
            throw new UnknownHostException(host);
        }
        List<InetAddress> allowed = new ArrayList<>(all.length);
        InetAddress firstRefused = null;
        String why = null;
        for (InetAddress a : all) {
            String refusal = policy.refusal(a);
            if (refusal == null) {
                allowed.add(a);
            } else if (firstRefused == null) {
                firstRefused = a;
                why = refusal;
            }
        }
        if (allowed.isEmpty()) {
            String ip = firstRefused.getHostAddress();
            String msg =
                    AddressPolicy.isIpLiteral(host) || host.equals(ip)
                            ? "blocked address: " + ip + " (" + why + ")"
                            : "blocked address: " + host + " resolves to " + ip + " (" + why + ")";
            LOG.debug("Refused to connect: {}", msg);
            throw new BlockedAddressException(msg);
        }
        if (firstRefused != null) {
            LOG.debug("{}: dropped refused addresses, connecting only to {}", host, allowed);
        }
        return allowed.toArray(new InetAddress[0]);
    }

    @Override
    public String resolveCanonicalHostname(String host) throws UnknownHostException {
        return delegate.resolveCanonicalHostname(host);
    }
}
