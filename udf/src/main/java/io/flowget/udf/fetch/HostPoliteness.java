package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.fetch.host.AdaptiveLimit;
import io.flowget.udf.fetch.host.Breaker;
import io.flowget.udf.fetch.host.HostGate;
import io.flowget.udf.fetch.host.HostGates;
import io.flowget.udf.fetch.host.HostOverride;
import io.flowget.udf.fetch.host.HostStateStore;
import io.flowget.udf.fetch.host.HostStore;
import io.flowget.udf.fetch.host.KeyedHostStore;
import io.flowget.udf.fetch.host.MapHostStore;
import io.flowget.udf.fetch.host.KeyedHostStateStore;
import io.flowget.udf.fetch.host.RateLimiter;
import io.flowget.udf.fetch.host.RetryAfterPause;
import io.flowget.udf.fetch.host.WarmUp;
import io.flowget.udf.http.FetchOutcome;

import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.streaming.api.operators.KeyContext;
import org.apache.flink.util.clock.Clock;
import org.apache.flink.util.clock.SystemClock;

import javax.annotation.concurrent.NotThreadSafe;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.PriorityQueue;
import java.util.concurrent.CancellationException;

/**
 * How many requests the fetch operator may have in flight to each host, and when: the operator asks {@link
 * #mayIssue} where it used to compare with a fixed limit, reports each request it sends to {@link #onIssued} and
 * every finished attempt to {@link #onOutcome}, fails requests that {@link #refusal} refuses, and puts the hosts
 * {@link #resumeDue} returns back in its ring.
 *
 * <p>A host may take one more request when it is not paused by a Retry-After ({@link RetryAfterPause}), its
 * circuit is closed ({@link Breaker}: open parks its requests, half-open lets one probe out, past the retry budget
 * lets them through to fail), fewer than its limit are in flight (1 during the {@link WarmUp}, else the {@link
 * AdaptiveLimit}: AIMD with a latency drop under an overload cap) and its token buckets allow it ({@link
 * RateLimiter}). Outcomes are classified once ({@link #classify}): answers such as 404 are successes (the host
 * answered); 429/503 are overloads; other retryable statuses (408, 5xx), timeouts, resets and connect errors are
 * drops; non-retryable local failures (body too large, blocked address, shutdown) count as nothing. Any HTTP
 * answer closes the host's circuit; a drop without one counts towards opening it.
 *
 * <p><b>State.</b> Limit, cap and pause live in the keyed {@code host-state} (a {@link HostState}), whether the host
 * ever answered, its circuit breaker and its latency baseline in the keyed {@code host-health} (a {@link
 * HostHealth}); both are written when they change and read when a host is first seen, so they survive restarts
 * and the eviction of a host's gate. Their TTL ({@code flowget.host.state-ttl}) bounds the state of hosts seen
 * once. The in-memory gates are an LRU of {@value #MAX_GATES} hosts; an evicted host is reloaded from state (and
 * warms up again).
 *
 * <p><b>Keys.</b> The "host" of every method is the operator's key: a host, or a shard of a host spread by {@code
 * flowget.host.spread} ({@link HostShards}). A shard is a host of its own here (its gate, its keyed state), whose
 * maximum concurrency and rates are its share of its host's ({@link Settings#maxFor}), so the shards' limits add up to
 * the host's; what each shard learns (limit, cap, pause, breaker) it learns from its own answers.
 *
 * <p>Times: {@code now} is the operator's processing time (ms), the clock of its retry timers; warm-up and
 * latency rounds use the injected {@link Clock}'s relative nanoseconds and Retry-After dates its absolute time.
 * Not thread-safe: the operator creates it and calls it from its task thread only.
 */
@NotThreadSafe
public final class HostPoliteness {
    static final String STATE_NAME = "host-state";
    static final String HEALTH_STATE_NAME = "host-health";
    static final int MAX_GATES = 10_000;

    /** What an attempt's outcome says about the host's capacity. */
    enum Signal { SUCCESS, DROP, SUSPECT, OVERLOAD, NONE }

    /**
     * Suspect outcomes (a retryable 5xx, no response head in time) in a row, with no answer from the host between
     * them, from which on they shrink the host's limit like a connection failure: fewer are one URL's trouble.
     */
    static final int SUSPECT_STREAK = 3;

