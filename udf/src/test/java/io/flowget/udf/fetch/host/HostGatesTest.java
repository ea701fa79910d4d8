package io.flowget.udf.fetch.host;

import io.flowget.udf.fetch.HostHealth;
import io.flowget.udf.fetch.HostState;

import org.apache.flink.util.clock.ManualClock;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link HostGates} over an in-memory {@link HostStateStore}: a host's state is read when it is first seen (and
 * again after eviction), written only when it changed, and a restored cap and pause take effect.
 */
class HostGatesTest {
    private final ManualClock clock = new ManualClock();
    private final Map<String, HostState> stored = new HashMap<>();
    private final List<String> reads = new ArrayList<>();
    private final List<String> writes = new ArrayList<>();
    private final HostStateStore store =
            new HostStateStore() {
                @Override
                public HostState read(String host) {
                    reads.add(host);
                    return stored.get(host);
                }

                @Override
                public void write(String host, HostState state) {
                    writes.add(host);
                    stored.put(host, state);
                }
            };

    private final MapHostStore<HostHealth> health = new MapHostStore<>();

    private HostGates gates(int capacity) {
        return new HostGates(
                capacity,
                new HostGates.Settings(
                        new AdaptiveLimit.Settings(1, 4, Duration.ofSeconds(10), 3.0, Duration.ofMillis(50)),
                        host -> host.startsWith("small") ? 2 : 8,
                        new Breaker.Settings(3, Duration.ofMillis(200), Duration.ofSeconds(1), Duration.ofSeconds(5)),
                        new RateLimiter.Settings(0, 0)),
                store,
                health,
                clock);
    }

    @Test
    void readsOnFirstSightAndWritesOnlyChanges() {
        HostGates gates = gates(10);
        HostGate g = gates.get("a.example");
        assertThat(gates.get("a.example")).isSameAs(g);
        assertThat(reads).containsExactly("a.example");

        gates.save(g);
        assertThat(writes).as("written behind: nothing before the flush").isEmpty();
        assertThat(gates.flush()).isEqualTo(1);
        assertThat(stored.get("a.example")).isEqualTo(new HostState(4, 0, 0, 0));
        gates.save(g);
        gates.flush();
        assertThat(writes).as("unchanged: not written again").hasSize(1);

        g.adaptiveLimit().onOverload(429, 3, 3, 1_000_000, 5_000);
        g.pause().onRetryAfter(429, 2_000, 5_000);
        gates.save(g);
        gates.flush();
        assertThat(stored.get("a.example")).isEqualTo(new HostState(3, 2, 5_000, 7_000));
        assertThat(writes).hasSize(2);
        assertThat(gates.resumeDue(7_000)).containsExactly("a.example");
    }

    @Test
    void aSavedStateIsRestoredWithItsCapAndPause() {
        stored.put("b.example", new HostState(6, 3, 1_000, 9_000));
        stored.put("small.example", new HostState(6, 0, 0, 0));
        HostGates gates = gates(10);
        HostGate g = gates.get("b.example");
        assertThat(g.adaptiveLimit().learned()).isEqualTo(6);
        assertThat(g.pause().isPaused(8_999)).isTrue();
        g.warmUp().onFinished(false); // warm and answered, so the limit is the adaptive one
        g.prove();
        assertThat(g.limit(1_000)).as("capped").isEqualTo(3);
        assertThat(gates.resumeDue(9_000)).containsExactly("b.example");
        gates.save(g);
        gates.flush();
        assertThat(writes).as("nothing changed since the read").isEmpty();

        HostGate small = gates.get("small.example");
        small.warmUp().onFinished(false);
        small.prove();
        assertThat(small.limit(0)).as("clamped to the host's max").isEqualTo(2);
    }

    @Test
    void theLimitIsOneWhileTheHostWarmsUpAndUntilItHasAnswered() {
        HostGate g = gates(10).get("c.example");
        assertThat(g.limit(0)).isEqualTo(1);
        g.warmUp().onIssued();
        assertThat(g.limit(0)).isEqualTo(1);
        clock.advanceTime(WarmUp.MAX_NANOS, java.util.concurrent.TimeUnit.NANOSECONDS);
        assertThat(g.limit(0)).as("warm-up over, but the host has not answered yet").isEqualTo(1);
        g.prove();
        assertThat(g.limit(0)).isEqualTo(4);
    }

