package io.flowget.udf.fetch;

import io.flowget.bench.StateAccessBenchmark;
import io.flowget.udf.http.FetchOutcome;
import io.flowget.udf.testing.KeyedBackends;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.operators.testutils.MockEnvironment;
import org.apache.flink.runtime.operators.testutils.MockEnvironmentBuilder;
import org.apache.flink.runtime.state.AbstractKeyedStateBackend;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.streaming.api.operators.KeyContext;
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

/**
 * Keyed-state cost of a host's politeness per answer, through {@link HostPoliteness#onOutcome} on RocksDB (the
 * operator's {@code host-state} and {@code host-health} through {@code KeyedHostStore}): one op is one answer of
 * one of {@code hosts} hosts, round-robin, every fourth a 429 and the others fast 200s, so the host's limit moves
 * on most answers (a host near its limit, or ramping up) and its persistent state changes with it; every {@code
 * checkpointEvery} answers the checkpoint's flush. Before issue 16's write-behind each changed answer wrote
 * {@code host-state} at once; after it, a changed host is written once per checkpoint (the flush is found by name,
 * {@code HostPoliteness.flush}; a build without it has nothing to flush). The same source runs against both builds.
 * Run: {@code java -jar bench/jmh/target/benchmarks.jar HostStateBenchmark -f 1 -wi 2 -i 3}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xms512m", "-Xmx512m", "-XX:+UseParallelGC"})
@Warmup(iterations = 2, time = 3)
@Measurement(iterations = 3, time = 3)
public class HostStateBenchmark {
    /** Hosts the answers go round over (the bench's small workload has 10). */
    @Param({"10"})
    public int hosts;

    /** Answers between two checkpoints (a 1 s checkpoint interval at 1,000 files/s). */
    @Param({"1000"})
    public int checkpointEvery;

    private Path dir;
    private MockEnvironment env;
    private AbstractKeyedStateBackend<String> keyed;
    private HostPoliteness politeness;
    private Method flush;
    private String[] names;
    private final FetchOutcome ok = outcome(200);
    private final FetchOutcome tooMany = outcome(429);
    private long answers;

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        dir = Files.createTempDirectory("flowget-hoststate-bench-");
        env = new MockEnvironmentBuilder().setManagedMemorySize(128L << 20).build();
        EmbeddedRocksDBStateBackend rocks = new EmbeddedRocksDBStateBackend(true);
        rocks.setDbStoragePath(dir.toString());
        keyed = KeyedBackends.create(rocks, env);
        FetchState state = new FetchState(keyed, Duration.ofDays(1));
        Configuration conf = new Configuration();
        KeyContext keys = new KeyContext() {
            @Override
            public void setCurrentKey(Object key) {
                keyed.setCurrentKey((String) key);
            }

            @Override
            public Object getCurrentKey() {
                return keyed.getCurrentKey();
            }
        };
        politeness = new HostPoliteness(HostPoliteness.Settings.from(conf), RetryPolicy.from(conf), state.hostState,
                state.hostHealth, keys);
        names = StateAccessBenchmark.hosts();
        try {
            flush = HostPoliteness.class.getMethod("flush");
        } catch (NoSuchMethodException before) {
            flush = null; // written through on every change
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        keyed.dispose();
        keyed.close();
        env.close();
        StateAccessBenchmark.deleteTree(dir);
    }

    @Benchmark
    public long perAnswer() throws Exception {
        long n = answers++;
        String host = names[(int) (n % hosts)];
        keyed.setCurrentKey(host); // the outcome's mail sets its host as the current key
        FetchOutcome o = (n / hosts) % 4 == 3 ? tooMany : ok;
        long paused = politeness.onOutcome(host, o, null, true, 4, 4, 2_000_000, 1_000_000, n);
        if (flush != null && n % checkpointEvery == checkpointEvery - 1) {
            flush.invoke(politeness);
        }
        return paused;
    }

    private static FetchOutcome outcome(int status) {
        FetchOutcome o = new FetchOutcome();
        o.status = status;
        o.bytes = 16_384;
        return o;
    }
}