    /** The settings of the politeness rules, from the configuration. */
    public record Settings(
            int min,
            int max,
            int initial,
            List<HostOverride> overrides,
            Duration probeInterval,
            Duration stateTtl,
            int breakerFailures,
            Duration breakerOpen,
            Duration breakerMaxOpen,
            Duration giveUpAfter,
            double requestsPerSecond,
            double bytesPerSecond,
            double latencyDropFactor,
            Duration latencyDropMin,
            boolean slowStart,
            HostShards shards) {

        public static Settings from(ReadableConfig conf) {
            int max = conf.get(FlowgetOptions.HOST_MAX_CONCURRENCY);
            int min = conf.get(FlowgetOptions.HOST_MIN_CONCURRENCY);
            if (min < 1 || max < min) {
                throw new IllegalArgumentException(
                        FlowgetOptions.HOST_MIN_CONCURRENCY.key() + " (" + min + ") must be between 1 and "
                                + FlowgetOptions.HOST_MAX_CONCURRENCY.key() + " (" + max + ")");
            }
            return new Settings(
                    min,
                    max,
                    conf.get(FlowgetOptions.HOST_INITIAL_CONCURRENCY),
                    HostOverride.parseList(conf.getOptional(FlowgetOptions.HOST_OVERRIDES).orElse("")),
                    conf.get(FlowgetOptions.HOST_PROBE_INTERVAL),
                    conf.get(FlowgetOptions.HOST_STATE_TTL),
                    Math.max(1, conf.get(FlowgetOptions.HOST_BREAKER_FAILURES)),
                    conf.get(FlowgetOptions.HOST_BREAKER_OPEN),
                    conf.get(FlowgetOptions.HOST_BREAKER_MAX_OPEN),
                    conf.get(FlowgetOptions.HOST_GIVE_UP_AFTER),
                    Math.max(0, conf.get(FlowgetOptions.HOST_MAX_REQUESTS_PER_SECOND)),
                    conf.getOptional(FlowgetOptions.HOST_MAX_BYTES_PER_SECOND)
                            .map(m -> (double) m.getBytes())
                            .orElse(0.0),
                    Math.max(0, conf.get(FlowgetOptions.HOST_LATENCY_DROP_FACTOR)),
                    conf.get(FlowgetOptions.HOST_LATENCY_DROP_MIN),
                    conf.get(FlowgetOptions.HOST_SLOW_START),
                    HostShards.from(conf));
        }

        /**
         * The most requests in flight a key may ever get: its host's override, else max-concurrency; for a shard of a
         * spread host its share of that ({@link HostShards#share}: the shards' maxima add up to the host's).
         */
        int maxFor(String key) {
            String host = HostShards.hostOf(key);
            int total = HostOverride.maxFor(overrides, host, min, max);
            return shards.none() ? total : HostShards.share(total, HostShards.shardOf(key), shards.shardsOf(host));
        }

        /** How many shards the key's host is spread over (1: not spread); its rates are shared as evenly. */
        int shardsFor(String key) {
            return shards.none() ? 1 : shards.shardsOf(HostShards.hostOf(key));
        }
    }

    /** The keyed state descriptor; register it in the operator's {@code initializeState}. */
    public static ValueStateDescriptor<HostState> stateDescriptor(Duration ttl) {
        return KeyedHostStateStore.descriptor(STATE_NAME, ttl);
    }

    /** The keyed {@code host-health} descriptor (answered, breaker, latency baseline; TTL-bounded like host-state). */
    public static ValueStateDescriptor<HostHealth> healthDescriptor(Duration ttl) {
        return KeyedHostStore.descriptor(HEALTH_STATE_NAME, HostHealth.class, ttl);
    }

    /** A store over the operator's keyed {@code host-state}; it switches the operator's current key per access. */
    public static HostStateStore keyed(ValueState<HostState> state, KeyContext keys) {
        return new KeyedHostStateStore(state, keys);
    }

    private final Settings settings;
    private final RetryPolicy retry;
    private final Clock clock;
    private final HostGates gates;

