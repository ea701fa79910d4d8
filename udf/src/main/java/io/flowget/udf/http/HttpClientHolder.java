package io.flowget.udf.http;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.secret.Secrets;

import org.apache.flink.annotation.Internal;

import org.apache.hc.client5.http.auth.AuthScope;
import org.apache.hc.client5.http.auth.UsernamePasswordCredentials;
import org.apache.hc.client5.http.config.ConnectionConfig;
import org.apache.hc.client5.http.config.TlsConfig;
import org.apache.hc.client5.http.config.RequestConfig;
import org.apache.hc.client5.http.impl.async.CloseableHttpAsyncClient;
import org.apache.hc.client5.http.impl.async.HttpAsyncClientBuilder;
import org.apache.hc.client5.http.impl.async.HttpAsyncClients;
import org.apache.hc.client5.http.impl.auth.BasicCredentialsProvider;
import org.apache.hc.client5.http.impl.nio.PoolingAsyncClientConnectionManager;
import org.apache.hc.client5.http.impl.nio.PoolingAsyncClientConnectionManagerBuilder;
import org.apache.hc.client5.http.ssl.ClientTlsStrategyBuilder;
import org.apache.hc.client5.http.ssl.HostnameVerificationPolicy;
import org.apache.hc.client5.http.ssl.NoopHostnameVerifier;
import org.apache.hc.client5.http.ssl.TrustAllStrategy;
import org.apache.hc.core5.http.config.Http1Config;
import org.apache.hc.core5.http.nio.ssl.TlsStrategy;
import org.apache.hc.core5.http.ssl.TLS;
import org.apache.hc.core5.http2.HttpVersionPolicy;
import org.apache.hc.core5.http2.config.H2Config;
import org.apache.hc.core5.ssl.SSLContexts;
import org.apache.hc.core5.io.CloseMode;
import org.apache.hc.core5.pool.PoolConcurrencyPolicy;
import org.apache.hc.core5.pool.PoolReusePolicy;
import org.apache.hc.core5.reactor.ssl.SSLBufferMode;
import org.apache.hc.core5.reactor.IOReactorConfig;
import org.apache.hc.core5.util.TimeValue;
import org.apache.hc.core5.util.Timeout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.HashMap;
import java.util.Map;

/**
 * One {@link CloseableHttpAsyncClient} per TaskManager JVM (per distinct {@link HttpClientSettings}), shared by
 * every fetch subtask in it: the first {@link #acquire} creates and starts it, the last {@link #release} closes it.
 *
 * <p>Why shared: connections, the I/O reactor threads and TLS sessions are per-process resources; one pool per
 * subtask would multiply sockets and threads by the slot count and defeat keep-alive across subtasks.
 *
 * <p>Thread-safe: acquire/release synchronise on the class. The client itself is thread-safe.
 */
@Internal
public final class HttpClientHolder {
    private static final Logger LOG = LoggerFactory.getLogger(HttpClientHolder.class);

    private static final Map<HttpClientSettings, Entry> CLIENTS = new HashMap<>();
    /** Names the DNS cache holds at most (about 200 bytes each). */
    private static final long DNS_CACHE_NAMES = 100_000;
    /**
     * Bounds of a response head, HTTP/1.1 and HTTP/2 alike: at most this many header lines of at most this many
     * characters (a longer head fails the attempt as a protocol error; a Location up to the URL limit fits).
     */
    static final int MAX_HEADER_LINE = 16 * 1024;
    static final int MAX_HEADER_COUNT = 128;

    private HttpClientHolder() {}

    /** A started, shared client plus its pool (for statistics). */
    public record Lease(
            HttpClientSettings settings,
            CloseableHttpAsyncClient client,
            PoolingAsyncClientConnectionManager pool,
            ConnectionStats connections,
            CachingDnsResolver dns,
            LargeBuffers large) {}

    private static final class Entry {
        final Lease lease;
        int refs;

        Entry(Lease lease) {
            this.lease = lease;
        }
    }

