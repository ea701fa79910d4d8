package io.flowget.udf.fetch;

import java.util.Objects;

/**
 * What flowget has learned about one host, kept in the fetch operator's keyed state ({@code host-state}) so that
 * it survives restarts: the adaptive concurrency limit, the overload cap and a host-wide pause. A Flink POJO.
 */
public class HostState {
    /** The limiter's learned concurrency limit; 0 when unknown. */
    public int limit;
    /** Cap after a 429/503 at N in flight (N-1); 0 when none. */
    public int ceiling;
    /** When the cap was set or last raised (processing time, ms). */
    public long ceilingAt;
    /** No new request to the host before this (processing time, ms); 0 when not paused. */
    public long pausedUntil;

    public HostState() {}

    public HostState(int limit, int ceiling, long ceilingAt, long pausedUntil) {
        this.limit = limit;
        this.ceiling = ceiling;
        this.ceilingAt = ceilingAt;
        this.pausedUntil = pausedUntil;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof HostState s
                && limit == s.limit
                && ceiling == s.ceiling
                && ceilingAt == s.ceilingAt
                && pausedUntil == s.pausedUntil;
    }

    @Override
    public int hashCode() {
        return Objects.hash(limit, ceiling, ceilingAt, pausedUntil);
    }

    @Override
    public String toString() {
        return "HostState{limit=" + limit + ", ceiling=" + ceiling + ", ceilingAt=" + ceilingAt
                + ", pausedUntil=" + pausedUntil + "}";
    }
}