    public HostPoliteness(Settings settings, RetryPolicy retry, ValueState<HostState> state,
            ValueState<HostHealth> health, KeyContext keys) {
        this(settings, retry, keyed(state, keys), new KeyedHostStore<>(health, keys), SystemClock.getInstance());
    }

    /** Politeness whose health (answered, breaker, latency baseline) lives in memory only (tests). */
    public HostPoliteness(Settings settings, RetryPolicy retry, HostStateStore store, Clock clock) {
        this(settings, retry, store, new MapHostStore<>(), clock);
    }

    public HostPoliteness(
            Settings settings, RetryPolicy retry, HostStateStore store, HostStore<HostHealth> health, Clock clock) {
        this.settings = settings;
        this.retry = retry;
        this.clock = clock;
        HostGates.Settings shared =
                new HostGates.Settings(
                        new AdaptiveLimit.Settings(settings.min(), settings.initial(), settings.probeInterval(),
                                settings.latencyDropFactor(), settings.latencyDropMin(), settings.slowStart()),
                        settings::maxFor,
                        new Breaker.Settings(settings.breakerFailures(), settings.breakerOpen(),
                                settings.breakerMaxOpen(), settings.giveUpAfter()),
                        new RateLimiter.Settings(settings.requestsPerSecond(), settings.bytesPerSecond()),
                        settings::shardsFor);
        this.gates = new HostGates(MAX_GATES, shared, store, health, clock);
    }

    /** True when one more request may go to the host now. */
    public boolean mayIssue(String host, int inFlight, long now) {
        HostGate g = gates.get(host);
        if (g.pause().isPaused(now)) {
            return false;
        }
        if (g.breaker().isOpen()) {
            // Open: park the host's requests, or, past the retry budget, let them through to fail fast.
            return g.breaker().admitsWhileOpen(inFlight, now);
        }
        return inFlight < g.limit(now) && g.rate().mayIssue(now);
    }

    /** True once the host has given an HTTP answer; until then it takes one request at a time. */
    public boolean proven(String host) {
        return gates.get(host).proven();
    }

    /**
     * A response head from the host arrived (its attempt is still receiving the body): the host is alive, so its
     * circuit closes and it is proven, now rather than when the body ends. Returns true when that changed
     * anything (put the host back in the ring).
     */
    public boolean answered(String host) {
        HostGate g = gates.get(host);
        boolean changed = !g.proven() || g.breaker().isOpen();
        g.prove();
        g.breaker().onAnswer();
        return changed;
    }

    /**
     * {@link #answered(String)}, and in the host's slow start a fast head raises its limit at once ({@link
     * AdaptiveLimit#onHead}). Returns true when anything changed (put the host back in the ring).
     *
     * @param ttfbNanos the attempt's time to first byte
     * @param inFlightAtSend requests in flight to the host when the attempt was sent, itself included
     */
    public boolean answered(String host, long ttfbNanos, int inFlightAtSend, long now) {
        return answered(host, false, ttfbNanos, inFlightAtSend, now);
    }

    /**
     * {@link #answered(String, long, int, long)} for a head that came over HTTP/1.1 ({@code http1} true) or HTTP/2:
     * an HTTP/1.1 head also ends the host's warm-up ({@link WarmUp#onHead}), so a large file's other connections
     * open while its first answer streams instead of after it.
     */
    public boolean answered(String host, boolean http1, long ttfbNanos, int inFlightAtSend, long now) {
        boolean changed = answered(host);
        HostGate g = gates.get(host);
        if (http1 && g.warmUp().onHead(false)) {
            changed = true;
        }
        if (g.adaptiveLimit().onHead(ttfbNanos, inFlightAtSend, now)) {
            gates.save(g);
            changed = true;
        }
        return changed;
    }

    /**
     * True when a request of the host was served (an {@link Blame#ANSWER}) at or after {@code wallMillis}: a request
     * of the host that made no progress since then is stalled by its own URL, not by the host.
     */
    public boolean servedSince(String host, long wallMillis) {
        return gates.get(host).servedAt() >= wallMillis;
    }

