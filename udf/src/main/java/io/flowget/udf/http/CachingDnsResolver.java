package io.flowget.udf.http;

import org.apache.hc.client5.http.DnsResolver;
import org.apache.hc.client5.http.SystemDefaultDnsResolver;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.Expiry;
import com.github.benmanes.caffeine.cache.Ticker;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A caching {@link DnsResolver} (Caffeine): a name is looked up once per {@code ttl}, a failed lookup is
 * remembered for {@code negativeTtl}, and no lookup may take longer than {@code timeout}. It returns every
 * address of the name: HttpClient's async connect ({@code MultihomeIOSessionRequester}) tries them in order and
 * moves to the next one when a connect fails, so a dead address of a multi-homed name costs one connect timeout,
 * not the request.
 *
 * <p>Why: without it every new connection does a blocking {@code getaddrinfo} (the JVM's own cache keeps names
 * for 30 s and cannot be tuned per use); with thousands of hosts and short-lived connections that is a lookup per
 * request and a slow resolver stalls the I/O reactor. Lookups run on a small daemon pool so that a hung resolver
 * costs at most {@code timeout}; concurrent lookups of one name wait for the same result. The TTL is flowget's,
 * not the record's (the JDK does not expose record TTLs); keep it short where names move.
 *
 * <p>Literal IP hosts are returned without caching or lookup. Thread-safe.
 */
public final class CachingDnsResolver implements DnsResolver, AutoCloseable {
    /** The actual lookup; {@link InetAddress#getAllByName} in production. */
    @FunctionalInterface
    public interface Lookup {
        InetAddress[] lookup(String host) throws UnknownHostException;
    }

    private static final int LOOKUP_THREADS = 4;
    private static final int MAX_PENDING = 1024;
    /** How long a {@link #prefetch} that found the resolver saturated waits before its caller asks again. */
    static final long SATURATED_RETRY_MILLIS = 50;
    private static final AtomicInteger POOLS = new AtomicInteger();

    private final Lookup lookup;
    private final Duration timeout;
    private final Cache<String, Result> cache;
    private final ThreadPoolExecutor executor;
    /** Runs {@link #prefetch}es: each waits (bounded) for a lookup on {@link #executor}, never the caller. */
    private final ThreadPoolExecutor prefetcher;
    private final AtomicLong lookups = new AtomicLong();

    /** A resolver over the system's lookup ({@link InetAddress#getAllByName}). */
    public CachingDnsResolver(Duration ttl, Duration negativeTtl, Duration timeout, long maxNames) {
        this(InetAddress::getAllByName, Ticker.systemTicker(), ttl, negativeTtl, timeout, maxNames);
    }

    /** A resolver over any lookup, with the clock that expires entries (tests pass their own). */
    public CachingDnsResolver(
            Lookup lookup, Ticker ticker, Duration ttl, Duration negativeTtl, Duration timeout, long maxNames) {
        this.lookup = lookup;
        this.timeout = timeout;
        this.cache =
                Caffeine.newBuilder()
                        .ticker(ticker)
                        .maximumSize(maxNames)
                        .expireAfter(
                                new Expiry<String, Result>() {
                                    @Override
                                    public long expireAfterCreate(String key, Result value, long currentTime) {
                                        return (value.error == null ? ttl : negativeTtl).toNanos();
                                    }

                                    @Override
                                    public long expireAfterUpdate(
                                            String key, Result value, long currentTime, long currentDuration) {
                                        return expireAfterCreate(key, value, currentTime);
                                    }

                                    @Override
                                    public long expireAfterRead(
                                            String key, Result value, long currentTime, long currentDuration) {
                                        return currentDuration;
                                    }
                                })
                        .build();
        int pool = POOLS.incrementAndGet();
        this.executor = daemonPool("flowget-dns-" + pool + "-", LOOKUP_THREADS);
        this.prefetcher = daemonPool("flowget-dns-prefetch-" + pool + "-", 2 * LOOKUP_THREADS);
    }

    /** {@code threads} daemon threads named {@code prefix<n>}, idle ones ended, at most MAX_PENDING queued. */
    private static ThreadPoolExecutor daemonPool(String prefix, int threads) {
        AtomicInteger n = new AtomicInteger();
        ThreadPoolExecutor e =
                new ThreadPoolExecutor(
                        threads,
                        threads,
                        30,
                        TimeUnit.SECONDS,
                        new LinkedBlockingQueue<>(MAX_PENDING),
                        r -> {
                            Thread t = new Thread(r, prefix + n.incrementAndGet());
                            t.setDaemon(true);
                            return t;
                        });
        e.allowCoreThreadTimeOut(true);
        return e;
    }