    public static synchronized Lease acquire(HttpClientSettings settings) {
        Entry e = CLIENTS.get(settings);
        if (e == null) {
            e = new Entry(create(settings));
            CLIENTS.put(settings, e);
            LOG.info(
                    "Started shared HTTP client: pool {} total / {} per route, {} I/O threads, HTTP {},"
                            + " DNS ttl {} (negative {}), address policy {}",
                    settings.maxTotal(),
                    settings.maxPerRoute(),
                    settings.ioThreads(),
                    settings.httpVersion(),
                    settings.dnsTtl(),
                    settings.dnsNegativeTtl(),
                    settings.addressPolicy());
        }
        e.refs++;
        return e.lease;
    }

    public static synchronized void release(Lease lease) {
        Entry e = CLIENTS.get(lease.settings());
        if (e == null || e.lease != lease) {
            return;
        }
        if (--e.refs == 0) {
            CLIENTS.remove(lease.settings());
            // Graceful: lets in-flight exchanges of other owners (there are none at refs 0) finish.
            e.lease.client().close(CloseMode.GRACEFUL);
            e.lease.large().close();
            e.lease.dns().close();
            LOG.info("Closed shared HTTP client");
        }
    }

    /** TEST ONLY: the name lookup of clients created while set (null: the system's); no option reaches it. */
    private static volatile CachingDnsResolver.Lookup testLookup;

    /**
     * TEST ONLY: clients created from now on resolve names through {@code lookup} (a slow resolver, thousands of
     * names mapped to loopback); null restores the system's. No command, option or configuration key reaches this.
     */
    public static void lookupForTests(CachingDnsResolver.Lookup lookup) {
        testLookup = lookup;
    }

        /** Number of live shared clients (tests assert it returns to zero). */
    public static synchronized int liveClients() {
        return CLIENTS.size();
    }

    private static Lease create(HttpClientSettings s) {
        // SSRF guard over a caching resolver: the pool resolves through it for every connection it opens.
        CachingDnsResolver.Lookup lookup = testLookup;
        CachingDnsResolver dns =
                lookup == null
                        ? new CachingDnsResolver(s.dnsTtl(), s.dnsNegativeTtl(), s.dnsTimeout(), DNS_CACHE_NAMES)
                        : new CachingDnsResolver(lookup, com.github.benmanes.caffeine.cache.Ticker.systemTicker(),
                                s.dnsTtl(), s.dnsNegativeTtl(), s.dnsTimeout(), DNS_CACHE_NAMES);
        ConnectionStats stats = new ConnectionStats();
        Built main = build(s, dns, stats, s.bufferSize(), tlsBuffers(s), s.maxTotal(), s.maxPerRoute());
        int slots = LargeBuffers.slots(s.largeBufferBudget(), s.largeBufferSize(), s.bufferSize());
        // The large-buffer client's connections are few (its budget's slots) and move large bodies: they keep
        // their TLS buffers (STATIC, ~49 KiB each, at most ~1 MiB for 21 slots) rather than allocate them per read
        LargeBuffers large =
                new LargeBuffers(
                        slots,
                        () -> build(s, dns, stats, s.largeBufferSize(), SSLBufferMode.STATIC, slots, slots).client());
        return new Lease(s, main.client(), main.pool(), stats, dns, large);
    }

    private record Built(CloseableHttpAsyncClient client, PoolingAsyncClientConnectionManager pool) {}

    /** The main client's TLS buffer mode ({@code flowget.tls.buffer-mode}). */
    private static SSLBufferMode tlsBuffers(HttpClientSettings s) {
        return s.tlsBufferMode() == FlowgetOptions.TlsBufferMode.STATIC ? SSLBufferMode.STATIC : SSLBufferMode.DYNAMIC;
    }

