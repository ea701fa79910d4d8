package io.flowget.udf.http;

import com.github.benmanes.caffeine.cache.Ticker;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The caching resolver over a small in-memory zone (names never leave the process: this machine has no DNS to
 * ask) and over the system resolver for {@code localhost}. Time is Caffeine's {@link Ticker}, advanced by hand.
 */
class CachingDnsResolverTest {
    private final AtomicLong nanos = new AtomicLong(1_000_000_000L);
    private final Ticker ticker = nanos::get;
    private final Map<String, InetAddress[]> zone = new ConcurrentHashMap<>();
    private final Map<String, AtomicLong> asked = new ConcurrentHashMap<>();
    private CachingDnsResolver resolver;

    @AfterEach
    void close() {
        if (resolver != null) {
            resolver.close();
        }
    }

    private CachingDnsResolver resolver(Duration ttl, Duration negativeTtl, Duration timeout) {
        resolver =
                new CachingDnsResolver(
                        host -> {
                            asked.computeIfAbsent(host, h -> new AtomicLong()).incrementAndGet();
                            InetAddress[] a = zone.get(host);
                            if (a == null) {
                                throw new UnknownHostException(host);
                            }
                            return a;
                        },
                        ticker,
                        ttl,
                        negativeTtl,
                        timeout,
                        1000);
        return resolver;
    }

    @Test
    void cachesEveryAddressForTheTtlThenLooksUpAgain() throws Exception {
        zone.put("multi.test", new InetAddress[] {ip("127.0.0.3"), ip("127.0.0.4"), ip("::1")});
        CachingDnsResolver r = resolver(Duration.ofSeconds(60), Duration.ofSeconds(5), Duration.ofSeconds(5));

        for (int i = 0; i < 5; i++) {
            assertThat(r.resolve("multi.test")).containsExactly(ip("127.0.0.3"), ip("127.0.0.4"), ip("::1"));
        }
        assertThat(r.resolve("MULTI.test")).hasSize(3);
        assertThat(asked.get("multi.test").get()).as("one lookup while cached").isEqualTo(1);

        zone.put("multi.test", new InetAddress[] {ip("127.0.0.5")});
        nanos.addAndGet(Duration.ofSeconds(59).toNanos());
        assertThat(r.resolve("multi.test")).hasSize(3);
        nanos.addAndGet(Duration.ofSeconds(2).toNanos());
        assertThat(r.resolve("multi.test")).containsExactly(ip("127.0.0.5"));
        assertThat(asked.get("multi.test").get()).isEqualTo(2);
        assertThat(r.lookups()).isEqualTo(2);
    }

    @Test
    void remembersUnknownNamesForTheNegativeTtl() throws Exception {
        CachingDnsResolver r = resolver(Duration.ofSeconds(60), Duration.ofSeconds(5), Duration.ofSeconds(5));

        assertThatThrownBy(() -> r.resolve("nx.test")).isInstanceOf(UnknownHostException.class);
        assertThatThrownBy(() -> r.resolve("nx.test")).isInstanceOf(UnknownHostException.class);
        assertThat(asked.get("nx.test").get()).isEqualTo(1);

        zone.put("nx.test", new InetAddress[] {ip("127.0.0.6")});
        nanos.addAndGet(Duration.ofSeconds(4).toNanos());
        assertThatThrownBy(() -> r.resolve("nx.test")).isInstanceOf(UnknownHostException.class);
        nanos.addAndGet(Duration.ofSeconds(2).toNanos());
        assertThat(r.resolve("nx.test")).containsExactly(ip("127.0.0.6"));
        assertThat(asked.get("nx.test").get()).isEqualTo(2);
    }

    @Test
    void aHungLookupTimesOutAndIsRememberedBriefly() throws Exception {
        CountDownLatch never = new CountDownLatch(1);
        resolver =
                new CachingDnsResolver(
                        host -> {
                            asked.computeIfAbsent(host, h -> new AtomicLong()).incrementAndGet();
                            try {
                                never.await();
                            } catch (InterruptedException e) {
                                Thread.currentThread().interrupt(); // cancelled by the timeout
                            }
                            return new InetAddress[0];
                        },
                        ticker,
                        Duration.ofSeconds(60),
                        Duration.ofSeconds(5),
                        Duration.ofMillis(50),
                        1000);
        try {
            assertThatThrownBy(() -> resolver.resolve("slow.test"))
                    .isInstanceOf(DnsTimeoutException.class)
                    .hasMessage("dns: lookup of slow.test timed out after 50ms");
            assertThatThrownBy(() -> resolver.resolve("slow.test")).isInstanceOf(DnsTimeoutException.class);
            assertThat(asked.get("slow.test").get()).isEqualTo(1);
        } finally {
            never.countDown();
        }
    }

