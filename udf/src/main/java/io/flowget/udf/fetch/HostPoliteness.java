package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.http.FetchOutcome;

import org.apache.flink.api.common.state.StateTtlConfig;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.streaming.api.operators.KeyContext;

import com.netflix.concurrency.limits.limit.AIMDLimit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.concurrent.TimeUnit;

/**
 * How many requests the fetch operator may have in flight to each host, and when: the operator asks
 * {@link #mayIssue} where it used to compare with a fixed limit, and reports every finished attempt to
 * {@link #onOutcome}.
 *
 * <p><b>Adaptive limit.</b> Each host has a Netflix concurrency-limits {@link AIMDLimit} between
 * {@code flowget.host.min-concurrency} and {@code flowget.host.max-concurrency} (or the host's
 * {@code flowget.host.overrides} value): +1 per success while the host is busy (at least half the limit in
 * flight), ×0.9 per drop. Drops are 429/503, other retryable statuses (408, 5xx), timeouts, resets and connect
 * errors; answers such as 404 count as successes (the host answered), non-retryable local failures (body too
 * large, blocked address, shutdown) count as nothing.
 *
 * <p><b>Rising latency.</b> An answer whose time to first byte (TTFB: request sent to response head; the body's
 * time is the file's size, not the host's load) exceeds {@code flowget.host.latency-drop-factor} × the host's
 * smoothed minimum TTFB, and is at least {@code flowget.host.latency-drop-min} above it, is a drop too: a host
 * that queues our requests slows before it refuses them. Only answers to requests sent after the previous
 * latency drop count, so one round of slow answers shrinks the limit once, not once per answer (like TCP's
 * once-per-window backoff); the round's other answers count as nothing (no growth either, like fast recovery).
 * Answers half-way to slow (TTFB above (1 + (factor-1)/2) × the minimum, and at least half of latency-drop-min
 * above it) hold the limit, like TCP Vegas between its alpha and beta: AIMD grows by one per answer, and without
 * this band it would saw from the drop line to far above it within one round. The minimum drifts up by
 * 1/{@value #MIN_TTFB_DRIFT} of the gap with each answer that is not slow, and with slow ones while the host is at
 * its floor, so a host whose base latency really rose is re-learnt instead of throttled forever.
 *
 * <p>Why AIMD with a latency drop and not concurrency-limits' Gradient2Limit: Gradient2 sets the new limit to
 * limit × gradient + a queue allowance (4 by default), with the gradient at least 0.5, so it cannot go below
 * about twice the allowance: a host that queues at 3 would keep 8. Per-host limits here are small, and a drop
 * also fits the overload cap and the warm-up, which already speak in drops.
 *
 * <p><b>Overload cap.</b> AIMD alone keeps probing: at a host that refuses its fourth concurrent request it would
 * go 3 → 4 → 429 → 3 → 4 every few requests. So a 429/503 for a request sent while N were in flight also caps the
 * host at N-1 (the concurrency the host just proved it can take), and the cap rises by one only after each
 * {@code flowget.host.probe-interval} without another overload — like TCP's ssthresh, one probe per interval.
 *
 * <p><b>Host-wide pause.</b> A 429/503 with {@code Retry-After} (seconds or HTTP-date, capped by
 * {@code flowget.retry.max-retry-after}) stops all new requests to the host until then, not just the retry of the
 * one request; requests already in flight finish. {@link #resumeDue} tells the operator which hosts may go again.
 *
 * <p><b>Circuit breaker and retry budget.</b> {@code flowget.host.breaker.failures} consecutive attempts without
 * any HTTP answer (connect refused or timed out, resets, DNS) open the host's circuit: its requests are parked,
 * not failed, and after {@code flowget.host.breaker.open} (doubling per failed probe, capped by
 * {@code flowget.host.breaker.max-open}) one probe goes out; any HTTP answer closes the circuit. Once a host has
 * given no answer for {@code flowget.host.give-up-after} its parked and new requests FAIL at once with
 * {@code host unreachable: <last error>} ({@link #refusal}), so a dead host cannot fill the subtask's backlog;
 * probes continue and a live answer ends that.
 *
 * <p><b>Rate limits.</b> {@code flowget.host.max-requests-per-second} and {@code max-bytes-per-second} are
 * token buckets per host; a host out of tokens leaves the ring until its bucket refills.
 *
 * <p><b>Warm-up.</b> Until a host has answered once (in this operator instance), but for at most
 * {@value #WARM_MAX_NANOS} ns, only one request goes to it: an
 * HTTP/2 origin then serves all later requests as streams of that one connection (HttpClient shares a connection
 * only once it knows the protocol), and an HTTP/1.1 origin resumes that connection's TLS session. After an
 * HTTP/2 answer the burst waits a further {@value #WARM_GRACE_NANOS} ns (woken by the operator's sweep), because
 * HttpClient reports the response before it puts the connection back in its pool.
 *
 * <p><b>State.</b> Limit, cap and pause live in the keyed {@link ValueState} {@code host-state} (a
 * {@link HostState}), written when they change, read when a host is first seen, so they survive restarts. Its
 * TTL ({@code flowget.host.state-ttl}) bounds the state of hosts seen once. The in-memory gates are an LRU of
 * {@value #MAX_GATES} hosts; an evicted host is reloaded from state (and warms up again).
 *
 * <p>Times are the operator's processing time (ms), the clock of its retry timers. Not thread-safe: task thread
 * only. It switches the current key to read and write a host's state and restores the caller's key.
 */