    /**
     * A started client over the shared resolver and connection statistics, whose HTTP/1.1 connections have I/O
     * buffers of {@code bufferSize} bytes and TLS buffers held as {@code tlsBuffers} says, at most {@code maxTotal}
     * of them ({@code maxPerRoute} per origin).
     */
    private static Built build(
            HttpClientSettings s,
            CachingDnsResolver dns,
            ConnectionStats stats,
            int bufferSize,
            SSLBufferMode tlsBuffers,
            int maxTotal,
            int maxPerRoute) {
        AddressPolicy policy = s.addressPolicy();
        TlsConfig tlsConfig =
                TlsConfig.custom()
                        .setSupportedProtocols(TLS.V_1_3, TLS.V_1_2)
                        .setHandshakeTimeout(Timeout.of(s.connectTimeout()))
                        .setVersionPolicy(versionPolicy(s.httpVersion()))
                        .build();
        ConnectionConfig connectionConfig =
                ConnectionConfig.custom()
                        .setConnectTimeout(Timeout.of(s.connectTimeout()))
                        .setSocketTimeout(Timeout.of(s.idleTimeout()))
                        .setTimeToLive(TimeValue.of(s.connectionTtl()))
                        .setValidateAfterInactivity(TimeValue.of(s.validateAfterInactivity()))
                        .build();
        PoolingAsyncClientConnectionManager pool =
                PoolingAsyncClientConnectionManagerBuilder.create()
                        .setTlsStrategy(tlsStrategy(s, tlsBuffers))
                        .setDefaultTlsConfig(tlsConfig)
                        .setDnsResolver(new GuardedDnsResolver(dns, policy, s.proxy().proxyHosts()))
                        .setMaxConnTotal(maxTotal)
                        .setMaxConnPerRoute(maxPerRoute)
                        .setDefaultConnectionConfig(connectionConfig)
                        // HTTP/2 without sharing a connection among exchanges: one exchange per connection at
                        // a time, as with HTTP/1.1. HttpClient 5.6's sharing pool (true here) hands one pool entry to
                        // many exchanges, but an exchange that fails or is cancelled (max_bytes, a deadline, a
                        // stream reset, a corrupt body: one request's trouble) discards its endpoint, which closes
                        // the connection at once under every other stream on it; those fail too, with the first
                        // one's error, are blamed on the host, and the exchanges that had leased the entry but not
                        // yet sent reconnect it together: all but one fail "Connection already assigned"
                        // (Http2ManyStreamsTest, README "HTTP/2").
                        .setMessageMultiplexing(false)
                        // STRICT, not LAX: LAX never removes a route's pool, so its heap grew with every host ever
                        // contacted; STRICT drops a route's pool once it holds no connection (idle eviction below
                        // closes them), and closes another route's idle connection when the total is reached.
                        // Its lock costs little: each subtask leases from one task thread.
                        .setPoolConcurrencyPolicy(PoolConcurrencyPolicy.STRICT)
                        // LIFO keeps few hot connections busy and lets idle ones expire.
                        .setConnPoolPolicy(PoolReusePolicy.LIFO)
                        .build();
        IOReactorConfig reactor =
                IOReactorConfig.custom()
                        .setIoThreadCount(s.ioThreads())
                        .setSoKeepAlive(true)
                        .setTcpNoDelay(true)
                        .setSoTimeout(Timeout.of(s.idleTimeout()))
                        .build();
        RequestConfig requestConfig =
                RequestConfig.custom()
                        // "no data for N s": the socket timeout applies while waiting for the response
                        // head and between body packets alike.
                        .setResponseTimeout(Timeout.of(s.idleTimeout()))
                        .setRedirectsEnabled(false)
                        .build();
        H2Config h2 =
                H2Config.custom()
                        .setPushEnabled(false)
                        .setInitialWindowSize(s.h2InitialWindow())
                        .setMaxConcurrentStreams(s.h2MaxConcurrentStreams())
                        // The same bound on a response head as HTTP/1.1's below: lines × line length.
                        .setMaxHeaderListSize(MAX_HEADER_COUNT * MAX_HEADER_LINE)
                        .build();
        HttpAsyncClientBuilder builder = HttpAsyncClients.custom();
        if (!s.proxy().isEmpty()) {
            // Through a proxy the pool resolves only the proxy: the planner judges each origin first.
            builder.setRoutePlanner(new ProxyRoutePlanner(s.proxy(), new GuardedDnsResolver(dns, policy)));
            proxyCredentials(s.proxy()).ifPresent(builder::setDefaultCredentialsProvider);
        }
        CloseableHttpAsyncClient client =
                builder
                        .setConnectionManager(pool)
                        .setIOReactorConfig(reactor)
                        .setIOSessionListener(stats)
                        .setH2Config(h2)
                        .setDefaultRequestConfig(requestConfig)
                        // Each HTTP/1.1 connection holds three buffers of this size (session in, session out,
                        // content); HttpCore's 32 KiB default makes 96 KiB of heap per download in flight.
                        .setHttp1Config(Http1Config.custom()
                                .setBufferSize(bufferSize)
                                .setMaxLineLength(MAX_HEADER_LINE)
                                .setMaxHeaderCount(MAX_HEADER_COUNT)
                                .build())
                        .setUserAgent(s.userAgent())
                        // The operator owns redirects (per-hop checks, loop detection), retries (backoff on
                        // keyed timers) and content decoding (bounded streaming decoders).
                        .disableRedirectHandling()
                        .disableAutomaticRetries()
                        .disableContentCompression()
                        .disableCookieManagement()
                        .disableAuthCaching()
                        .evictExpiredConnections()
                        .evictIdleConnections(TimeValue.of(s.idleEviction()))
                        .build();
        client.start();
        return new Built(client, pool);
    }

