package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.http.AddressPolicy;

import org.apache.flink.configuration.ReadableConfig;

import java.net.URI;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * What a redirect may carry and where it may go, as curl and wget do after CVE-2018-1000007, CVE-2022-27776 and
 * CVE-2021-31879: a request's credentials belong to the origin (scheme, host, port) of its own URL.
 *
 * <ul>
 *   <li>{@link #headersFor}: the request's headers for one hop. On a hop to another origin, {@code Authorization},
 *       {@code Cookie}, {@code Proxy-Authorization} and the names in {@code flowget.http.redirect.strip-headers}
 *       are left out; a later hop back to the request's own origin carries them again.
 *   <li>{@link #downgrade}: an https → http hop is refused ({@code insecure redirect …}) unless
 *       {@code flowget.http.redirect.allow-insecure} is set.
 * </ul>
 *
 * <p>Immutable and pure; used on the task thread.
 */
final class RedirectSecurity {
    /** Headers that never leave the request's origin. */
    static final List<String> ALWAYS_STRIPPED = List.of("authorization", "cookie", "proxy-authorization");

    private final Set<String> stripped;
    private final boolean allowInsecure;

    RedirectSecurity(Set<String> extraStripped, boolean allowInsecure) {
        Set<String> s = new TreeSet<>(ALWAYS_STRIPPED);
        for (String h : extraStripped) {
            s.add(h.trim().toLowerCase(Locale.ROOT));
        }
        this.stripped = Set.copyOf(s);
        this.allowInsecure = allowInsecure;
    }

    static RedirectSecurity from(ReadableConfig conf) {
        return new RedirectSecurity(
                new TreeSet<>(
                        AddressPolicy.splitList(
                                conf.getOptional(FlowgetOptions.HTTP_REDIRECT_STRIP_HEADERS).orElse(""))),
                conf.get(FlowgetOptions.HTTP_REDIRECT_ALLOW_INSECURE));
    }

    /**
     * The headers to send on the hop to {@code hopUrl} of a request for {@code requestUrl}: all of them on the
     * request's own origin, else all but the credential-bearing ones.
     */
    Map<String, String> headersFor(Map<String, String> headers, String requestUrl, String hopUrl) {
        if (headers == null || headers.isEmpty() || sameOrigin(requestUrl, hopUrl)) {
            return headers == null ? Map.of() : headers;
        }
        Map<String, String> out = new LinkedHashMap<>();
        headers.forEach(
                (k, v) -> {
                    if (!stripped.contains(k.toLowerCase(Locale.ROOT))) {
                        out.put(k, v);
                    }
                });
        return out;
    }

    /** Why a hop from {@code from} to {@code to} is refused (an https → http downgrade), or null. */
    String downgrade(String from, URI to) {
        if (allowInsecure) {
            return null;
        }
        String fromScheme = scheme(URI.create(from));
        return fromScheme.equals("https") && scheme(to).equals("http")
                ? "insecure redirect (https to http) to " + to
                : null;
    }

    /** True when both URLs have the same scheme, host and port (default ports filled in). */
    static boolean sameOrigin(String a, String b) {
        if (a.equals(b)) {
            return true;
        }
        try {
            URI x = URI.create(a);
            URI y = URI.create(b);
            String hx = x.getHost();
            String hy = y.getHost();
            return hx != null
                    && hy != null
                    && scheme(x).equals(scheme(y))
                    && hx.toLowerCase(Locale.ROOT).equals(hy.toLowerCase(Locale.ROOT))
                    && port(x) == port(y);
        } catch (IllegalArgumentException e) {
            return false; // cannot tell: treat as another origin
        }
    }

    private static String scheme(URI u) {
        return u.getScheme() == null ? "" : u.getScheme().toLowerCase(Locale.ROOT);
    }

    private static int port(URI u) {
        if (u.getPort() >= 0) {
            return u.getPort();
        }
        return scheme(u).equals("https") ? 443 : 80;
    }
}
