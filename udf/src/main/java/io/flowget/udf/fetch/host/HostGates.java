package io.flowget.udf.fetch.host;

import io.flowget.udf.fetch.HostHealth;
import io.flowget.udf.fetch.HostState;

import org.apache.flink.annotation.Internal;
import org.apache.flink.util.clock.Clock;

import javax.annotation.concurrent.NotThreadSafe;

import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.ToIntFunction;

/**
 * The in-memory {@link HostGate}s of the most recently used {@code capacity} hosts: {@link #get} returns a host's
 * gate, creating it from the {@link HostStateStore} when the host is first seen (or was evicted), and {@link
 * #save} writes a gate's persistent part back when it changed. It also owns the {@link WakeUps} its mechanisms
 * post to, and answers which parked hosts may go again ({@link #resumeDue}).
 *
 * <p>Memory: at most {@code capacity} gates (LRU by access); an evicted host is reloaded from the stores (limit, cap
 * and pause; whether it answered, its breaker and latency baseline) and warms up again; its rate buckets start
 * afresh. Not thread-safe: owned by {@code HostPoliteness}, task
 * thread only.
 */
@Internal
@NotThreadSafe
public final class HostGates {
    /**
     * What the mechanisms of every host share; {@code maxFor} is a key's most requests in flight and {@code shares}
     * how many shards its host is spread over (its rates are divided by that, see {@code HostShards}).
     */
    public record Settings(
            AdaptiveLimit.Settings limit,
            ToIntFunction<String> maxFor,
            Breaker.Settings breaker,
            RateLimiter.Settings rate,
            ToIntFunction<String> shares) {
        /** Settings of hosts that are never spread. */
        public Settings(AdaptiveLimit.Settings limit, ToIntFunction<String> maxFor, Breaker.Settings breaker,
                RateLimiter.Settings rate) {
            this(limit, maxFor, breaker, rate, host -> 1);
        }
    }

    private final Settings settings;
    private final HostStateStore store;
    private final HostStore<HostHealth> healthStore;
    private final Clock clock;
    private final WakeUps wakeUps = new WakeUps();
    private final Map<String, HostGate> gates;

    public HostGates(int capacity, Settings settings, HostStateStore store, Clock clock) {
        this(capacity, settings, store, new MapHostStore<>(), clock);
    }

    /** Gates whose health (answered, breaker, latency baseline) is kept in {@code healthStore}. */
    public HostGates(
            int capacity, Settings settings, HostStateStore store, HostStore<HostHealth> healthStore, Clock clock) {
        this.settings = settings;
        this.store = store;
        this.healthStore = healthStore;
        this.clock = clock;
        this.gates =
                new LinkedHashMap<>(64, 0.75f, true) {
                    @Override
                    protected boolean removeEldestEntry(Map.Entry<String, HostGate> eldest) {
                        return size() > capacity;
                    }
                };
    }

    /** The host's gate, loaded from the store when it is not in memory. */
    public HostGate get(String host) {
        HostGate g = gates.get(host);
        if (g == null) {
            HostState saved = store.read(host);
            int learned = saved != null ? saved.limit : 0;
            g = new HostGate(
                    host,
                    new AdaptiveLimit(host, settings.limit(), settings.maxFor().applyAsInt(host), learned, clock),
                    new WarmUp(host, clock, wakeUps),
                    new Breaker(host, settings.breaker(), wakeUps),
                    new RateLimiter(host, settings.rate().dividedBy(settings.shares().applyAsInt(host)), wakeUps),
                    new RetryAfterPause(host, wakeUps));
            if (saved != null) {
                g.restore(saved);
            }
            HostHealth health = healthStore.read(host);
            if (health != null) {
                g.restore(health);
            }
            gates.put(host, g);
        }
        return g;
    }

    /** Writes the gate's persistent part to the store if it differs from what the store holds. */
    public void save(HostGate g) {
        HostState now = g.snapshot();
        if (!now.equals(g.saved())) {
            store.write(g.host(), now);
            g.saved(now);
        }
        HostHealth health = g.health();
        if (!health.equals(g.savedHealth())) {
            healthStore.write(g.host(), health);
            g.savedHealth(health);
        }
    }

    /** The gates in memory, least recently used first. */
    public Collection<HostGate> all() {
        return gates.values();
    }

    /** Hosts whose warm-up, pause, open time or bucket refill has ended by {@code now} (processing time). */
    public List<String> resumeDue(long now) {
        return wakeUps.due(now, host -> {
            HostGate g = gates.get(host);
            return g == null || g.warmUp().isOver();
        });
    }
}