    /** Basic credentials for the proxies, from the secret {@code flowget.http.proxy-credentials-secret} names. */
    private static java.util.Optional<BasicCredentialsProvider> proxyCredentials(ProxySelection proxy) {
        if (proxy.credentialsSecret() == null) {
            return java.util.Optional.empty();
        }
        String userPassword;
        try {
            Path dir = proxy.secretsDir() == null ? null : Path.of(proxy.secretsDir());
            userPassword =
                    new Secrets(dir, proxy.secretsEnvPrefix(), System.getenv()).value(proxy.credentialsSecret());
        } catch (IOException e) {
            throw new IllegalArgumentException(
                    FlowgetOptions.HTTP_PROXY_CREDENTIALS_SECRET.key() + ": " + e.getMessage(), e);
        }
        int colon = userPassword.indexOf(':');
        if (colon <= 0) {
            throw new IllegalArgumentException(
                    FlowgetOptions.HTTP_PROXY_CREDENTIALS_SECRET.key() + ": secret '" + proxy.credentialsSecret()
                            + "' is not user:password");
        }
        BasicCredentialsProvider credentials = new BasicCredentialsProvider();
        UsernamePasswordCredentials userPass =
                new UsernamePasswordCredentials(
                        userPassword.substring(0, colon), userPassword.substring(colon + 1).toCharArray());
        for (String host : proxy.proxyHosts()) {
            credentials.setCredentials(new AuthScope(host, -1), userPass);
        }
        return java.util.Optional.of(credentials);
    }

    private static HttpVersionPolicy versionPolicy(FlowgetOptions.HttpVersion v) {
        switch (v) {
            case HTTP_1_1:
                return HttpVersionPolicy.FORCE_HTTP_1;
            case HTTP_2:
                return HttpVersionPolicy.FORCE_HTTP_2;
            default:
                return HttpVersionPolicy.NEGOTIATE;
        }
    }