public final class HostPoliteness {
    private static final Logger LOG = LoggerFactory.getLogger(HostPoliteness.class);

    static final String STATE_NAME = "host-state";
    static final int MAX_GATES = 10_000;
    /** Time for HttpClient to return a connection to its pool after the response callback (wall clock). */
    static final long WARM_GRACE_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
    /** Longest warm-up while the first request has not answered yet (wall clock). */
    static final long WARM_MAX_NANOS = TimeUnit.SECONDS.toNanos(1);
    /** The smoothed minimum TTFB moves up by 1/this of its gap to each slower answer. */
    static final int MIN_TTFB_DRIFT = 512;

    /** What an attempt's outcome says about the host's capacity. */
    enum Signal {
        SUCCESS,
        DROP,
        OVERLOAD,
        NONE
    }

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
            Duration latencyDropMin) {

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
                    conf.get(FlowgetOptions.HOST_LATENCY_DROP_MIN));
        }

        /** The most requests in flight a host may ever get: its override, else max-concurrency. */
        int maxFor(String host) {
            for (HostOverride o : overrides) {
                if (o.matches(host)) {
                    return Math.max(min, o.max());
                }
            }
            return max;
        }
    }

    /** One {@code pattern=N} entry of {@code flowget.host.overrides}. */
    public record HostOverride(String pattern, int max) {
        static List<HostOverride> parseList(String text) {
            List<HostOverride> out = new ArrayList<>();
            for (String entry : text.split("[,;\\s]+")) {
                if (entry.isBlank()) {
                    continue;
                }
                int eq = entry.indexOf('=');
                try {
                    if (eq <= 0) {
                        throw new NumberFormatException();
                    }
                    int n = Integer.parseInt(entry.substring(eq + 1).trim());
                    if (n < 1) {
                        throw new NumberFormatException();
                    }
                    out.add(new HostOverride(entry.substring(0, eq).trim().toLowerCase(Locale.ROOT), n));
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException(
                            FlowgetOptions.HOST_OVERRIDES.key() + ": expected pattern=N with N >= 1, got '"
                                    + entry + "'");
                }
            }
            return List.copyOf(out);
        }

        boolean matches(String host) {
            if (pattern.startsWith("*.")) {
                return host.endsWith(pattern.substring(1));
            }
            return host.equals(pattern);
        }
    }

    /** The keyed state descriptor; register it in the operator's {@code initializeState}. */
    public static ValueStateDescriptor<HostState> stateDescriptor(Duration ttl) {
        ValueStateDescriptor<HostState> d =
                new ValueStateDescriptor<>(STATE_NAME, TypeInformation.of(HostState.class));
        d.enableTimeToLive(
                StateTtlConfig.newBuilder(ttl)
                        .updateTtlOnReadAndWrite()
                        .neverReturnExpired()
                        .cleanupInRocksdbCompactFilter(1000)
                        .build());
        return d;
    }

    private final Settings settings;
    private final RetryPolicy retry;
    private final ValueState<HostState> state;
    private final KeyContext keys;
    private final Map<String, Gate> gates =
            new LinkedHashMap<>(64, 0.75f, true) {
                @Override
                protected boolean removeEldestEntry(Map.Entry<String, Gate> eldest) {
                    return size() > MAX_GATES;
                }
            };
    private final PriorityQueue<Pause> pauses = new PriorityQueue<>();
    /** Hosts whose first HTTP/2 answer came in and whose burst waits for {@link #WARM_GRACE_NANOS}. */
    private final java.util.Set<String> warming = new java.util.LinkedHashSet<>();

    public HostPoliteness(Settings settings, RetryPolicy retry, ValueState<HostState> state, KeyContext keys) {
        this.settings = settings;
        this.retry = retry;
        this.state = state;
        this.keys = keys;
    }

    /** True when one more request may go to the host now. */
    public boolean mayIssue(String host, int inFlight, long now) {
        Gate g = gate(host);
        if (g.pausedUntil > now) {
            return false;
        }
        if (g.openUntil > 0) {
            if (now < g.openUntil) {
                // Open: park the host's requests, or, past the retry budget, let them through to fail fast.
                return g.givenUp;
            }
            return inFlight == 0; // half-open: one probe
        }
        return inFlight < limit(g, now) && withinRate(host, g, now);
    }

    /** Counts a request the operator is about to send (charges the host's request bucket). */
    public void onIssued(String host, long now) {
        Gate g = gate(host);
        if (!g.answered && g.warmAtNanos == 0) {
            // The warm-up lasts until the first answer, but no longer than WARM_MAX_NANOS: a host whose first
            // file is large must not wait for all of it.
            g.warmAtNanos = System.nanoTime() + WARM_MAX_NANOS;
            warming.add(host);
        }
        g.issued++;
        if (settings.requestsPerSecond() > 0) {
            refill(g, now);
            g.requestTokens -= 1;
        }
    }

    /**
     * Token buckets, refilled from processing time: one request token per 1/rps s (bursts of one second's
     * worth), body bytes charged when a response ends. Hand-written: two counters per host need no library,
     * and the wake-up must go through the operator's ring, not a blocking acquire.
     */
    private boolean withinRate(String host, Gate g, long now) {
        if (settings.requestsPerSecond() <= 0 && settings.bytesPerSecond() <= 0) {
            return true;
        }
        refill(g, now);
        long wake = 0;
        if (settings.requestsPerSecond() > 0 && g.requestTokens < 1) {
            wake = now + (long) Math.ceil((1 - g.requestTokens) * 1000 / settings.requestsPerSecond());
        }
        if (settings.bytesPerSecond() > 0 && g.byteTokens < 0) {
            wake = Math.max(wake, now + (long) Math.ceil(-g.byteTokens * 1000 / settings.bytesPerSecond()));
        }
        if (wake == 0) {
            return true;
        }
        if (g.rateWakeAt <= now || wake < g.rateWakeAt) {
            g.rateWakeAt = wake;
            pauses.add(new Pause(wake, host));
        }
        return false;
    }

    private void refill(Gate g, long now) {
        if (g.tokensAt == 0) {
            g.tokensAt = now;
            g.requestTokens = Math.max(1, settings.requestsPerSecond());
            g.byteTokens = settings.bytesPerSecond();
            return;
        }
        long dt = Math.max(0, now - g.tokensAt);
        g.tokensAt = now;
        double rps = settings.requestsPerSecond();
        if (rps > 0) {
            g.requestTokens = Math.min(Math.max(1, rps), g.requestTokens + dt * rps / 1000);
        }
        double bps = settings.bytesPerSecond();
        if (bps > 0) {
            g.byteTokens = Math.min(bps, g.byteTokens + dt * bps / 1000);
        }
    }

    /**
     * Why a request to the host must FAIL now without being sent (its circuit is open and the host is past
     * its retry budget), or null to send it.
     */
    public String refusal(String host, long now) {
        Gate g = gate(host);
        if (g.openUntil > 0 && now < g.openUntil && g.givenUp) {
            return "host unreachable: " + g.lastError + " (no answer for "
                    + Failures.seconds(Duration.ofMillis(((now - g.failingSince) / 1000) * 1000)) + ")";
        }
        return null;
    }

    /** True while the host's circuit is open or half-open. */
    public boolean circuitOpen(String host) {
        return gate(host).openUntil > 0;
    }

    /** The host's current limit (1 while it warms up). */
    public int limit(String host, long now) {
        return limit(gate(host), now);
    }

    /** Processing time until which the host is paused, 0 when it is not. */
    public long pausedUntil(String host) {
        return gate(host).pausedUntil;
    }

    /**
     * Feeds one finished attempt (final hop) to the host's limiter and applies a Retry-After pause.
     *
     * @param inFlightAtSend requests in flight to the host when the attempt was sent, itself included
     * @param inFlightNow requests still in flight to the host now, this one included
     * @param rttNanos time from sending the attempt's last hop to its outcome
     * @param ttfbNanos time from sending the last hop to its response head, or -1 when none arrived
     * @return the processing time the host is newly paused until (register a timer for it), or 0
     */
    public long onOutcome(
            String host,
            FetchOutcome o,
            String cancelReason,
            int inFlightAtSend,
            int inFlightNow,
            long rttNanos,
            long ttfbNanos,
            long now) {
        Gate g = gate(host);
        if (!g.answered) {
            // HttpClient calls us back before it returns the connection to its pool; leases made in that
            // window open new connections instead of sharing this HTTP/2 one. Hold the burst a moment.
            g.warmAtNanos = o.http2 ? System.nanoTime() + WARM_GRACE_NANOS : 0;
            if (o.http2) {
                warming.add(host);
            }
        }
        g.answered = true;
        if (settings.bytesPerSecond() > 0 && o.bytes > 0) {
            refill(g, now);
            g.byteTokens -= o.bytes;
        }
        Signal s = classify(o, cancelReason);
        if (s == Signal.SUCCESS) {
            s = latencySignal(g, ttfbNanos, rttNanos, now);
            if (s == Signal.DROP) {
                LOG.debug("{}: first byte after {} ms, minimum {} ms: latency drop", host,
                        ttfbNanos / 1_000_000, g.minTtfb / 1_000_000);
            }
        }
        long pausedUntil = 0;
        int inflight = Math.max(1, inFlightAtSend);
        long rtt = Math.max(1, rttNanos);
        if (o.status > 0) {
            // Any HTTP answer: the host is alive.
            if (g.openUntil > 0) {
                LOG.info("{} answered again: closing its circuit", host);
            }
            g.consecutiveFailures = 0;
            g.opens = 0;
            g.openUntil = 0;
            g.givenUp = false;
        } else if (s == Signal.DROP) {
            long wake = onHostFailure(host, g, o, cancelReason, now);
            pausedUntil = Math.max(pausedUntil, wake);
        }
        switch (s) {
            case SUCCESS:
                g.limit.onSample(System.nanoTime() - rtt, rtt, inflight, false);
                break;
            case DROP:
                g.limit.onSample(System.nanoTime() - rtt, rtt, inflight, true);
                break;
            case OVERLOAD:
                g.limit.onSample(System.nanoTime() - rtt, rtt, inflight, true);
                // The host took N-1 beside this one. N is the larger of the counts at send and now: requests
                // reach the server out of order (new connections), so a request sent second may be the one
                // refused fifth; the smaller count would under-estimate the host. Overshoot is harmless: the
                // next refusal at the cap lowers it again.
                int cap = Math.max(settings.min(), Math.max(inflight, inFlightNow) - 1);
                if (g.ceiling == 0 || cap < g.ceiling) {
                    LOG.info("{} answered {} at {} in flight: capping it at {}", host, o.status, inflight, cap);
                    g.ceiling = cap;
                }
                g.ceilingAt = now;
                long wait = retry.retryAfterMillis(o.retryAfter, System.currentTimeMillis());
                if (wait > 0 && now + wait > g.pausedUntil) {
                    g.pausedUntil = now + wait;
                    pauses.add(new Pause(g.pausedUntil, host));
                    pausedUntil = g.pausedUntil;
                    LOG.info("{} answered {} with Retry-After: pausing the host for {} ms", host, o.status, wait);
                }
                break;
            default:
                break;
        }
        save(host, g);
        return pausedUntil;
    }

    /**
     * Learns the host's smoothed minimum TTFB from an answer (SUCCESS so far) and says what the answer tells the
     * limiter (see the class comment): DROP for the first slow answer of a round, which stamps the round's end;
     * NONE for answers to requests sent before that stamp (they measured the old, larger limit: neither a
     * second drop nor evidence that the host can take more, like TCP's fast recovery); NONE for answers
     * half-way to slow (hold); else SUCCESS.
     *
     * <p>The minimum drifts up only with answers that are not slow, or while the host is at its floor (nothing
     * left to shed there, so a slow answer means the base latency rose): under sustained queueing it must not
     * creep up to the queued latency.
     */
    private Signal latencySignal(Gate g, long ttfbNanos, long rttNanos, long now) {
        if (ttfbNanos <= 0 || settings.latencyDropFactor() <= 0) {
            return Signal.SUCCESS;
        }
        long sentAt = System.nanoTime() - Math.max(rttNanos, ttfbNanos);
        if (g.minTtfb == 0 || ttfbNanos < g.minTtfb) {
            g.minTtfb = ttfbNanos;
            return Signal.SUCCESS;
        }
        double k = settings.latencyDropFactor();
        long floor = settings.latencyDropMin().toNanos();
        long excess = ttfbNanos - g.minTtfb;
        boolean slow = ttfbNanos > k * g.minTtfb && excess >= floor;
        // Half-way to slow: the host has started to queue. Hold the limit there (TCP Vegas' band between its
        // alpha and beta): growing by one per answer up to the drop line would saw far above it.
        boolean queueing = ttfbNanos > (1 + (k - 1) / 2) * g.minTtfb && excess >= floor / 2;
        if (!slow || limit(g, now) <= settings.min()) {
            g.minTtfb += excess / MIN_TTFB_DRIFT;
        }
        if (sentAt - g.latencyDropAt <= 0) {
            return Signal.NONE; // sent before the last latency drop: it measured the old limit
        }
        if (!slow) {
            return queueing ? Signal.NONE : Signal.SUCCESS;
        }
        g.latencyDropAt = System.nanoTime();
        return Signal.DROP;
    }

    /** Counts an attempt that got no HTTP answer; opens (or re-opens) the circuit. Returns a wake-up time or 0. */
    private long onHostFailure(String host, Gate g, FetchOutcome o, String cancelReason, long now) {
        if (g.consecutiveFailures == 0) {
            g.failingSince = now;
        }
        g.consecutiveFailures++;
        Throwable t = o.error != null ? o.error : new java.util.concurrent.CancellationException();
        g.lastError = Failures.classify(t, cancelReason, Duration.ZERO).reason();
        boolean halfOpenProbeFailed = g.openUntil > 0 && now >= g.openUntil;
        boolean tooMany = g.openUntil == 0 && g.consecutiveFailures >= settings.breakerFailures();
        if (!halfOpenProbeFailed && !tooMany) {
            return 0;
        }
        g.opens++;
        long interval = settings.breakerOpen().toMillis() << Math.min(g.opens - 1, 20);
        interval = Math.min(interval, settings.breakerMaxOpen().toMillis());
        g.openUntil = now + Math.max(1, interval);
        g.givenUp = now - g.failingSince >= settings.giveUpAfter().toMillis();
        pauses.add(new Pause(g.openUntil, host));
        LOG.info(
                "{}: {} attempts without an answer ({}): circuit open for {} ms{}",
                host,
                g.consecutiveFailures,
                g.lastError,
                interval,
                g.givenUp ? ", failing its waiting requests" : "");
        return g.openUntil;
    }

    /** Host counts for metrics. */
    public record Summary(int throttled, int paused, int circuitOpen) {}

    /** Counts the known hosts that are throttled (limit below max), paused or parked by their breaker. */
    public Summary summary(long now) {
        int throttled = 0;
        int paused = 0;
        int open = 0;
        for (Gate g : gates.values()) {
            if (g.answered && (g.ceiling > 0 || g.limit.getLimit() < g.max)) {
                throttled++;
            }
            if (g.pausedUntil > now) {
                paused++;
            }
            if (g.openUntil > 0) {
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
        for (Map.Entry<String, Gate> e : gates.entrySet()) {
            Gate g = e.getValue();
            if (g.issued > 0) {
                all.add(new HostLoad(e.getKey(), g.issued, limit(g, now)));
                g.issued = 0;
            }
        }
        return top(all, n);
    }

    /** The {@code n} loads with the most requests, busiest first (ties by host name, for a stable order). */
    static List<HostLoad> top(List<HostLoad> loads, int n) {
        java.util.Comparator<HostLoad> busier =
                java.util.Comparator.comparingInt(HostLoad::requests).reversed().thenComparing(HostLoad::host);
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

    /** Hosts whose pause has ended by {@code now}; the operator puts them back in its ring. */
    public List<String> resumeDue(long now) {
        List<String> out = new ArrayList<>();
        if (!warming.isEmpty()) {
            long t = System.nanoTime();
            for (java.util.Iterator<String> it = warming.iterator(); it.hasNext(); ) {
                String host = it.next();
                Gate g = gates.get(host);
                if (g == null || t - g.warmAtNanos >= 0) {
                    it.remove();
                    out.add(host);
                }
            }
        }
        while (!pauses.isEmpty() && pauses.peek().until <= now) {
            out.add(pauses.poll().host);
        }
        return out;
    }

    static Signal classify(FetchOutcome o, String cancelReason) {
        if (o.error != null || cancelReason != null) {
            Throwable t = o.error != null ? o.error : new java.util.concurrent.CancellationException();
            return Failures.classify(t, cancelReason, Duration.ZERO).retryable() ? Signal.DROP : Signal.NONE;
        }
        if (o.status == 429 || o.status == 503) {
            return Signal.OVERLOAD;
        }
        if (RetryPolicy.isRetryableStatus(o.status)) {
            return Signal.DROP;
        }
        return o.status > 0 ? Signal.SUCCESS : Signal.NONE;
    }

    private int limit(Gate g, long now) {
        if (g.warmAtNanos != 0 && System.nanoTime() - g.warmAtNanos < 0) {
            return 1; // warming up: the first request (or the first HTTP/2 answer's grace)
        }
        if (!g.answered && g.warmAtNanos == 0) {
            return 1; // nothing sent yet
        }
        if (g.ceiling > 0 && now - g.ceilingAt >= settings.probeInterval().toMillis()) {
            long steps = (now - g.ceilingAt) / Math.max(1, settings.probeInterval().toMillis());
            g.ceiling = (int) Math.min(Integer.MAX_VALUE, g.ceiling + steps);
            g.ceilingAt += steps * settings.probeInterval().toMillis();
            if (g.ceiling >= g.max) {
                g.ceiling = 0;
            }
        }
        int l = g.limit.getLimit();
        if (g.ceiling > 0) {
            l = Math.min(l, g.ceiling);
        }
        return Math.max(settings.min(), Math.min(g.max, l));
    }

    private Gate gate(String host) {
        Gate g = gates.get(host);
        if (g == null) {
            HostState saved = read(host);
            int max = settings.maxFor(host);
            int start = saved != null && saved.limit > 0 ? saved.limit : settings.initial();
            start = Math.max(settings.min(), Math.min(max, start));
            g = new Gate(
                    AIMDLimit.newBuilder()
                            .minLimit(settings.min())
                            .maxLimit(max)
                            .initialLimit(start)
                            // RTT here includes body transfer, so it is no overload signal: drops only
                            // (errors, overload, and slow first bytes, see latencySignal).
                            .timeout(365, TimeUnit.DAYS)
                            .build(),
                    max);
            if (saved != null) {
                g.ceiling = saved.ceiling;
                g.ceilingAt = saved.ceilingAt;
                g.pausedUntil = saved.pausedUntil;
                if (g.pausedUntil > 0) {
                    pauses.add(new Pause(g.pausedUntil, host));
                }
                g.saved = saved;
            }
            gates.put(host, g);
        }
        return g;
    }

    private HostState read(String host) {
        Object previous = keys.getCurrentKey();
        try {
            keys.setCurrentKey(host);
            return state.value();
        } catch (Exception e) {
            throw new IllegalStateException("cannot read host state of " + host, e);
        } finally {
            if (previous != null) {
                keys.setCurrentKey(previous);
            }
        }
    }

    private void save(String host, Gate g) {
        HostState now = new HostState(g.limit.getLimit(), g.ceiling, g.ceilingAt, g.pausedUntil);
        if (now.equals(g.saved)) {
            return;
        }
        Object previous = keys.getCurrentKey();
        try {
            keys.setCurrentKey(host);
            state.update(now);
            g.saved = now;
        } catch (Exception e) {
            throw new IllegalStateException("cannot write host state of " + host, e);
        } finally {
            if (previous != null) {
                keys.setCurrentKey(previous);
            }
        }
    }

    /** In-memory politeness of one host. */
    private static final class Gate {
        final AIMDLimit limit;
        final int max;
        int ceiling;
        long ceilingAt;
        long pausedUntil;
        boolean answered;
        /** Requests issued since the last {@link #busiest} (metrics). */
        int issued;
        // rate limits (token buckets, processing time)
        double requestTokens;
        double byteTokens;
        long tokensAt;
        long rateWakeAt;
        /** System.nanoTime() before which an HTTP/2 host still warms up; 0 when warm. */
        long warmAtNanos;
        HostState saved;
        /** Smoothed minimum time to first byte (ns), 0 until the first answer; in memory only. */
        long minTtfb;
        /** System.nanoTime() of the last latency drop: answers to requests sent before it do not drop again. */
        long latencyDropAt = System.nanoTime() - TimeUnit.DAYS.toNanos(1);
        // circuit breaker (in memory: after a restart a dead host is found again in a few attempts)
        int consecutiveFailures;
        int opens;
        long failingSince;
        long openUntil;
        boolean givenUp;
        String lastError;

        Gate(AIMDLimit limit, int max) {
            this.limit = limit;
            this.max = max;
        }
    }

    private record Pause(long until, String host) implements Comparable<Pause> {
        @Override
        public int compareTo(Pause o) {
            return Long.compare(until, o.until);
        }
    }
}