    /** The host's smoothed minimum time to first byte in ms, 0 before its first answer. */
    public long minTtfbMillis(String host) {
        return gates.get(host).adaptiveLimit().minTtfb() / 1_000_000;
    }

    /** The most requests the host may ever have in flight (its override, else max-concurrency). */
    public int maxFor(String host) {
        return settings.maxFor(host);
    }

    /** Counts a request the operator is about to send (charges the host's request bucket). */
    public void onIssued(String host, long now) {
        HostGate g = gates.get(host);
        g.warmUp().onIssued();
        g.countIssued();
        g.rate().onIssued(now);
    }

    /**
     * Why a request to the host must FAIL now without being sent (its circuit is open and the host is past
     * its retry budget), or null to send it.
     */
    public String refusal(String host, long now) {
        return gates.get(host).breaker().gaveUp(now)
                .map(r -> "host unreachable: " + r.lastError() + " (no answer for "
                        + Failures.seconds(Duration.ofMillis((r.noAnswerForMillis() / 1000) * 1000)) + ")")
                .orElse(null);
    }

    /**
     * Feeds one finished attempt (final hop) to the host's limiter and applies a Retry-After pause; the outcome
     * is blamed as {@link Blame#of} says (README "Who is blamed").
     *
     * @param inFlightAtSend requests in flight to the host when the attempt was sent, itself included
     * @param inFlightNow requests still in flight to the host now, this one included
     * @param rttNanos time from sending the attempt's last hop to its outcome
     * @param ttfbNanos time from sending the last hop to its response head, or -1 when none arrived
     * @return the processing time the host is newly paused until (register a timer for it), or 0
     */
    public long onOutcome(String host, FetchOutcome o, String cancelReason, int inFlightAtSend, int inFlightNow,
            long rttNanos, long ttfbNanos, long now) {
        return onOutcome(host, o, cancelReason, ttfbNanos > 0, inFlightAtSend, inFlightNow, rttNanos, ttfbNanos, now);
    }

    /**
     * {@link #onOutcome(String, FetchOutcome, String, int, int, long, long, long)} knowing whether the attempt's
     * response head arrived ({@code headersReceived}), which decides between a URL's and a connection's failure.
     */
    public long onOutcome(String host, FetchOutcome o, String cancelReason, boolean headersReceived,
            int inFlightAtSend, int inFlightNow, long rttNanos, long ttfbNanos, long now) {
        return onOutcome(host, o, cancelReason, headersReceived, false, inFlightAtSend, inFlightNow, rttNanos,
                ttfbNanos, now);
    }

    /**
     * The same, knowing whether the request's previous attempt was refused with a 429 or 503 too ({@code
     * refusedBefore}). Such a repeat refusal still caps and shrinks the host's limit, but its {@code Retry-After}
     * pauses only the request (its retry waits for it), not the host again: an origin that keeps refusing one URL
     * would otherwise park every other request to the host for the URL's whole retry budget (five attempts at the
     * 5-minute cap of {@code flowget.retry.max-retry-after}: 25 minutes, seen in a hostile-origin run). A host that
     * is overloaded refuses its other requests too, and each of their first refusals pauses it as before.
     */
    public long onOutcome(String host, FetchOutcome o, String cancelReason, boolean headersReceived,
            boolean refusedBefore, int inFlightAtSend, int inFlightNow, long rttNanos, long ttfbNanos, long now) {
        HostGate g = gates.get(host);
        g.warmUp().onFinished(o.http2);
        g.rate().onBody(o.bytes, now);
        Blame blame = Blame.of(o, cancelReason, headersReceived);
        long pausedUntil = 0;
        if (Blame.answered(o, headersReceived)) {
            g.breaker().onAnswer(); // any HTTP answer: the host is alive
            g.prove();
        }
        AdaptiveLimit limit = g.adaptiveLimit();
        switch (blame) {
            case ANSWER -> {
                g.clearSuspects();
                g.servedAt(clock.absoluteTimeMillis());
                limit.onAnswer(ttfbNanos, rttNanos, inFlightAtSend, g.warmUp().pinsToOne(), now);
            }
            case URL -> g.clearSuspects(); // the host answered; this URL's transfer failed: its retries only
            case SUSPECT -> {
                // One URL's 5xx or silence while the host's other requests answer is that URL's; a streak of them
                // with no answer between is the host's.
                if (g.suspect() >= SUSPECT_STREAK) {
                    limit.onDrop(inFlightAtSend, rttNanos);
                }
            }
            case CONNECTION -> {
                pausedUntil = g.breaker().onNoAnswer(failure(o, cancelReason).reason(), now);
                limit.onDrop(inFlightAtSend, rttNanos);
            }
            case OVERLOAD -> {
                g.clearSuspects();
                limit.onOverload(o.status, inFlightAtSend, inFlightNow, rttNanos, now);
                if (!refusedBefore) {
                    long wait = retry.retryAfterMillis(o.retryAfter, clock.absoluteTimeMillis());
                    long until = g.pause().onRetryAfter(o.status, wait, now);
                    pausedUntil = until > 0 ? until : pausedUntil;
                }
            }
            default -> {}
        }
        gates.save(g);
        return pausedUntil;
    }

