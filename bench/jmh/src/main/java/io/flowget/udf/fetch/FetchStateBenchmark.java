package io.flowget.udf.fetch;

import io.flowget.bench.StateAccessBenchmark;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.testing.KeyedBackends;

import org.apache.flink.runtime.operators.testutils.MockEnvironment;
import org.apache.flink.runtime.operators.testutils.MockEnvironmentBuilder;
import org.apache.flink.runtime.state.AbstractKeyedStateBackend;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Keyed-state cost of one request through {@link FetchState} itself (what {@code FetchOperator} calls), on RocksDB:
 * processElement's {@code enqueue}, issueNext's {@code dequeue} and the attempt's {@code putActive}, terminal's
 * {@code removeActive} (and {@code forgetHost} when the host is idle), each after a {@code setCurrentKey}; every
 * {@code checkpointEvery} requests the checkpoint's flush (write-behind since issue 16, the cursors before it), so
 * its cost is in the figure, spread over the requests between two checkpoints. Requests go round-robin over 1,000
 * hosts; {@code backlog} requests per host stay queued (written to the backend before the measurement), so with a
 * backlog every request waits in the queue across a checkpoint, as in a large run.
 *
 * <p>Unlike {@code StateAccessBenchmark}, which replays the state calls by hand, this one runs the class, so the
 * same source measures the build before a change to {@link FetchState} and after it (the flush is found by name:
 * {@code flush}, or {@code flushCursors} before write-behind). Run:
 * {@code java -jar bench/jmh/target/benchmarks.jar FetchStateBenchmark -f 1 -wi 2 -i 3}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xms512m", "-Xmx512m", "-XX:+UseParallelGC"})
@Warmup(iterations = 2, time = 3)
@Measurement(iterations = 3, time = 3)
public class FetchStateBenchmark {
    /** Requests per host that stay queued the whole time. */
    @Param({"0", "100"})
    public int backlog;

    /** Requests between two checkpoints (a 1 s checkpoint interval at 1,000 files/s). */
    @Param({"1000"})
    public int checkpointEvery;

    private Path dir;
    private MockEnvironment env;
    private AbstractKeyedStateBackend<String> keyed;
    private FetchState state;
    private Method flush;
    private Consumer<String> setKey;
    private String[] hosts;
    private FetchRequest[] requests;
    private int next;
    private int sinceCheckpoint;

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        hosts = StateAccessBenchmark.hosts();
        requests = StateAccessBenchmark.requests(hosts);
        dir = Files.createTempDirectory("flowget-fetchstate-bench-");
        env = new MockEnvironmentBuilder().setManagedMemorySize(128L << 20).build();
        EmbeddedRocksDBStateBackend rocks = new EmbeddedRocksDBStateBackend(true);
        rocks.setDbStoragePath(dir.toString());
        keyed = KeyedBackends.create(rocks, env);
        state = new FetchState(keyed, Duration.ofDays(1));
        setKey = keyed::setCurrentKey;
        flush = flushMethod();
        for (int i = 0; i < hosts.length; i++) {
            keyed.setCurrentKey(hosts[i]);
            for (int j = 0; j < backlog; j++) {
                state.enqueue(hosts[i], requests[i]);
            }
        }
        flush.invoke(state, setKey);
    }

    private static Method flushMethod() throws NoSuchMethodException {
        for (String name : new String[] {"flush", "flushCursors"}) {
            try {
                Method m = FetchState.class.getDeclaredMethod(name, Consumer.class);
                m.setAccessible(true);
                return m;
            } catch (NoSuchMethodException e) {
                // the other name
            }
        }
        throw new NoSuchMethodException("FetchState has neither flush nor flushCursors");
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        keyed.dispose();
        keyed.close();
        env.close();
        StateAccessBenchmark.deleteTree(dir);
    }

    @Benchmark
    public Download perRequest() throws Exception {
        int i = next;
        next = i + 1 == hosts.length ? 0 : i + 1;
        String host = hosts[i];

        keyed.setCurrentKey(host); // processElement
        state.enqueue(host, requests[i]);

        keyed.setCurrentKey(host); // issueNext + start
        FetchState.Dequeued taken = state.dequeue(host);
        Download d = new Download(taken.request(), 1_764_000_000_000L);
        d.attempts++;
        state.putActive(taken.seq(), d);

        state.removeActive(taken.seq()); // terminal
        if (backlog == 0) {
            state.forgetHost(host);
        }

        if (++sinceCheckpoint == checkpointEvery) {
            sinceCheckpoint = 0;
            flush.invoke(state, setKey);
        }
        return d;
    }
}