    @Test
    void literalAddressesNeedNoLookup() throws Exception {
        CachingDnsResolver r = resolver(Duration.ofSeconds(60), Duration.ofSeconds(5), Duration.ofSeconds(5));
        assertThat(r.resolve("127.0.0.9")).containsExactly(ip("127.0.0.9"));
        assertThat(r.resolve("[::1]")).containsExactly(ip("::1"));
        assertThat(r.lookups()).isZero();
    }

    @Test
    void systemLookupOfLocalhostIsLoopback() throws Exception {
        // /etc/hosts answers localhost: no packet leaves the machine.
        resolver = new CachingDnsResolver(Duration.ofSeconds(60), Duration.ofSeconds(5), Duration.ofSeconds(5), 10);
        assertThat(List.of(resolver.resolve("localhost"))).isNotEmpty().allMatch(InetAddress::isLoopbackAddress);
    }

    @Test
    void guardDropsRefusedAddressesAndRefusesWhenNoneIsLeft() throws Exception {
        zone.put("mixed.test", new InetAddress[] {ip("169.254.169.254"), ip("127.0.0.7")});
        zone.put("metadata.test", new InetAddress[] {ip("169.254.169.254"), ip("fd00:ec2::254")});
        GuardedDnsResolver guard =
                new GuardedDnsResolver(
                        resolver(Duration.ofSeconds(60), Duration.ofSeconds(5), Duration.ofSeconds(5)),
                        AddressPolicy.of(List.of(), List.of()));

        assertThat(guard.resolve("mixed.test")).containsExactly(ip("127.0.0.7"));
        assertThatThrownBy(() -> guard.resolve("metadata.test"))
                .isInstanceOf(BlockedAddressException.class)
                .hasMessage("blocked address: metadata.test resolves to 169.254.169.254 (link-local / cloud metadata)");
        assertThatThrownBy(() -> guard.resolve("169.254.169.254"))
                .isInstanceOf(BlockedAddressException.class)
                .hasMessage("blocked address: 169.254.169.254 (link-local / cloud metadata)");
        assertThat(guard.resolve("127.0.0.1", 80)).hasSize(1);
    }

    private static InetAddress ip(String literal) throws Exception {
        return InetAddress.getByName(literal);
    }

    @Test
    @org.junit.jupiter.api.Timeout(90)
    void prefetchResolvesOffTheCallerAndASaturatedPoolIsNotTheNamesFailure() throws Exception {
        CountDownLatch hold = new CountDownLatch(1);
        zone.put("fine.test", new InetAddress[] {ip("127.0.0.5")});
        resolver = new CachingDnsResolver(host -> {
            if (host.startsWith("held-")) {
                try {
                    hold.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new UnknownHostException(host + " (interrupted)");
                }
            }
            InetAddress[] a = zone.get(host);
            if (a == null) {
                throw new UnknownHostException(host);
            }
            return a;
        }, ticker, Duration.ofSeconds(60), Duration.ofSeconds(5), Duration.ofSeconds(60), 10_000);
        try {
            java.util.List<java.util.concurrent.CompletableFuture<Void>> held = new java.util.ArrayList<>();
            for (int i = 0; i < 1100; i++) { // more than the lookup threads, the prefetchers and both queues hold
                held.add(resolver.prefetch("held-" + i + ".test"));
            }
            assertThat(resolver.answersAtOnce("fine.test")).isFalse();

            resolver.prefetch("fine.test").get(10, java.util.concurrent.TimeUnit.SECONDS);

            assertThat(resolver.answersAtOnce("fine.test")).as("saturated: nothing cached, no failure remembered").isFalse();
            hold.countDown();
            resolver.prefetch("fine.test").get(30, java.util.concurrent.TimeUnit.SECONDS);
            while (!resolver.answersAtOnce("fine.test")) { // bounded by the test's own timeout below
                resolver.prefetch("fine.test").get(30, java.util.concurrent.TimeUnit.SECONDS);
            }
            assertThat(resolver.resolve("fine.test")).containsExactly(ip("127.0.0.5"));
            assertThat(resolver.answersAtOnce("127.0.0.9")).as("literal IPs need no lookup").isTrue();
        } finally {
            hold.countDown();
        }
    }
}
