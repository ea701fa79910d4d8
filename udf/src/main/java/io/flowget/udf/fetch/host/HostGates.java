package io.flowget.udf.fetch.host;

import io.flowget.udf.fetch.HostHealth;
import io.flowget.udf.fetch.HostState;

import org.apache.flink.annotation.Internal;
import org.apache.flink.util.clock.Clock;

import javax.annotation.concurrent.NotThreadSafe;

import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.ToIntFunction;

/**
 * The in-memory {@link HostGate}s of the most recently used {@code capacity} hosts: {@link #get} returns a host's
 * gate, creating it from the {@link HostStateStore} when the host is first seen (or was evicted), and {@link
 * #save} marks a gate whose persistent part changed, written back at the next {@link #flush} (the operator's
 * snapshot) or when the gate is evicted (write-behind, issue 16). It also owns the {@link WakeUps} its mechanisms
 * post to, and answers which parked hosts may go again ({@link #resumeDue}).
 *
 * <p>Memory: at most {@code capacity} gates (LRU by access); an evicted host is reloaded from the stores (limit, cap
 * and pause; whether it answered, its breaker and latency baseline) and warms up again; its rate buckets start
 * afresh. A gate evicted with unwritten changes writes them first, so a reload sees them. Not thread-safe: owned by {@code HostPoliteness}, task
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
    /** Gates {@link #save}d since the last {@link #flush}: their persistent part may differ from the stores'. */
    private final Set<HostGate> dirty = new LinkedHashSet<>();

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
                        if (size() <= capacity) {
                            return false;
                        }
                        if (dirty.remove(eldest.getValue())) {
                            write(eldest.getValue()); // evicted: what it learned since the last flush is kept
                        }
                        return true;
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

    /**
     * The gate's persistent part changed: it is written to the stores at the next {@link #flush} (the operator's
     * snapshot) or when the gate is evicted, whichever comes first — written behind, so a host that answers many
     * requests between two checkpoints writes its keyed state once per checkpoint, not once per answer.
     */
    public void save(HostGate g) {
        dirty.add(g);
    }

    /**
     * Writes every gate {@link #save}d since the last flush whose persistent part differs from what its store holds
     * (as it is now); the operator calls it while it snapshots, before the keyed backend is snapshotted, so each
     * checkpoint holds every host's state as at its barrier. Returns how many gates it looked at.
     */
    public int flush() {
        int n = dirty.size();
        for (HostGate g : dirty) {
            write(g);
        }
        dirty.clear();
        return n;
    }

    /** Gates whose changes wait for the next {@link #flush} (tests). */
    public int dirtyCount() {
        return dirty.size();
    }

    /** Writes the gate's persistent part to the stores where it differs from what they hold. */
    private void write(HostGate g) {
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