    /** TLS 1.3/1.2 with ALPN (h2, http/1.1 per the version policy); JVM trust plus --ca-cert, or none at all. */
    private static TlsStrategy tlsStrategy(HttpClientSettings s, SSLBufferMode tlsBuffers) {
        ClientTlsStrategyBuilder b =
                ClientTlsStrategyBuilder.create()
                        .setTlsVersions(TLS.V_1_3, TLS.V_1_2)
                        // HttpClient's default, STATIC, holds three ~16 KiB buffers per connection for its whole
                        // life: ~49 KiB of heap for every HTTPS download waiting for bytes. DYNAMIC releases
                        // them whenever they are empty (InFlightHeapTest measures both).
                        .setSslBufferMode(tlsBuffers);
        b.setSslContext(sslContext(s));
        if (s.tlsInsecure()) {
            LOG.warn(
                    "!!! {}=true: TLS certificates and host names are NOT verified. Anyone on the path can"
                            + " impersonate any origin. Use this only against test servers; prefer {}. !!!",
                    FlowgetOptions.TLS_INSECURE.key(),
                    FlowgetOptions.TLS_CA_CERT.key());
            b.setHostVerificationPolicy(HostnameVerificationPolicy.CLIENT)
                    .setHostnameVerifier(NoopHostnameVerifier.INSTANCE);
        }
        return b.buildAsync();
    }

    /**
     * The client's own SSL context (never the JVM's default): JVM trust plus {@code --ca-cert}, or none at all, with
     * its client session cache bounded to {@code flowget.tls.session-cache-size} sessions of at most {@code
     * flowget.tls.session-timeout}. The JDK's defaults (20,480 sessions, 24 hours) let it grow with every HTTPS
     * connection: ~7.6 MiB after 2,200 connections to one origin, up to ~70 MiB.
     *
     * @throws IllegalArgumentException naming the option when the size or the timeout is below its minimum
     */
    static SSLContext sslContext(HttpClientSettings s) {
        if (s.tlsSessionCacheSize() < 1) {
            throw new IllegalArgumentException(
                    FlowgetOptions.TLS_SESSION_CACHE_SIZE.key() + " must be at least 1: " + s.tlsSessionCacheSize());
        }
        long timeoutSeconds = s.tlsSessionTimeout().toSeconds();
        if (timeoutSeconds < 1) {
            throw new IllegalArgumentException(
                    FlowgetOptions.TLS_SESSION_TIMEOUT.key() + " must be at least 1 s: " + s.tlsSessionTimeout());
        }
        SSLContext ctx =
                s.tlsInsecure()
                        ? trustAllContext()
                        : s.caCert() != null ? sslContextTrusting(Path.of(s.caCert())) : SSLContexts.createDefault();
        // Both the cache by session and the one by origin (host:port) take these bounds (SSLSessionContextImpl).
        ctx.getClientSessionContext().setSessionCacheSize(s.tlsSessionCacheSize());
        ctx.getClientSessionContext().setSessionTimeout((int) Math.min(Integer.MAX_VALUE, timeoutSeconds));
        return ctx;
    }

    private static SSLContext trustAllContext() {
        try {
            return SSLContexts.custom().loadTrustMaterial(TrustAllStrategy.INSTANCE).build();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot build a trust-all SSL context", e);
        }
    }

    /** An SSL context that trusts the JVM's CAs plus those in a PEM file. */
    static SSLContext sslContextTrusting(Path pem) {
        try {
            KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
            ks.load(null, null);
            TrustManagerFactory jdk = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            jdk.init((KeyStore) null);
            int i = 0;
            for (TrustManager tm : jdk.getTrustManagers()) {
                if (tm instanceof X509TrustManager x) {
                    for (X509Certificate c : x.getAcceptedIssuers()) {
                        ks.setCertificateEntry("jdk-" + i++, c);
                    }
                }
            }
            int custom = 0;
            try (InputStream in = Files.newInputStream(pem)) {
                for (Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                    ks.setCertificateEntry("flowget-ca-" + custom++, c);
                }
            }
            if (custom == 0) {
                throw new IllegalArgumentException("no certificate in " + pem);
            }
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(ks);
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(null, tmf.getTrustManagers(), null);
            LOG.info("Trusting {} extra CA certificate(s) from {}", custom, pem);
            return ctx;
        } catch (IOException | GeneralSecurityException e) {
            throw new IllegalArgumentException("cannot load CA certificates from " + pem + ": " + e.getMessage(), e);
        }
    }
}
