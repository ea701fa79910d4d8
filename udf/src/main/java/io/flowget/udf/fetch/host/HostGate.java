package io.flowget.udf.fetch.host;

import io.flowget.udf.fetch.HostState;

import org.apache.flink.annotation.Internal;

import javax.annotation.concurrent.NotThreadSafe;

/**
 * One host's politeness mechanisms side by side — {@link AdaptiveLimit}, {@link WarmUp}, {@link Breaker}, {@link
 * RateLimiter}, {@link RetryAfterPause} — with the part of them that survives a restart as a {@link HostState}
 * ({@link #snapshot}) and the metrics' request count. The rules that combine them are {@code HostPoliteness}'s;
 * this class only adds the effective limit ({@link #limit}: 1 while warming up, else the adaptive one).
 *
 * <p>Not thread-safe: created by {@link HostGates}, used by {@code HostPoliteness} on the task thread only.
 */
@Internal
@NotThreadSafe
public final class HostGate {
    private final String host;
    private final AdaptiveLimit limit;
    private final WarmUp warmUp;
    private final Breaker breaker;
    private final RateLimiter rate;
    private final RetryAfterPause pause;
    /** Requests issued since the last {@link #takeIssued}. */
    private int issued;
    /** What was last read from or written to the store; null when nothing. */
    private HostState saved;

    HostGate(String host, AdaptiveLimit limit, WarmUp warmUp, Breaker breaker, RateLimiter rate,
            RetryAfterPause pause) {
        this.host = host;
        this.limit = limit;
        this.warmUp = warmUp;
        this.breaker = breaker;
        this.rate = rate;
        this.pause = pause;
    }

    /** Continues from a saved state: learned limit (given to the constructor of the limit), cap and pause. */
    void restore(HostState state) {
        limit.restoreCap(state.ceiling, state.ceilingAt);
        pause.restore(state.pausedUntil);
        saved = state;
    }

    /** The persistent part now. */
    HostState snapshot() {
        return new HostState(limit.learned(), limit.ceiling(), limit.ceilingAt(), pause.pausedUntil());
    }

    /** Records that {@code state} is what the store holds. */
    void saved(HostState state) {
        saved = state;
    }

    /** What the store holds for the host, as far as this gate knows; null when nothing. */
    HostState saved() {
        return saved;
    }

    /** The host's current limit: 1 while it warms up, else its adaptive limit. */
    public int limit(long now) {
        return warmUp.pinsToOne() ? 1 : limit.limit(now);
    }

    /** Counts a request for the metrics. */
    public void countIssued() {
        issued++;
    }

    /** The requests counted since the previous call, and resets the count. */
    public int takeIssued() {
        int n = issued;
        issued = 0;
        return n;
    }

    public String host() {
        return host;
    }

    public AdaptiveLimit adaptiveLimit() {
        return limit;
    }

    public WarmUp warmUp() {
        return warmUp;
    }

    public Breaker breaker() {
        return breaker;
    }

    public RateLimiter rate() {
        return rate;
    }

    public RetryAfterPause pause() {
        return pause;
    }
}