    /** Host counts for metrics. */
    public record Summary(int throttled, int paused, int circuitOpen) {}

    /** Counts the known hosts that are throttled (limit below max), paused or parked by their breaker. */
    public Summary summary(long now) {
        int throttled = 0;
        int paused = 0;
        int open = 0;
        for (HostGate g : gates.all()) {
            if (g.warmUp().answered() && g.adaptiveLimit().throttled()) {
                throttled++;
            }
            if (g.pause().isPaused(now)) {
                paused++;
            }
            if (g.breaker().isOpen()) {
                open++;
            }
        }
        return new Summary(throttled, paused, open);
    }

    /** One host's load over the last metrics interval: requests issued, and its current limit. */
    public record HostLoad(String host, int requests, int limit) {}

    /**
     * The (at most) {@code n} hosts with the most requests issued since the previous call, busiest first, and
     * resets every host's count: the metrics' top-hosts view of the last interval.
     */
    public List<HostLoad> busiest(int n, long now) {
        List<HostLoad> all = new ArrayList<>();
        for (HostGate g : gates.all()) {
            int issued = g.takeIssued();
            if (issued > 0) {
                all.add(new HostLoad(g.host(), issued, g.limit(now)));
            }
        }
        return top(all, n);
    }

    /** The {@code n} loads with the most requests, busiest first (ties by host name, for a stable order). */
    static List<HostLoad> top(List<HostLoad> loads, int n) {
        Comparator<HostLoad> busier =
                Comparator.comparingInt(HostLoad::requests).reversed().thenComparing(HostLoad::host);
        // A bounded heap whose head is the least busy kept: O(hosts × log n), not a sort of every host.
        PriorityQueue<HostLoad> keep = new PriorityQueue<>(busier.reversed());
        for (HostLoad l : loads) {
            if (n <= 0) {
                break;
            }
            keep.add(l);
            if (keep.size() > n) {
                keep.poll();
            }
        }
        List<HostLoad> out = new ArrayList<>(keep);
        out.sort(busier);
        return out;
    }

    /** Hosts whose pause, open time, bucket refill or warm-up has ended by {@code now}; put them back in the ring. */
    public List<String> resumeDue(long now) {
        return gates.resumeDue(now);
    }

    /**
     * Writes the hosts' {@code host-state}/{@code host-health} changed since the last call (written behind, see
     * {@link HostGates#save}); the operator calls it while it snapshots, before the keyed backend is snapshotted.
     */
    public void flush() {
        gates.flush();
    }

    /** The limiter signal of an outcome whose response head did not arrive (tests; see {@link Blame}). */
    static Signal classify(FetchOutcome o, String cancelReason) {
        return switch (Blame.of(o, cancelReason, false)) {
            case ANSWER -> Signal.SUCCESS;
            case CONNECTION -> Signal.DROP;
            case SUSPECT -> Signal.SUSPECT;
            case OVERLOAD -> Signal.OVERLOAD;
            default -> Signal.NONE;
        };
    }

    private static Failures.Failure failure(FetchOutcome o, String cancelReason) {
        Throwable t = o.error != null ? o.error : new CancellationException();
        return Failures.classify(t, cancelReason, Duration.ZERO);
    }
}
