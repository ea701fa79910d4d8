package io.flowget.udf.fetch.host;

import io.flowget.udf.fetch.HostHealth;
import io.flowget.udf.fetch.HostState;

import org.apache.flink.annotation.Internal;

import javax.annotation.concurrent.NotThreadSafe;

/**
 * One host's politeness mechanisms side by side — {@link AdaptiveLimit}, {@link WarmUp}, {@link Breaker}, {@link
 * RateLimiter}, {@link RetryAfterPause} — with the part of them that survives a restart as a {@link HostState}
 * ({@link #snapshot}), the part kept in {@code host-health} ({@link #health}: answered, breaker, latency baseline),
 * and the metrics' request count. The rules that combine them are {@code HostPoliteness}'s;
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
    /** Suspect outcomes (5xx, no response head) in a row without an answer between them. */
    private int suspects;
    /** Wall-clock millis of the host's last served answer, 0 before. */
    private long servedAt;
    /** True once the host has given any HTTP answer (in memory, or as saved in its health state). */
    private boolean proven;
    /** What was last read from or written to the store; null when nothing. */
    private HostState saved;
    /** What was last read from or written to the health store; null when nothing. */
    private HostHealth savedHealth;

    HostGate(String host, AdaptiveLimit limit, WarmUp warmUp, Breaker breaker, RateLimiter rate,
            RetryAfterPause pause) {
        this.host = host;
        this.limit = limit;
        this.warmUp = warmUp;
        this.breaker = breaker;
        this.rate = rate;
        this.pause = pause;
    }

    /** Continues from a saved health: whether the host answered, its breaker and its latency baseline. */
    void restore(HostHealth health) {
        proven = health.answered;
        breaker.restore(health);
        limit.restoreMinTtfb(health.minTtfbNanos);
        limit.restoreRoundsPerRaise(health.capRoundsPerRaise);
        savedHealth = health;
    }

    /**
     * The persistent health now. The latency baseline drifts with nearly every answer, so it is taken from what
     * was saved unless it moved by more than an eighth: a write per state change, not per answer.
     */
    HostHealth health() {
        HostHealth h = new HostHealth();
        h.answered = proven;
        breaker.saveTo(h);
        long min = limit.minTtfb();
        long before = savedHealth == null ? 0 : savedHealth.minTtfbNanos;
        h.minTtfbNanos = before > 0 && Math.abs(min - before) <= before / 8 ? before : min;
        h.capRoundsPerRaise = limit.roundsPerRaise();
        return h;
    }

    /** What the health store holds for the host, as far as this gate knows; null when nothing. */
    HostHealth savedHealth() {
        return savedHealth;
    }

    /** Records that {@code health} is what the health store holds. */
    void savedHealth(HostHealth health) {
        savedHealth = health;
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

    /** The host's current limit: 1 until it has answered and while it warms up, else its adaptive limit. */
    public int limit(long now) {
        return !proven || warmUp.pinsToOne() ? 1 : limit.limit(now);
    }

    /** Counts one more suspect outcome and returns the streak so far. */
    public int suspect() {
        return ++suspects;
    }

    /** The host answered: a streak of suspect outcomes is broken. */
    public void clearSuspects() {
        suspects = 0;
    }

    /** The host gave an HTTP answer: it is proven (it may take more than one request, see {@code WarmUp}). */
    public void prove() {
        proven = true;
    }

    /** Records a served answer at {@code wallMillis}. */
    public void servedAt(long wallMillis) {
        servedAt = Math.max(servedAt, wallMillis);
    }

    /** Wall-clock millis of the host's last served answer, 0 before. */
    public long servedAt() {
        return servedAt;
    }

    /** True once the host has given any HTTP answer. */
    public boolean proven() {
        return proven;
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
