package io.flowget.udf.fetch;

import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.testing.KeyedBackends;

import org.apache.flink.api.common.state.State;
import org.apache.flink.runtime.operators.testutils.MockEnvironment;
import org.apache.flink.runtime.operators.testutils.MockEnvironmentBuilder;
import org.apache.flink.runtime.state.AbstractKeyedStateBackend;
import org.apache.flink.runtime.state.KeyedStateBackend;
import org.apache.flink.runtime.state.VoidNamespace;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link FetchState}'s write-behind on a real RocksDB keyed backend (created outside a job, as the JMH state
 * benchmarks do): a request that is queued, taken and ended between two checkpoints makes no call on the
 * {@code queue}, {@code queue-cursor} or {@code active} state; what {@link FetchState#flush} wrote is exactly what a
 * restore scan finds; entries that reached the backend are deleted there when they end (a flushed queued request
 * without being read back); and past its bound the queue is written through. Calls are counted by a decorator around
 * the real backend's state objects.
 *
 * <p>Snapshot and restore of the whole operator with requests held only in memory at the barrier (queued and in
 * flight): {@code FetchOperatorTest.restoresRequestsInFlightAndCompletesEachExactlyOnce} and the restore tests beside
 * it, on RocksDB in the operator harness.
 */
class FetchStateTest {
    private static final Duration TTL = Duration.ofDays(1);

    @TempDir Path dir;

    private MockEnvironment env;
    private AbstractKeyedStateBackend<String> rocks;
    /** Calls on the fetch states ({@code queue}, {@code queue-cursor}, {@code active}) by state name and method. */
    private final Map<String, AtomicInteger> calls = new ConcurrentHashMap<>();

    @BeforeEach
    void backend() throws Exception {
        env = new MockEnvironmentBuilder().setManagedMemorySize(64L << 20).build();
        EmbeddedRocksDBStateBackend sb = new EmbeddedRocksDBStateBackend(true);
        sb.setDbStoragePath(dir.toString());
        rocks = KeyedBackends.create(sb, env);
    }

    @AfterEach
    void close() throws Exception {
        rocks.dispose();
        env.close();
    }

    @Test
    void aRequestThatStartsAndEndsBetweenCheckpointsNeverReachesTheBackend() throws Exception {
        FetchState state = new FetchState(counted(), TTL);
        for (int i = 0; i < 3; i++) {
            // Arrange/act: the operator's calls for one request of an idle host, then the next checkpoint.
            rocks.setCurrentKey("a.example");
            long seq = state.enqueue("a.example", request("a.example", i));
            FetchState.Dequeued next = state.dequeue("a.example");
            Download d = new Download(next.request(), 0);
            state.putActive(next.seq(), d);
            d.attempts++;
            state.putActive(next.seq(), d); // a retry writes it again
            state.removeActive(next.seq());
            state.forgetHost("a.example");
            state.flush(rocks::setCurrentKey);

            assertThat(next.seq()).isEqualTo(seq);
            assertThat(next.request().id).isEqualTo("a.example-" + i);
        }

        assertThat(calls).as("no call on the queue, cursor or active state").isEmpty();
        assertThat(keys(FetchState.QUEUE_STATE, FetchState.CURSOR_STATE, FetchState.ACTIVE_STATE)).isEmpty();
        assertThat(state.hostsWithState()).isZero();
        assertThat(state.cachedHosts()).isZero();
    }

    @Test
    void aFlushWritesWhatARestoreNeedsAndLaterEndsDeleteIt() throws Exception {
        FetchState state = new FetchState(counted(), TTL);
        rocks.setCurrentKey("b.example");
        for (int i = 0; i < 3; i++) {
            state.enqueue("b.example", request("b.example", i));
        }
        FetchState.Dequeued first = state.dequeue("b.example");
        Download d = new Download(first.request(), 0);
        state.putActive(first.seq(), d);
        d.attempts = 2; // changed in place after its last write: the flush writes it as it is at the checkpoint
        assertThat(keys(FetchState.QUEUE_STATE, FetchState.CURSOR_STATE, FetchState.ACTIVE_STATE))
                .as("nothing in the backend before the checkpoint")
                .isEmpty();

        state.flush(rocks::setCurrentKey);

        // What a restore finds in the backend: the host's two queued requests and its active download.
        List<FetchState.RestoredHost> restored = new FetchState(rocks, TTL).restore(rocks::setCurrentKey);
        assertThat(restored).singleElement().satisfies(r -> {
            assertThat(r.host()).isEqualTo("b.example");
            assertThat(r.queued()).isEqualTo(2);
            assertThat(r.active()).singleElement().satisfies(e -> {
                assertThat(e.getKey()).isEqualTo(first.seq());
                assertThat(e.getValue().request.id).isEqualTo("b.example-0");
                assertThat(e.getValue().attempts).isEqualTo(2);
            });
        });

        // Act: everything ends after the checkpoint; the backend's copies are deleted, the idle host's cursor too.
        rocks.setCurrentKey("b.example");
        assertThat(state.dequeue("b.example").request().id).isEqualTo("b.example-1");
        assertThat(state.dequeue("b.example").request().id).isEqualTo("b.example-2");
        state.removeActive(first.seq());
        state.forgetHost("b.example");

        assertThat(count("queue.get")).as("the flushed requests are taken from memory, not read back").isZero();
        assertThat(count("queue.remove")).as("but deleted from the backend").isEqualTo(2);

        assertThat(keys(FetchState.QUEUE_STATE, FetchState.CURSOR_STATE, FetchState.ACTIVE_STATE)).isEmpty();
        assertThat(state.hostsWithState()).isZero();
    }

    @Test
    void aRestoredDownloadIsDeletedFromTheBackendWhenItEnds() throws Exception {
        FetchState before = new FetchState(rocks, TTL);
        rocks.setCurrentKey("c.example");
        before.enqueue("c.example", request("c.example", 0));
        FetchState.Dequeued taken = before.dequeue("c.example");
        before.putActive(taken.seq(), new Download(taken.request(), 0));
        before.flush(rocks::setCurrentKey);

        FetchState after = new FetchState(counted(), TTL);
        assertThat(after.restore(rocks::setCurrentKey)).singleElement().satisfies(r -> assertThat(r.active()).hasSize(1));
        rocks.setCurrentKey("c.example");
        after.removeActive(taken.seq());
        after.forgetHost("c.example");

        assertThat(keys(FetchState.QUEUE_STATE, FetchState.CURSOR_STATE, FetchState.ACTIVE_STATE)).isEmpty();
        assertThat(after.hostsWithState()).isZero();
    }

    @Test
    void aBacklogPastTheBoundIsWrittenThroughAndStillTakenInOrder() throws Exception {
        FetchState state = new FetchState(counted(), TTL, 2);
        rocks.setCurrentKey("d.example");
        for (int i = 0; i < 5; i++) {
            state.enqueue("d.example", request("d.example", i));
        }

        assertThat(state.bufferedQueued()).isEqualTo(2);
        assertThat(count("queue.put")).as("the three over the bound").isEqualTo(3);
        for (int i = 0; i < 5; i++) {
            assertThat(state.dequeue("d.example").request().id).isEqualTo("d.example-" + i);
        }
        assertThat(state.bufferedQueued()).isZero();
        assertThat(count("queue.get")).as("only the written-through ones are read").isEqualTo(3);
        state.forgetHost("d.example");
        state.flush(rocks::setCurrentKey);
        assertThat(keys(FetchState.QUEUE_STATE, FetchState.CURSOR_STATE, FetchState.ACTIVE_STATE)).isEmpty();
    }

    @Test
    void aDeadlineTakesAQueuedRequestFromMemoryOrFromTheBackend() throws Exception {
        FetchState state = new FetchState(counted(), TTL);
        rocks.setCurrentKey("e.example");
        long flushed = state.enqueue("e.example", request("e.example", 0));
        state.flush(rocks::setCurrentKey);
        long buffered = state.enqueue("e.example", request("e.example", 1));

        assertThat(state.takeQueued(buffered).id).isEqualTo("e.example-1");
        assertThat(state.takeQueued(flushed).id).isEqualTo("e.example-0");
        assertThat(state.takeQueued(flushed)).as("taken once").isNull();
        assertThat(state.dequeue("e.example").request()).as("the cursor still counts it").isNull();
        assertThat(keys(FetchState.QUEUE_STATE)).isEmpty();
    }

    // ---- helpers ----

    private static FetchRequest request(String host, int i) {
        return new FetchRequest(host + "-" + i, "http://" + host + "/f" + i, host, host + "/f" + i);
    }

    private int count(String call) {
        AtomicInteger n = calls.get(call);
        return n == null ? 0 : n.get();
    }

    /** Keys that have an entry in any of {@code states} in the backend. */
    private List<String> keys(String... states) {
        Set<String> found = new TreeSet<>();
        for (String state : states) {
            try (Stream<String> k = rocks.getKeys(state, VoidNamespace.INSTANCE)) {
                k.forEach(found::add);
            }
        }
        return List.copyOf(found);
    }

    /**
     * The real backend, with every call on the fetch states it hands out counted (as {@code <state>.<method>}); the
     * politeness states are not counted.
     */
    @SuppressWarnings("unchecked")
    private KeyedStateBackend<String> counted() {
        InvocationHandler backend = (proxy, m, args) -> {
            Object result = invoke(m, rocks, args);
            if (m.getName().equals("getPartitionedState") && result instanceof State s) {
                String name = ((org.apache.flink.api.common.state.StateDescriptor<?, ?>) args[2]).getName();
                if (List.of(FetchState.QUEUE_STATE, FetchState.CURSOR_STATE, FetchState.ACTIVE_STATE).contains(name)) {
                    return countingState(name, s);
                }
            }
            return result;
        };
        return (KeyedStateBackend<String>)
                Proxy.newProxyInstance(
                        getClass().getClassLoader(), new Class<?>[] {KeyedStateBackend.class}, backend);
    }

    private Object countingState(String name, State real) {
        Set<Class<?>> interfaces = new LinkedHashSet<>();
        for (Class<?> c = real.getClass(); c != null; c = c.getSuperclass()) {
            interfaces.addAll(List.of(c.getInterfaces()));
        }
        return Proxy.newProxyInstance(getClass().getClassLoader(), interfaces.toArray(Class<?>[]::new), (proxy, m, args) -> {
            calls.computeIfAbsent(name + "." + m.getName(), k -> new AtomicInteger()).incrementAndGet();
            return invoke(m, real, args);
        });
    }

    private static Object invoke(java.lang.reflect.Method m, Object target, Object[] args) throws Throwable {
        try {
            return m.invoke(target, args);
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
    }
}
