package io.flowget.udf.http;

import io.flowget.udf.config.FlowgetOptions;

import org.apache.flink.configuration.ReadableConfig;

import org.apache.hc.core5.http.HttpHost;

import java.io.Serializable;
import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Which forward proxy, if any, a request goes through: {@code flowget.http.proxy} for every scheme, else the
 * environment as curl reads it ({@code http_proxy} for http URLs — the upper-case {@code HTTP_PROXY} is ignored, as
 * curl does, because CGI sets it from a request header — and {@code HTTPS_PROXY}/{@code https_proxy} for https);
 * hosts matching {@code flowget.http.no-proxy} (else {@code NO_PROXY}/{@code no_proxy}) go directly. NO_PROXY rules
 * (curl): comma-separated entries; {@code *} alone matches every host; a name matches itself and its subdomains, a
 * leading dot is ignored; an IP address matches itself, a CIDR its range; ports are ignored.
 *
 * <p>Immutable and serializable: part of {@link HttpClientSettings}, so two configurations with different proxies get
 * different clients. Thread-safe.
 */
public record ProxySelection(
        String httpProxy,
        String httpsProxy,
        List<String> noProxy,
        String credentialsSecret,
        String secretsDir,
        String secretsEnvPrefix)
        implements Serializable {

    /** No proxy at all. */
    public static final ProxySelection NONE = new ProxySelection(null, null, List.of(), null, null, null);

    /** The selection of a configuration, reading the process environment when it allows. */
    public static ProxySelection from(ReadableConfig conf) {
        return from(conf, System.getenv());
    }

    /** The selection of a configuration with {@code env} as the environment (tests). */
    public static ProxySelection from(ReadableConfig conf, Map<String, String> env) {
        boolean fromEnv = conf.get(FlowgetOptions.HTTP_PROXY_FROM_ENV);
        String configured = blankToNull(conf.getOptional(FlowgetOptions.HTTP_PROXY).orElse(null));
        String http = configured;
        String https = configured;
        if (configured == null && fromEnv) {
            http = blankToNull(env.get("http_proxy"));
            https = blankToNull(env.getOrDefault("https_proxy", env.get("HTTPS_PROXY")));
        }
        String noProxy = conf.getOptional(FlowgetOptions.HTTP_NO_PROXY).orElse(null);
        if (noProxy == null && fromEnv) {
            noProxy = env.getOrDefault("no_proxy", env.get("NO_PROXY"));
        }
        List<String> entries = new ArrayList<>();
        if (noProxy != null) {
            for (String e : noProxy.split(",")) {
                String t = e.trim().toLowerCase(Locale.ROOT);
                if (!t.isEmpty()) {
                    entries.add(t);
                }
            }
        }
        ProxySelection s =
                new ProxySelection(
                        http == null ? null : normalize(http),
                        https == null ? null : normalize(https),
                        List.copyOf(entries),
                        blankToNull(conf.getOptional(FlowgetOptions.HTTP_PROXY_CREDENTIALS_SECRET).orElse(null)),
                        conf.getOptional(FlowgetOptions.SECRETS_DIR).orElse(null),
                        conf.get(FlowgetOptions.SECRETS_ENV_PREFIX));
        return s.isEmpty() ? NONE : s;
    }

    /** True when no request goes through a proxy. */
    public boolean isEmpty() {
        return httpProxy == null && httpsProxy == null;
    }

    /** The proxy for a request to {@code target} (scheme, host), or null to connect directly. */
    public HttpHost proxyFor(String scheme, String host) {
        String proxy = "https".equalsIgnoreCase(scheme) ? httpsProxy : httpProxy;
        if (proxy == null || bypass(host)) {
            return null;
        }
        return toHost(proxy);
    }

    /** The host names of the configured proxies (the SSRF guard does not judge them: they are not origins). */
    public Set<String> proxyHosts() {
        Set<String> out = new HashSet<>();
        for (String p : new String[] {httpProxy, httpsProxy}) {
            if (p != null) {
                out.add(toHost(p).getHostName().toLowerCase(Locale.ROOT));
            }
        }
        return out;
    }

    /** True when {@code host} is reached directly (NO_PROXY). */
    public boolean bypass(String host) {
        String h = stripBrackets(host.toLowerCase(Locale.ROOT));
        for (String entry : noProxy) {
            if (entry.equals("*")) {
                return true;
            }
            String e = stripPort(entry);
            if (e.startsWith(".")) {
                e = e.substring(1);
            }
            e = stripBrackets(e);
            if (e.isEmpty()) {
                continue;
            }
            if (h.equals(e) || (!AddressPolicy.isIpLiteral(h) && h.endsWith("." + e))) {
                return true;
            }
            if (AddressPolicy.isIpLiteral(h) && (e.indexOf('/') > 0 || AddressPolicy.isIpLiteral(e))) {
                try {
                    InetAddress a = InetAddress.getByName(h); // a literal: no lookup
                    AddressPolicy only = AddressPolicy.of(List.of(), List.of(e));
                    if (only.refusal(a) != null && only.refusal(a).startsWith("denied by")) {
                        return true;
                    }
                } catch (UnknownHostException | IllegalArgumentException ignored) {
                    // not a CIDR after all: no match
                }
            }
        }
        return false;
    }

    private static String normalize(String proxy) {
        String p = proxy.trim();
        if (!p.contains("://")) {
            p = "http://" + p; // curl: a proxy without a scheme is an HTTP proxy
        }
        URI u = URI.create(p);
        if (!"http".equalsIgnoreCase(u.getScheme()) || u.getHost() == null) {
            throw new IllegalArgumentException("unsupported proxy '" + proxy + "': expected http://host:port");
        }
        return "http://" + (u.getHost().contains(":") && !u.getHost().startsWith("[") ? "[" + u.getHost() + "]" : u.getHost())
                + ":" + (u.getPort() > 0 ? u.getPort() : 1080);
    }

    private static HttpHost toHost(String normalized) {
        URI u = URI.create(normalized);
        return new HttpHost("http", u.getHost(), u.getPort());
    }

    private static String stripPort(String entry) {
        if (entry.startsWith("[")) {
            int close = entry.indexOf(']');
            return close > 0 ? entry.substring(0, close + 1) : entry;
        }
        int colon = entry.indexOf(':');
        return colon > 0 && entry.indexOf(':', colon + 1) < 0 ? entry.substring(0, colon) : entry;
    }

    private static String stripBrackets(String h) {
        return h.startsWith("[") && h.endsWith("]") ? h.substring(1, h.length() - 1) : h;
    }

    private static String blankToNull(String s) {
        return s == null || s.isBlank() ? null : s.trim();
    }

    @Override
    public String toString() {
        // Proxy URLs may carry user info: never log them whole.
        return isEmpty() ? "no proxy" : "proxy http " + (httpProxy != null) + ", https " + (httpsProxy != null)
                + ", no-proxy " + noProxy.size() + " entries";
    }
}
