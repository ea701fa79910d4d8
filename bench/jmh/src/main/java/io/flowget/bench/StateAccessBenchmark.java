package io.flowget.bench;

import io.flowget.udf.fetch.Download;
import io.flowget.udf.fetch.QueueCursor;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.testing.KeyedBackends;

import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.operators.testutils.MockEnvironment;
import org.apache.flink.runtime.operators.testutils.MockEnvironmentBuilder;
import org.apache.flink.runtime.state.AbstractKeyedStateBackend;
import org.apache.flink.runtime.state.StateBackend;
import org.apache.flink.runtime.state.VoidNamespace;
import org.apache.flink.runtime.state.VoidNamespaceSerializer;
import org.apache.flink.runtime.state.hashmap.HashMapStateBackend;
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

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Keyed-state cost of one request in {@code FetchOperator}, on a real keyed state backend created outside a job
 * (RocksDB as in production, the heap backend for comparison). One op is the whole per-request sequence the
 * operator runs against state, with the same descriptors and types:
 * <ol>
 *   <li>processElement: {@code cursor.value()}, {@code queue.put(tail, request)}, {@code cursor.update()};
 *   <li>issueNext: {@code cursor.value()}, {@code queue.get(head)}, {@code queue.remove(head)},
 *       {@code cursor.update()}, then {@code active.put(seq, download)} when the attempt starts;
 *   <li>terminal: {@code active.remove(seq)}, and {@code cursor.clear()} when the host has nothing left.
 * </ol>
 * Each phase first sets the current key, as the framework does for the record and {@code issueNext} does for
 * its host. Requests go round-robin over 1,000 hosts (keys); {@code backlog} requests per host stay queued
 * throughout, so {@code backlog=0} is an idle host whose cursor is cleared every time and larger backlogs make
 * {@code queue} hold {@code 1000 × backlog} live entries. Not measured: the in-memory scheduling around it
 * ({@link SchedulingBenchmark}), checkpoints (the udf module's {@code StateScaleBenchmark}).
 *
 * <p>The RocksDB files go to a fresh directory under {@code java.io.tmpdir} (point it elsewhere with
 * {@code -jvmArgsAppend -Djava.io.tmpdir=...}), deleted at tear-down.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xms512m", "-Xmx512m", "-XX:+UseParallelGC"})
@Warmup(iterations = 2, time = 3)
@Measurement(iterations = 3, time = 3)
public class StateAccessBenchmark {
    static final int HOSTS = 1_000;

    @Param({"rocksdb", "heap"})
    public String backend;

    /** Requests per host that stay queued the whole time. */
    @Param({"0", "100"})
    public int backlog;

    private Path dir;
    private MockEnvironment env;
    private AbstractKeyedStateBackend<String> keyed;
    private MapState<Long, FetchRequest> queue;
    private ValueState<QueueCursor> cursor;
    private MapState<Long, Download> active;
    private String[] hosts;
    private FetchRequest[] requests;
    private int next;

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        hosts = hosts();
        requests = requests(hosts);
        dir = Files.createTempDirectory("flowget-state-bench-");
        env = new MockEnvironmentBuilder().setManagedMemorySize(128L << 20).build();
        StateBackend sb;
        if ("rocksdb".equals(backend)) {
            EmbeddedRocksDBStateBackend rocks = new EmbeddedRocksDBStateBackend(true);
            rocks.setDbStoragePath(dir.toString());
            sb = rocks;
        } else {
            sb = new HashMapStateBackend();
        }
        keyed = KeyedBackends.create(sb, env);
        // Same descriptors as FetchOperator#open.
        queue =
                keyed.getPartitionedState(
                        VoidNamespace.INSTANCE,
                        VoidNamespaceSerializer.INSTANCE,
                        new MapStateDescriptor<>("queue", Types.LONG, TypeInformation.of(FetchRequest.class)));
        cursor =
                keyed.getPartitionedState(
                        VoidNamespace.INSTANCE,
                        VoidNamespaceSerializer.INSTANCE,
                        new ValueStateDescriptor<>("queue-cursor", TypeInformation.of(QueueCursor.class)));
        active =
                keyed.getPartitionedState(
                        VoidNamespace.INSTANCE,
                        VoidNamespaceSerializer.INSTANCE,
                        new MapStateDescriptor<>("active", Types.LONG, TypeInformation.of(Download.class)));

        for (int i = 0; i < HOSTS; i++) {
            keyed.setCurrentKey(hosts[i]);
            QueueCursor c = new QueueCursor(0, 0);
            for (int j = 0; j < backlog; j++) {
                queue.put(c.tail++, requests[i]);
            }
            if (backlog > 0) {
                cursor.update(c);
            }
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        keyed.dispose();
        keyed.close();
        env.close();
        deleteTree(dir);
    }

    /** The benchmark's 1,000 host names. */
    public static String[] hosts() {
        String[] hosts = new String[HOSTS];
        for (int i = 0; i < HOSTS; i++) {
            hosts[i] = "host-" + i + ".example.org";
        }
        return hosts;
    }

    /** One request per host, with an 80-85 character URL (the figure). */
    public static FetchRequest[] requests(String[] hosts) {
        FetchRequest[] requests = new FetchRequest[hosts.length];
        for (int i = 0; i < hosts.length; i++) {
            String path = String.format("datasets/crawl-2026-11/part-%04d/file-%010d.parquet", i % 64, 100_000 + i);
            requests[i] =
                    new FetchRequest("req-" + (1_000_000 + i), "https://" + hosts[i] + "/" + path, hosts[i],
                            hosts[i] + "/" + path);
        }
        if (requests[0].url.length() < 75 || requests[hosts.length - 1].url.length() > 90) {
            throw new IllegalStateException("URL not ~80 characters: " + requests[0].url);
        }
        return requests;
    }

    /** Deletes the RocksDB directory of a trial (a failure is reported, not thrown). */
    public static void deleteTree(Path dir) {
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            System.err.println("could not delete " + dir + ": " + e);
        }
    }

    @Benchmark
    public Download perRequest() throws Exception {
        int i = next;
        next = i + 1 == HOSTS ? 0 : i + 1;
        String host = hosts[i];

        // processElement
        keyed.setCurrentKey(host);
        QueueCursor c = cursor.value();
        if (c == null) {
            c = new QueueCursor(0, 0);
        }
        queue.put(c.tail, requests[i]);
        c.tail++;
        cursor.update(c);

        // issueNext + start
        keyed.setCurrentKey(host);
        c = cursor.value();
        long seq = c.head;
        FetchRequest req = queue.get(seq);
        queue.remove(seq);
        c.head++;
        cursor.update(c);
        Download d = new Download(req, 1_764_000_000_000L);
        d.attempts++;
        active.put(seq, d);

        // terminal
        active.remove(seq);
        if (c.size() == 0) {
            cursor.clear();
        }
        return d;
    }

    /**
     * One keyed read for scale: set the next host's key and read its cursor (one RocksDB get, or a heap map
     * lookup). {@link #perRequest} makes ten such calls (three gets, four puts, two or three deletes).
     */
    @Benchmark
    public QueueCursor cursorRead() throws Exception {
        int i = next;
        next = i + 1 == HOSTS ? 0 : i + 1;
        keyed.setCurrentKey(hosts[i]);
        return cursor.value();
    }
}