    /**
     * True when {@link #resolve} of {@code host} answers at once, without a lookup: a literal IP, or a name whose
     * result (addresses or failure) is cached.
     */
    public boolean answersAtOnce(String host) {
        return AddressPolicy.isIpLiteral(host) || cache.getIfPresent(host.toLowerCase(java.util.Locale.ROOT)) != null;
    }

    /**
     * Resolves {@code host} into the cache off the calling thread (the operator's task thread must never wait for
     * DNS): the future completes, on a resolver thread, once {@link #answersAtOnce} holds, or after the lookup
     * failed without a cacheable result. When every lookup thread and queue slot is taken (the resolver is
     * saturated, which says nothing about this name), it completes after a short pause instead, so the caller
     * simply asks again; a saturated pool is never cached or reported as the name's failure.
     */
    public CompletableFuture<Void> prefetch(String host) {
        if (answersAtOnce(host)) {
            return CompletableFuture.completedFuture(null);
        }
        CompletableFuture<Void> done = new CompletableFuture<>();
        try {
            prefetcher.execute(() -> {
                try {
                    resolve(host);
                } catch (UnknownHostException | RuntimeException e) {
                    // cached (a failure of the name) or not (saturated): the caller looks again either way
                } finally {
                    if (answersAtOnce(host)) {
                        done.complete(null);
                    } else {
                        completeLater(done); // the lookup pool was saturated: nothing was cached
                    }
                }
            });
        } catch (RejectedExecutionException saturated) {
            completeLater(done);
        }
        return done;
    }

    private static void completeLater(CompletableFuture<Void> done) {
        CompletableFuture.delayedExecutor(SATURATED_RETRY_MILLIS, TimeUnit.MILLISECONDS)
                .execute(() -> done.complete(null));
    }

    @Override
    public InetAddress[] resolve(String host) throws UnknownHostException {
        if (AddressPolicy.isIpLiteral(host)) {
            String h = host.startsWith("[") ? host.substring(1, host.length() - 1) : host;
            return new InetAddress[] {InetAddress.getByName(h)};
        }
        Result r;
        try {
            r = cache.get(host.toLowerCase(java.util.Locale.ROOT), this::lookupBounded);
        } catch (IllegalStateException busy) {
            throw new DnsTimeoutException(busy.getMessage());
        }
        if (r.error != null) {
            // A fresh exception per caller: the cached one's stack trace belongs to another request.
            UnknownHostException e =
                    r.error instanceof DnsTimeoutException
                            ? new DnsTimeoutException(r.error.getMessage())
                            : new UnknownHostException(r.error.getMessage());
            throw e;
        }
        return r.addresses.clone();
    }

    private Result lookupBounded(String host) {
        lookups.incrementAndGet();
        Future<InetAddress[]> f;
        try {
            f = executor.submit(() -> lookup.lookup(host));
        } catch (RejectedExecutionException e) {
            // Not cached as a negative result: the name is not at fault.
            throw new IllegalStateException("dns: too many lookups pending", e);
        }
        try {
            InetAddress[] a = f.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
            if (a == null || a.length == 0) {
                return new Result(null, new UnknownHostException(host));
            }
            return new Result(a, null);
        } catch (TimeoutException e) {
            f.cancel(true);
            return new Result(
                    null, new DnsTimeoutException("dns: lookup of " + host + " timed out after " + seconds(timeout)));
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            return new Result(null, c instanceof UnknownHostException u ? u : new UnknownHostException(host));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            f.cancel(true);
            return new Result(null, new UnknownHostException(host + " (interrupted)"));
        }
    }

    @Override
    public String resolveCanonicalHostname(String host) throws UnknownHostException {
        return SystemDefaultDnsResolver.INSTANCE.resolveCanonicalHostname(host);
    }

    /** Forgets every cached answer, addresses and failures alike (a kept client taken by a new run). */
    public void forgetAll() {
        cache.invalidateAll();
    }

    /** Lookups actually performed (cache misses), for tests and metrics. */
    public long lookups() {
        return lookups.get();
    }

    @Override
    public void close() {
        prefetcher.shutdownNow();
        executor.shutdownNow();
    }

    private static String seconds(Duration d) {
        long ms = d.toMillis();
        return ms % 1000 == 0 ? (ms / 1000) + "s" : ms + "ms";
    }

    /** A cached lookup: addresses, or the failure to remember. */
    private record Result(InetAddress[] addresses, UnknownHostException error) {}
}
