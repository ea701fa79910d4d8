/**
 * The per-host politeness mechanisms behind {@link io.flowget.udf.fetch.HostPoliteness}, one class each, all
 * owned by it and driven from the fetch operator's task thread: {@link io.flowget.udf.fetch.host.AdaptiveLimit}
 * (AIMD, latency drop, overload cap), {@link io.flowget.udf.fetch.host.Breaker} (circuit breaker and retry
 * budget), {@link io.flowget.udf.fetch.host.RateLimiter} (request and byte token buckets), {@link
 * io.flowget.udf.fetch.host.RetryAfterPause} (host-wide Retry-After pause) and {@link
 * io.flowget.udf.fetch.host.WarmUp} (one request until the first answer). Parked hosts come back through {@link
 * io.flowget.udf.fetch.host.WakeUps}; what survives a restart is read and written through {@link
 * io.flowget.udf.fetch.host.HostStateStore}. Mechanisms take the operator's processing time ({@code now}, ms)
 * as a parameter and read wall-clock nanoseconds from an injected {@link org.apache.flink.util.clock.Clock}, so
 * tests drive both.
 */
package io.flowget.udf.fetch.host;