    @Test
    void anEvictedHostIsReadAgainAndWarmsUpAgain() {
        HostGates gates = gates(2);
        HostGate a = gates.get("a");
        a.warmUp().onFinished(false);
        gates.save(a);
        gates.get("b");
        gates.get("c"); // evicts a, the least recently used
        assertThat(gates.all()).extracting(HostGate::host).containsExactly("b", "c");
        HostGate again = gates.get("a");
        assertThat(again).isNotSameAs(a);
        assertThat(again.warmUp().answered()).isFalse();
        assertThat(reads).containsExactly("a", "b", "c", "a");
    }

    @Test
    void moreHostsThanGatesKeepTheirBreakerAnsweredFlagAndLatencyBaseline() {
        int capacity = 100; // HostPoliteness keeps 10,000 gates; the rule is the same at any capacity
        HostGates gates = gates(capacity);
        HostGate dead = gates.get("dead.example");
        for (int i = 0; i < 3; i++) {
            dead.breaker().onNoAnswer("connect error: Connection refused", 1_000);
        }
        gates.save(dead);
        HostGate alive = gates.get("alive.example");
        alive.prove();
        alive.adaptiveLimit().onAnswer(40_000_000, 50_000_000, 1, false, 1_000);
        gates.save(alive);
        for (int i = 0; i < capacity + 1; i++) {
            gates.get("other" + i + ".example"); // evicts both
        }
        assertThat(gates.all()).extracting(HostGate::host).doesNotContain("dead.example", "alive.example");

        HostGate deadAgain = gates.get("dead.example");
        assertThat(deadAgain).isNotSameAs(dead);
        assertThat(deadAgain.breaker().isOpen()).as("still open after eviction").isTrue();
        assertThat(deadAgain.breaker().admitsWhileOpen(0, 1_100)).as("parked until its open time ends").isFalse();
        assertThat(gates.resumeDue(1_200)).as("woken at the end of its open time").contains("dead.example");
        assertThat(deadAgain.proven()).isFalse();
        HostGate aliveAgain = gates.get("alive.example");
        assertThat(aliveAgain.proven()).isTrue();
        assertThat(aliveAgain.adaptiveLimit().minTtfb()).isEqualTo(40_000_000);
    }

    @Test
    void theLatencyBaselineIsWrittenWhenItMovesByMoreThanAnEighthNotOnEveryAnswer() {
        HostGates gates = gates(10);
        HostGate g = gates.get("a.example");
        g.prove();
        g.adaptiveLimit().onAnswer(80_000_000, 80_000_000, 1, false, 0);
        gates.save(g);
        gates.flush();
        assertThat(health.read("a.example").minTtfbNanos).isEqualTo(80_000_000);
        g.adaptiveLimit().onAnswer(75_000_000, 75_000_000, 1, false, 0); // within an eighth
        gates.save(g);
        gates.flush();
        assertThat(health.read("a.example").minTtfbNanos).isEqualTo(80_000_000);
        g.adaptiveLimit().onAnswer(60_000_000, 60_000_000, 1, false, 0);
        gates.save(g);
        gates.flush();
        assertThat(health.read("a.example").minTtfbNanos).isEqualTo(60_000_000);
    }

    @Test
    void aHostTouchedManyTimesBetweenTwoFlushesIsWrittenOncePerFlushAndOnEviction() {
        HostGates gates = gates(2);
        HostGate g = gates.get("busy.example");
        for (int i = 0; i < 50; i++) { // fifty answers between two checkpoints, the limit moving on each
            g.adaptiveLimit().onOverload(429, 3, 3, 1_000_000, 1_000 + i);
            gates.save(g);
        }
        assertThat(writes).as("nothing reaches the store between checkpoints").isEmpty();
        assertThat(gates.dirtyCount()).isEqualTo(1);
        gates.flush();
        assertThat(writes).as("one write at the checkpoint, the state as it is then").hasSize(1);
        assertThat(stored.get("busy.example")).isEqualTo(g.snapshot());
        assertThat(gates.dirtyCount()).isZero();

        g.pause().onRetryAfter(503, 60_000, 9_000);
        gates.save(g);
        gates.get("b");
        gates.get("c"); // evicts busy.example before any flush: its change is written then
        assertThat(writes).hasSize(2);
        assertThat(gates.get("busy.example").pause().isPaused(9_001)).as("the reloaded gate has it").isTrue();
        assertThat(gates.flush()).as("the evicted gate was written already").isZero();
    }

    @Test
    void issuedRequestsAreCountedUntilTaken() {
        HostGate g = gates(10).get("d");
        g.countIssued();
        g.countIssued();
        assertThat(g.takeIssued()).isEqualTo(2);
        assertThat(g.takeIssued()).isZero();
    }
}
