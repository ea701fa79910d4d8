package io.flowget.udf.http;

import io.flowget.udf.config.FlowgetOptions;

import org.apache.flink.configuration.ReadableConfig;

import java.io.Serializable;
import java.time.Duration;

/**
 * The settings that shape the shared HTTP client. Two operators with equal settings share one client; see
 * {@link HttpClientHolder}.
 */
public record HttpClientSettings(
        int maxTotal,
        int maxPerRoute,
        Duration connectTimeout,
        Duration idleTimeout,
        Duration connectionTtl,
        Duration idleEviction,
        Duration validateAfterInactivity,
        int ioThreads,
        int bufferSize,
        int largeBufferSize,
        long largeBufferBudget,
        String userAgent,
        String caCert,
        boolean tlsInsecure,
        FlowgetOptions.TlsBufferMode tlsBufferMode,
        int tlsSessionCacheSize,
        Duration tlsSessionTimeout,
        FlowgetOptions.HttpVersion httpVersion,
        int h2InitialWindow,
        int h2MaxConcurrentStreams,
        FlowgetOptions.NetPosture posture,
        String allowCidrs,
        String denyCidrs,
        Duration dnsTtl,
        Duration dnsNegativeTtl,
        Duration dnsTimeout,
        ProxySelection proxy)
        implements Serializable {

    public static HttpClientSettings from(ReadableConfig conf) {
        return new HttpClientSettings(
                conf.get(FlowgetOptions.HTTP_POOL_MAX_TOTAL),
                conf.get(FlowgetOptions.HTTP_POOL_MAX_PER_ROUTE),
                conf.get(FlowgetOptions.HTTP_CONNECT_TIMEOUT),
                conf.get(FlowgetOptions.HTTP_IDLE_TIMEOUT),
                conf.get(FlowgetOptions.HTTP_POOL_CONNECTION_TTL),
                conf.get(FlowgetOptions.HTTP_POOL_IDLE_EVICTION),
                conf.get(FlowgetOptions.HTTP_POOL_VALIDATE_AFTER_INACTIVITY),
                conf.get(FlowgetOptions.HTTP_IO_THREADS),
                (int) conf.get(FlowgetOptions.HTTP_BUFFER_SIZE).getBytes(),
                (int) Math.min(Integer.MAX_VALUE, conf.get(FlowgetOptions.HTTP_LARGE_BUFFER_SIZE).getBytes()),
                conf.get(FlowgetOptions.HTTP_LARGE_BUFFER_BUDGET).getBytes(),
                conf.get(FlowgetOptions.HTTP_USER_AGENT),
                conf.getOptional(FlowgetOptions.TLS_CA_CERT).orElse(null),
                conf.get(FlowgetOptions.TLS_INSECURE),
                conf.get(FlowgetOptions.TLS_BUFFER_MODE),
                conf.get(FlowgetOptions.TLS_SESSION_CACHE_SIZE),
                conf.get(FlowgetOptions.TLS_SESSION_TIMEOUT),
                conf.get(FlowgetOptions.HTTP_VERSION),
                (int) Math.min(Integer.MAX_VALUE, conf.get(FlowgetOptions.HTTP_H2_INITIAL_WINDOW).getBytes()),
                conf.get(FlowgetOptions.HTTP_H2_MAX_CONCURRENT_STREAMS),
                conf.get(FlowgetOptions.NET_POSTURE),
                conf.getOptional(FlowgetOptions.NET_ALLOW_CIDRS).orElse(""),
                conf.getOptional(FlowgetOptions.NET_DENY_CIDRS).orElse(""),
                conf.get(FlowgetOptions.DNS_TTL),
                conf.get(FlowgetOptions.DNS_NEGATIVE_TTL),
                conf.get(FlowgetOptions.DNS_TIMEOUT),
                ProxySelection.from(conf));
    }

    /** The SSRF guard's policy of these settings; throws IllegalArgumentException on a malformed CIDR. */
    public AddressPolicy addressPolicy() {
        return AddressPolicy.of(posture, AddressPolicy.splitList(allowCidrs), AddressPolicy.splitList(denyCidrs));
    }
}
