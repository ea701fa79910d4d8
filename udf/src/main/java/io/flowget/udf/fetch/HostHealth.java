package io.flowget.udf.fetch;

import java.util.Objects;

/**
 * What decides whether a host is alive and how fast it usually answers, kept in the fetch operator's keyed state
 * ({@code host-health}) beside {@link HostState} so that it survives restarts and the in-memory gates' eviction:
 * whether the host ever answered, its circuit breaker, and its latency baseline. A Flink POJO; a new state of its
 * own (not new fields of {@link HostState}), so savepoints that hold {@code host-state} restore unchanged.
 */
public class HostHealth {
    /** True once the host gave any HTTP answer (it may then take more than one request at a time). */
    public boolean answered;
    /** Consecutive attempts that failed at the connection. */
    public int breakerFailures;
    /** Times the circuit opened since the host last answered (its open time doubles with each). */
    public int breakerOpens;
    /** When the current run of connection failures began (processing time, ms). */
    public long failingSince;
    /** End of the current open period (processing time, ms); 0 while the circuit is closed. */
    public long openUntil;
    /** True when the host is past its retry budget: its requests fail at once while the circuit is open. */
    public boolean givenUp;
    /** The last connection failure, quoted when requests fail at once; null when none. */
    public String lastError;
    /** Smoothed minimum time to first byte (ns), 0 before the first answer: the latency baseline. */
    public long minTtfbNanos;
    /** Rounds (and probe intervals) an overload cap waits before it rises by one; 0 or 1 is the start. */
    public int capRoundsPerRaise;

    public HostHealth() {}

    @Override
    public boolean equals(Object o) {
        return o instanceof HostHealth h
                && answered == h.answered
                && breakerFailures == h.breakerFailures
                && breakerOpens == h.breakerOpens
                && failingSince == h.failingSince
                && openUntil == h.openUntil
                && givenUp == h.givenUp
                && Objects.equals(lastError, h.lastError)
                && minTtfbNanos == h.minTtfbNanos
                && capRoundsPerRaise == h.capRoundsPerRaise;
    }

    @Override
    public int hashCode() {
        return Objects.hash(answered, breakerFailures, breakerOpens, failingSince, openUntil, givenUp, lastError,
                minTtfbNanos, capRoundsPerRaise);
    }

    @Override
    public String toString() {
        return "HostHealth{answered=" + answered + ", breakerFailures=" + breakerFailures + ", breakerOpens="
                + breakerOpens + ", failingSince=" + failingSince + ", openUntil=" + openUntil + ", givenUp="
                + givenUp + ", lastError=" + lastError + ", minTtfbNanos=" + minTtfbNanos + ", capRoundsPerRaise="
                + capRoundsPerRaise + "}";
    }
}
