package io.flowget.udf.fetch.host;

import org.apache.flink.annotation.Internal;
import org.apache.flink.util.clock.Clock;

import com.netflix.concurrency.limits.limit.AIMDLimit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.annotation.concurrent.NotThreadSafe;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * One host's concurrency limit, between {@code min} and the host's {@code max}: AIMD on drops (+1 per success
 * while at least half the limit is in flight, ×0.9 per drop), a drop on rising time to first byte, and an
 * overload cap after a 429/503.
 *
 * <p><b>AIMD.</b> A Netflix concurrency-limits {@link AIMDLimit}. The operator classifies outcomes: successes
 * go to {@link #onAnswer}, drops (retryable statuses, timeouts, resets, connect errors) to {@link #onDrop},
 * 429/503 to {@link #onOverload}.
 *
 * <p><b>Slow start.</b> A host without a learned limit starts (once proven, see {@code WarmUp}) at {@code
 * initial} and, like TCP's slow start, doubles its limit with each fast answer and each fast response head
 * ({@link #onHead}) while it is busy, until its max or its first drop, hold or overload; from then on AIMD. So a
 * host that answers fast reaches its limit within a few requests, and the chunk connections of a large file open
 * as their first heads arrive instead of one per finished chunk.
 *
 * <p><b>Rising latency.</b> An answer whose time to first byte (TTFB: request sent to response head; the body's
 * time is the file's size, not the host's load) exceeds {@code latencyDropFactor} × the host's smoothed minimum
 * TTFB, and is at least {@code latencyDropMin} above it, is a drop too: a host that queues our requests slows
 * before it refuses them. Only answers to requests sent after the previous latency drop count, so one round of
 * slow answers shrinks the limit once, not once per answer (like TCP's once-per-window backoff); the round's
 * other answers count as nothing (no growth either, like fast recovery). Answers half-way to slow (TTFB above
 * (1 + (factor-1)/2) × the minimum, and at least half of latencyDropMin above it) hold the limit, like TCP Vegas
 * between its alpha and beta: AIMD grows by one per answer, and without this band it would saw from the drop
 * line to far above it within one round. The minimum drifts up by 1/{@value #MIN_TTFB_DRIFT} of the gap with
 * each answer that is not slow, and with slow ones while the host is at its floor, so a host whose base latency
 * really rose is re-learnt instead of throttled forever. A factor of 0 turns the latency signal off.
 *
 * <p>Why AIMD with a latency drop and not concurrency-limits' Gradient2Limit: Gradient2 sets the new limit to
 * limit × gradient + a queue allowance (4 by default), with the gradient at least 0.5, so it cannot go below
 * about twice the allowance: a host that queues at 3 would keep 8. Per-host limits here are small, and a drop
 * also fits the overload cap and the warm-up, which already speak in drops.
 *
 * <p><b>Overload cap.</b> AIMD alone keeps probing: at a host that refuses its fourth concurrent request it would
 * go 3 → 4 → 429 → 3 → 4 every few requests. So a 429/503 for a request sent while N were in flight also caps the
 * host at N-1 (the concurrency the host just proved it can take), and the cap rises by one only after each
 * {@code probeInterval} without another overload — like TCP's ssthresh, one probe per interval. A cap that
 * reaches the host's max is dropped.
 *
 * <p>Times: {@code now} is the operator's processing time (ms, the cap's probe interval); latency rounds use the
 * injected {@link Clock}'s relative nanoseconds, the clock the operator measures TTFB and RTT with. The learned
 * limit and the cap are persisted by the caller ({@link #learned()}, {@link #ceiling()}, {@link #ceilingAt()}) in
 * {@code host-state}, the TTFB minimum ({@link #minTtfb()}) in {@code host-health}.
 *
 * <p>Not thread-safe: one instance per host, owned by {@code HostPoliteness}, task thread only.
 */
@Internal
@NotThreadSafe
public final class AdaptiveLimit {
    private static final Logger LOG = LoggerFactory.getLogger(AdaptiveLimit.class);

    /** The smoothed minimum TTFB moves up by 1/this of its gap to each slower answer. */
    public static final int MIN_TTFB_DRIFT = 512;

    /**
     * The settings shared by all hosts ({@code flowget.host.min-concurrency}, {@code initial-concurrency}, {@code
     * probe-interval}, {@code latency-drop-factor}, {@code latency-drop-min}); {@code max} is per host.
     */
    public record Settings(
            int min,
            int initial,
            Duration probeInterval,
            double latencyDropFactor,
            Duration latencyDropMin,
            boolean slowStart) {
        /** Without slow start: the limit grows by one per answer from the start. */
        public Settings(
                int min, int initial, Duration probeInterval, double latencyDropFactor, Duration latencyDropMin) {
            this(min, initial, probeInterval, latencyDropFactor, latencyDropMin, false);
        }
    }

    /** What an answer's first byte says: grow, drop once per round, or hold. */
    private enum Latency {
        GROW,
        DROP,
        HOLD
    }

    private final String host;
    private final Settings settings;
    private final Clock clock;
    private AIMDLimit aimd;
    private final int max;
    /** The floor: {@code min-concurrency}, but never above {@link #max} (a spread host's shard may have less). */
    private final int min;
    /**
     * True until the host's first drop, latency hold or overload, or until the limit reaches max: each fast answer
     * (and each fast response head, {@link #onHead}) while the host is busy doubles the limit (TCP's slow start).
     * Only for a host without a learned limit and when {@link Settings#slowStart()} is on.
     */
    private boolean slowStart;
    /** Cap after a 429/503 at N in flight (N-1); 0 when none. */
    private int ceiling;
    /** When the cap was set or last raised (processing time, ms). */
    private long ceilingAt;
    /** Smoothed minimum time to first byte (ns), 0 until the first answer. */
    private long minTtfb;
    /** Clock nanos of the last latency drop: answers to requests sent before it do not drop again. */
    private long latencyDropAt;
    /** Answers served since the cap was set or last raised. */
    private int answersAtCap;
    /** Rounds of answers at the cap (a round is as many answers as the cap) that raise it by one. */
    private int roundsPerRaise = 1;
    /** True when the cap was raised by a round of answers and no round has passed since: a refusal now is the probe's. */
    private boolean probing;

    /**
     * @param max the most requests in flight the host may ever get (its override, else max-concurrency)
     * @param learned the limit saved for the host, or 0 to start at {@code settings.initial()}
     */
    public AdaptiveLimit(String host, Settings settings, int max, int learned, Clock clock) {
        this.host = host;
        this.settings = settings;
        this.clock = clock;
        this.max = max;
        this.min = Math.min(settings.min(), max);
        int start = learned > 0 ? learned : settings.initial();
        this.aimd = aimd(start);
        this.slowStart = settings.slowStart() && learned <= 0 && aimd.getLimit() < max;
        this.latencyDropAt = clock.relativeTimeNanos() - TimeUnit.DAYS.toNanos(1);
    }

    private AIMDLimit aimd(int initial) {
        return AIMDLimit.newBuilder()
                .minLimit(min)
                .maxLimit(max)
                .initialLimit(Math.max(min, Math.min(max, initial)))
                // RTT here includes body transfer, so it is no overload signal: drops only
                // (errors, overload, and slow first bytes, see latency()).
                .timeout(365, TimeUnit.DAYS)
                .build();
    }

    /** True while the limit still doubles per fast answer (slow start, see the class comment). */
    public boolean slowStart() {
        return slowStart;
    }

    /**
     * Slow start: doubles the limit when the host is busy (at least half the limit was in flight when the answered
     * request was sent, the rule AIMD grows by). Ends at max.
     */
    private void doubleIfBusy(int inFlightAtSend) {
        int l = aimd.getLimit();
        if ((long) inFlightAtSend * 2 >= l) {
            aimd = aimd((int) Math.min(max, 2L * l));
        }
        if (aimd.getLimit() >= max) {
            slowStart = false;
        }
    }

    /**
     * A response head arrived (the body still streams): in slow start, a fast one (not slow by the latency rule,
     * or the host's first) doubles the limit at once, so a host that answers fast reaches its limit within a few
     * requests and a large file's chunk connections open while its first chunks still stream, not one per finished
     * chunk. Outside slow start, heads change nothing (the answer counts when it ends). Returns true when the limit
     * rose.
     *
     * @param ttfbNanos request sent to response head
     * @param inFlightAtSend requests in flight to the host when this one was sent, itself included
     */
    public boolean onHead(long ttfbNanos, int inFlightAtSend, long now) {
        if (!slowStart || ceiling > 0) {
            return false;
        }
        double k = settings.latencyDropFactor();
        boolean queueing =
                k > 0 && minTtfb > 0 && ttfbNanos > (1 + (k - 1) / 2) * minTtfb
                        && ttfbNanos - minTtfb >= settings.latencyDropMin().toNanos() / 2;
        if (queueing) {
            return false; // the completion's latency rule decides (and ends slow start)
        }
        int before = limit(now);
        doubleIfBusy(inFlightAtSend);
        return limit(now) > before;
    }

    /** How many rounds and probe intervals the cap waits before it rises by one (persisted). */
    public int roundsPerRaise() {
        return roundsPerRaise;
    }

    /** Restores how patiently the cap is probed (a value below 1 is the start, 1). */
    public void restoreRoundsPerRaise(int rounds) {
        roundsPerRaise = Math.max(1, Math.min(MAX_ROUNDS_PER_RAISE, rounds));
    }

    /** Restores a saved latency baseline (smoothed minimum time to first byte, ns; 0: none yet). */
    public void restoreMinTtfb(long nanos) {
        this.minTtfb = Math.max(0, nanos);
    }

    /** Restores a saved overload cap (0: none). */
    public void restoreCap(int ceiling, long ceilingAt) {
        this.ceiling = ceiling;
        this.ceilingAt = ceilingAt;
    }

    /** The host's limit at {@code now}: AIMD's, under the cap (raised by one per probe interval elapsed). */
    public int limit(long now) {
        // A refused probe doubles the interval too (roundsPerRaise), so a hard limit is probed ever more rarely.
        long interval = settings.probeInterval().toMillis() * roundsPerRaise;
        if (ceiling > 0 && now - ceilingAt >= interval) {
            long steps = (now - ceilingAt) / Math.max(1, interval);
            raiseCap(steps, ceilingAt + steps * interval);
        }
        int l = aimd.getLimit();
        if (ceiling > 0) {
            l = Math.min(l, ceiling);
        }
        return Math.max(min, Math.min(max, l));
    }

    /**
     * A successful answer: grows the limit, drops it (first slow answer of a round) or holds it.
     *
     * @param ttfbNanos request sent to response head, or -1 when unknown (then it counts as fast)
     * @param rttNanos request sent to outcome
     * @param inFlightAtSend requests in flight to the host when this one was sent, itself included
     * @param pinned true while the host's effective limit is pinned to 1 (warm-up): it counts as at its floor
     */
    public void onAnswer(long ttfbNanos, long rttNanos, int inFlightAtSend, boolean pinned, long now) {
        raiseCapByRounds(now);
        switch (latency(ttfbNanos, rttNanos, pinned, now)) {
            case GROW:
                if (slowStart && ceiling == 0) {
                    doubleIfBusy(inFlightAtSend);
                } else {
                    sample(inFlightAtSend, rttNanos, false);
                }
                break;
            case DROP:
                slowStart = false;
                LOG.debug("{}: first byte after {} ms, minimum {} ms: latency drop", host,
                        ttfbNanos / 1_000_000, minTtfb / 1_000_000);
                sample(inFlightAtSend, rttNanos, true);
                break;
            default:
                slowStart = false; // queueing (or the round of a latency drop): the host is near its limit
                break;
        }
    }

    /**
     * The cap also rises by one after each {@code roundsPerRaise} rounds of answers at it (a round: as many answers
     * as the cap), like TCP's congestion avoidance: a host that refused once is back at full speed after a few
     * rounds, not a few probe intervals. A refusal in the round right after a raise (by rounds or by time) was the
     * probe's: the next raise then waits twice as many rounds and intervals (up to {@value #MAX_ROUNDS_PER_RAISE}
     * times), so a host with a hard limit is probed ever more rarely.
     */
    private void raiseCapByRounds(long now) {
        if (ceiling == 0) {
            return;
        }
        answersAtCap++;
        if (probing && answersAtCap >= ceiling) {
            probing = false; // a whole round after the raise without a refusal: the raise held
        }
        if (answersAtCap >= (long) ceiling * roundsPerRaise) {
            raiseCap(1, now);
        }
    }

    /** Raises the cap by {@code steps} at {@code at}: a probe; a cap that reaches the host's max is dropped. */
    private void raiseCap(long steps, long at) {
        ceiling = (int) Math.min(Integer.MAX_VALUE, ceiling + steps);
        ceilingAt = at;
        answersAtCap = 0;
        probing = true;
        if (ceiling >= max) {
            ceiling = 0;
            roundsPerRaise = 1;
            probing = false;
        }
    }

    /** Most rounds of answers a cap waits for before it rises by one. */
    static final int MAX_ROUNDS_PER_RAISE = 64;

    /** A drop (retryable status, timeout, reset, connect error): ×0.9. */
    public void onDrop(int inFlightAtSend, long rttNanos) {
        slowStart = false;
        sample(inFlightAtSend, rttNanos, true);
    }

    /**
     * A 429/503: a drop, and a cap of N-1 where N is the larger of the requests in flight at send and now.
     *
     * @param inFlightNow requests still in flight to the host now, this one included
     */
    public void onOverload(int status, int inFlightAtSend, int inFlightNow, long rttNanos, long now) {
        slowStart = false;
        sample(inFlightAtSend, rttNanos, true);
        int inflight = Math.max(1, inFlightAtSend);
        // The host took N-1 beside this one. N is the larger of the counts at send and now: requests reach the
        // server out of order (new connections), so a request sent second may be the one refused fifth; the
        // smaller count would under-estimate the host. Overshoot is harmless: the next refusal at the cap lowers
        // it again.
        int cap = Math.max(min, Math.max(inflight, inFlightNow) - 1);
        if (probing) {
            roundsPerRaise = Math.min(MAX_ROUNDS_PER_RAISE, roundsPerRaise * 2);
            probing = false;
        }
        if (ceiling == 0 || cap < ceiling) {
            LOG.info("{} answered {} at {} in flight: capping it at {}", host, status, inflight, cap);
            ceiling = cap;
        }
        ceilingAt = now;
        answersAtCap = 0;
    }

    private void sample(int inFlightAtSend, long rttNanos, boolean drop) {
        long rtt = Math.max(1, rttNanos);
        aimd.onSample(clock.relativeTimeNanos() - rtt, rtt, Math.max(1, inFlightAtSend), drop);
    }

    /**
     * Learns the smoothed minimum TTFB from an answer and says what it tells the limiter (see the class comment):
     * DROP for the first slow answer of a round, which stamps the round's end; HOLD for answers to requests sent
     * before that stamp (they measured the old, larger limit: neither a second drop nor evidence that the host can
     * take more, like TCP's fast recovery); HOLD for answers half-way to slow; else GROW.
     *
     * <p>The minimum drifts up only with answers that are not slow, or while the host is at its floor (nothing
     * left to shed there, so a slow answer means the base latency rose): under sustained queueing it must not
     * creep up to the queued latency.
     */
    private Latency latency(long ttfbNanos, long rttNanos, boolean pinned, long now) {
        if (ttfbNanos <= 0 || settings.latencyDropFactor() <= 0) {
            return Latency.GROW;
        }
        long sentAt = clock.relativeTimeNanos() - Math.max(rttNanos, ttfbNanos);
        if (minTtfb == 0 || ttfbNanos < minTtfb) {
            minTtfb = ttfbNanos;
            return Latency.GROW;
        }
        double k = settings.latencyDropFactor();
        long floor = settings.latencyDropMin().toNanos();
        long excess = ttfbNanos - minTtfb;
        boolean slow = ttfbNanos > k * minTtfb && excess >= floor;
        // Half-way to slow: the host has started to queue. Hold the limit there (TCP Vegas' band between its
        // alpha and beta): growing by one per answer up to the drop line would saw far above it.
        boolean queueing = ttfbNanos > (1 + (k - 1) / 2) * minTtfb && excess >= floor / 2;
        if (!slow || pinned || limit(now) <= min) {
            minTtfb += excess / MIN_TTFB_DRIFT;
        }
        if (sentAt - latencyDropAt <= 0) {
            return Latency.HOLD; // sent before the last latency drop: it measured the old limit
        }
        if (!slow) {
            return queueing ? Latency.HOLD : Latency.GROW;
        }
        latencyDropAt = clock.relativeTimeNanos();
        return Latency.DROP;
    }

    /** The AIMD limit learned so far, before the cap (persisted). */
    public int learned() {
        return aimd.getLimit();
    }

    /** The overload cap, 0 when none (persisted). */
    public int ceiling() {
        return ceiling;
    }

    /** When the cap was set or last raised (processing time, ms; persisted). */
    public long ceilingAt() {
        return ceilingAt;
    }

    /** The smoothed minimum time to first byte (ns), 0 before the first answer with one. */
    public long minTtfb() {
        return minTtfb;
    }

    /** True when the host is held below its max (by a cap or a lower learned limit). */
    public boolean throttled() {
        return ceiling > 0 || aimd.getLimit() < max;
    }
}
