package io.flowget.udf.http;

import io.flowget.udf.body.Digests;
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
import org.apache.hc.core5.function.Decorator;
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
import org.apache.hc.core5.reactor.IOSession;
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
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * One {@link CloseableHttpAsyncClient} per TaskManager JVM (per distinct {@link HttpClientSettings} and what they
 * name outside the configuration: the CA file's content, the proxy credentials' value), shared by every fetch
 * subtask in it: the first {@link #acquire} creates and starts it; when the last lease is {@link #release}d the
 * client is closed, or, if the leases asked for it ({@code flowget.http.client-linger}, which a daemon's runs set),
 * kept idle that long for the next run in the JVM, with its I/O threads, TLS sessions and idle connections.
 *
 * <p>Why shared: connections, the I/O reactor threads and TLS sessions are per-process resources; one pool per
 * subtask would multiply sockets and threads by the slot count and defeat keep-alive across subtasks.
 *
 * <p>A kept client (issue 16: a 5,000-file run through the daemon opened ~600 connections, ~20-25 µs per file on the
 * I/O threads): its idle connections stay bounded by the pool's limits and are closed by the pool's idle eviction
 * ({@code flowget.http.pool.idle-eviction}) and time to live as in a run; the client itself is closed once it has
 * been idle for its linger ({@code flowget-http-linger} thread), by {@link #closeIdle} (a daemon that stops), or
 * when more than {@link #MAX_KEPT} idle clients are kept (the longest idle first). Nothing of a run stays in it for
 * the next: cookies and auth caching are off and every exchange has its own context; the lease's connection counts
 * start at zero ({@link ConnectionStats#since}); the DNS cache is emptied when a kept client is taken again, so a new
 * run resolves names anew as a new process would; a large-buffer slot an ended run never gave back gets the next run
 * a fresh {@link LargeBuffers}. A lease's linger is part of the key: a lingering client is never shared with leases
 * that close theirs (the daemon's warm-up rounds, tests).
 *
 * <p>Thread-safe: acquire/release/expiry synchronise on the class. The client itself is thread-safe.
 */
@Internal
public final class HttpClientHolder {
    private static final Logger LOG = LoggerFactory.getLogger(HttpClientHolder.class);

    /** Idle (released, lingering) clients kept at most; the longest idle is closed first. */
    static final int MAX_KEPT = 4;

    private static final Map<Key, Entry> CLIENTS = new HashMap<>();
    /** Closes lingering clients when their linger ends; created with the first one (daemon thread). */
    private static ScheduledThreadPoolExecutor expiries;
    /** Names the DNS cache holds at most (about 200 bytes each). */
    private static final long DNS_CACHE_NAMES = 100_000;
    /**
     * Bounds of a response head, HTTP/1.1 and HTTP/2 alike: at most this many header lines of at most this many
     * characters (a longer head fails the attempt as a protocol error; a Location up to the URL limit fits).
     */
    static final int MAX_HEADER_LINE = 16 * 1024;
    /** SETTINGS_MAX_FRAME_SIZE flowget advertises: the protocol's minimum (RFC 9113 §6.5.2). */
    static final int H2_MAX_FRAME = 16 * 1024;
    static final int MAX_HEADER_COUNT = 128;

    private HttpClientHolder() {}

    /**
     * A started, shared client plus its pool (for statistics), leased to one owner: {@code connections} counts
     * what was opened since this lease began; {@code linger} is how long the client outlives its last lease.
     */
    public record Lease(
            HttpClientSettings settings,
            CloseableHttpAsyncClient client,
            PoolingAsyncClientConnectionManager pool,
            ConnectionStats connections,
            CachingDnsResolver dns,
            LargeBuffers large,
            Duration linger) {}

    /**
     * What makes two leases share a client: the settings, the content of what they name outside the configuration
     * (a hash), and whether the client lingers after its last lease.
     */
    private record Key(HttpClientSettings settings, String material, boolean lingers) {}

    private static final class Entry {
        final Key key;
        final Built main;
        final ConnectionStats stats;
        final CachingDnsResolver dns;
        final Supplier<LargeBuffers> newLarge;
        LargeBuffers large;
        int refs;
        /** When the last lease was released (nanoTime), while {@code refs == 0}. */
        long idleSince;
        ScheduledFuture<?> expiry;
        int runs;

        Entry(Key key, Built main, ConnectionStats stats, CachingDnsResolver dns, Supplier<LargeBuffers> newLarge) {
            this.key = key;
            this.main = main;
            this.stats = stats;
            this.dns = dns;
            this.newLarge = newLarge;
            this.large = newLarge.get();
        }

        void close() {
            if (expiry != null) {
                expiry.cancel(false);
            }
            // Graceful: lets in-flight exchanges of other owners (there are none at refs 0) finish.
            main.client().close(CloseMode.GRACEFUL);
            large.close();
            dns.close();
        }
    }

    /** A lease on the client of {@code settings} that is closed with its last lease (a cold run's, a test's). */
    public static Lease acquire(HttpClientSettings settings) {
        return acquire(settings, Duration.ZERO);
    }

    /**
     * A lease on the client of {@code settings}; with a positive {@code linger} the client stays, idle, that long
     * after its last lease is released, for the next lease of equal settings and linger.
     *
     * @throws IllegalArgumentException when the CA file or the proxy credentials the settings name cannot be read
     */
    public static Lease acquire(HttpClientSettings settings, Duration linger) {
        boolean lingers = linger != null && !linger.isNegative() && !linger.isZero();
        Key key = new Key(settings, material(settings), lingers);
        synchronized (HttpClientHolder.class) {
            Entry e = CLIENTS.get(key);
            if (e == null) {
                e = create(key);
                CLIENTS.put(key, e);
                LOG.info(
                        "Started shared HTTP client: pool {} total / {} per route, {} I/O threads, HTTP {},"
                                + " DNS ttl {} (negative {}), address policy {}{}",
                        settings.maxTotal(),
                        settings.maxPerRoute(),
                        settings.ioThreads(),
                        settings.httpVersion(),
                        settings.dnsTtl(),
                        settings.dnsNegativeTtl(),
                        settings.addressPolicy(),
                        lingers ? ", kept " + linger + " after its last run" : "");
            } else if (e.refs == 0) {
                reuse(e);
            }
            e.refs++;
            return new Lease(settings, e.main.client(), e.main.pool(), e.stats.since(), e.dns, e.large,
                    lingers ? linger : Duration.ZERO);
        }
    }

    /** A kept client taken by a new run: what the last run left that a new one must not see goes. */
    private static void reuse(Entry e) {
        if (e.expiry != null) {
            e.expiry.cancel(false);
            e.expiry = null;
        }
        e.runs++;
        e.dns.forgetAll(); // resolve anew, as a new process would (kept connections keep their address)
        if (e.large.inUse() != 0) {
            LOG.warn("The kept HTTP client's large-buffer budget had {} slot(s) still taken after its last run:"
                    + " the next run gets a fresh one", e.large.inUse());
            e.large.close();
            e.large = e.newLarge.get();
        }
        LOG.info("Reusing the kept HTTP client (run {} on it, idle {} ms, {} connection(s) open)", e.runs + 1,
                (System.nanoTime() - e.idleSince) / 1_000_000, e.stats.open());
    }

    /** Releases a lease: the client closes with its last lease, or lingers for the lease's linger. */
    public static synchronized void release(Lease lease) {
        Entry e = null;
        for (Entry c : CLIENTS.values()) {
            if (c.main.client() == lease.client()) {
                e = c;
                break;
            }
        }
        if (e == null || e.refs == 0) {
            return;
        }
        if (--e.refs > 0) {
            return;
        }
        Duration linger = lease.linger();
        if (linger == null || linger.isZero() || linger.isNegative() || !e.key.lingers()) {
            CLIENTS.remove(e.key);
            e.close();
            LOG.info("Closed shared HTTP client");
            return;
        }
        e.idleSince = System.nanoTime();
        Entry kept = e;
        e.expiry = expiries().schedule(() -> expire(kept), linger.toNanos(), TimeUnit.NANOSECONDS);
        LOG.info("Keeping the shared HTTP client for the next run, at most {} idle ({} connection(s) open)", linger,
                e.stats.open());
        trimKept();
    }

    /** The linger of an idle client ended: closed unless a lease took it meanwhile. */
    private static synchronized void expire(Entry e) {
        if (e.refs == 0 && CLIENTS.get(e.key) == e) {
            CLIENTS.remove(e.key);
            e.close();
            LOG.info("Closed the kept HTTP client: idle for its linger");
        }
    }

    /** More than {@link #MAX_KEPT} idle clients: the longest idle are closed. */
    private static void trimKept() {
        List<Entry> idle = new ArrayList<>();
        for (Entry c : CLIENTS.values()) {
            if (c.refs == 0) {
                idle.add(c);
            }
        }
        idle.sort(Comparator.comparingLong(c -> c.idleSince));
        for (int i = 0; i < idle.size() - MAX_KEPT; i++) {
            CLIENTS.remove(idle.get(i).key);
            idle.get(i).close();
            LOG.info("Closed a kept HTTP client: more than {} kept", MAX_KEPT);
        }
    }

    /** Closes every client no lease holds (a daemon that stops); returns how many. */
    public static synchronized int closeIdle() {
        List<Entry> idle = new ArrayList<>();
        for (Entry c : CLIENTS.values()) {
            if (c.refs == 0) {
                idle.add(c);
            }
        }
        for (Entry c : idle) {
            CLIENTS.remove(c.key);
            c.close();
        }
        if (!idle.isEmpty()) {
            LOG.info("Closed {} kept HTTP client(s)", idle.size());
        }
        return idle.size();
    }

    private static ScheduledThreadPoolExecutor expiries() {
        if (expiries == null) {
            expiries = new ScheduledThreadPoolExecutor(1, r -> {
                Thread t = new Thread(r, "flowget-http-linger");
                t.setDaemon(true);
                return t;
            });
            expiries.setRemoveOnCancelPolicy(true);
        }
        return expiries;
    }

    /**
     * A hash of what the settings name outside the configuration and the client is built from: the CA file's bytes
     * and the proxy credentials' value (a changed file or secret between two runs gets the second a new client).
     */
    private static String material(HttpClientSettings s) {
        if (s.caCert() == null && s.proxy().credentialsSecret() == null) {
            return "";
        }
        MessageDigest sha = Digests.newSha256();
        if (s.caCert() != null && !s.tlsInsecure()) {
            sha.update(readCaCert(Path.of(s.caCert())));
        }
        sha.update((byte) 0);
        if (s.proxy().credentialsSecret() != null) {
            sha.update(proxyUserPassword(s.proxy()).getBytes(StandardCharsets.UTF_8));
        }
        return HexFormat.of().formatHex(sha.digest());
    }

    private static byte[] readCaCert(Path pem) {
        try {
            return Files.readAllBytes(pem);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot load CA certificates from " + pem + ": " + e.getMessage(), e);
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

    /** Number of live shared clients, kept idle ones included (tests assert it returns to zero). */
    public static synchronized int liveClients() {
        return CLIENTS.size();
    }

    /** Clients no lease holds, kept for the next run. */
    public static synchronized int keptClients() {
        int n = 0;
        for (Entry c : CLIENTS.values()) {
            if (c.refs == 0) {
                n++;
            }
        }
        return n;
    }

    private static Entry create(Key key) {
        HttpClientSettings s = key.settings();
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
        Supplier<LargeBuffers> large =
                () -> new LargeBuffers(
                        slots,
                        () -> build(s, dns, stats, s.largeBufferSize(), SSLBufferMode.STATIC, slots, slots).client());
        return new Entry(key, main, stats, dns, large);
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
                        // The protocol's smallest largest frame (16 KiB), not the builder's 64 KiB: HttpCore sizes
                        // each HTTP/2 connection's frame input buffer by it, for the connection's life, and each
                        // download has its own connection (InFlightHeapTest: 92-93 KiB per HTTP/2 download with
                        // 64 KiB). Servers seldom send larger frames even when allowed.
                        .setMaxFrameSize(H2_MAX_FRAME)
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
                        .setIoSessionDecorator(sessionDecorator())
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

    /**
     * HttpClient's I/O session decorator when its session or wire log is at DEBUG (its own, which logs every event of
     * a session), else none. Its default looks up a logger for every connection it opens, and SLF4J over Log4j finds
     * that logger's context by walking the caller's stack (class-loader context selector): about 3.5 µs of each small
     * file through a daemon that opened ~600 connections per 5,000 files (issue 16). The levels are read when the
     * client is built.
     */
    static Decorator<IOSession> sessionDecorator() {
        boolean debug = LoggerFactory.getLogger(IOSESSION_LOGGER).isDebugEnabled()
                || LoggerFactory.getLogger(WIRE_LOGGER).isDebugEnabled();
        return debug ? null : session -> session;
    }

    /** The loggers HttpClient's session decorator logs to: the session's class, the wire. */
    private static final String IOSESSION_LOGGER = "org.apache.hc.core5.reactor.IOSessionImpl";
    private static final String WIRE_LOGGER = "org.apache.hc.client5.http.wire";

    /** Basic credentials for the proxies, from the secret {@code flowget.http.proxy-credentials-secret} names. */
    private static java.util.Optional<BasicCredentialsProvider> proxyCredentials(ProxySelection proxy) {
        if (proxy.credentialsSecret() == null) {
            return java.util.Optional.empty();
        }
        String userPassword = proxyUserPassword(proxy);
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

    /** The value of the proxy credentials' secret ({@code user:password}). */
    private static String proxyUserPassword(ProxySelection proxy) {
        try {
            Path dir = proxy.secretsDir() == null ? null : Path.of(proxy.secretsDir());
            return new Secrets(dir, proxy.secretsEnvPrefix(), System.getenv()).value(proxy.credentialsSecret());
        } catch (IOException e) {
            throw new IllegalArgumentException(
                    FlowgetOptions.HTTP_PROXY_CREDENTIALS_SECRET.key() + ": " + e.getMessage(), e);
        }
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
