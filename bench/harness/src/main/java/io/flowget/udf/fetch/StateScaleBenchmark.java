package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.state.IncrementalRemoteKeyedStateHandle;
import org.apache.flink.runtime.state.KeyedStateHandle;
import org.apache.flink.runtime.state.PlaceholderStreamStateHandle;
import org.apache.flink.runtime.state.SharedStateRegistry;
import org.apache.flink.runtime.state.SharedStateRegistryImpl;
import org.apache.flink.runtime.state.storage.FileSystemCheckpointStorage;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * State-scale benchmark of {@link FetchOperator} on incremental RocksDB: with N tracked requests spread over
 * a configurable number of hosts it measures the time to take a checkpoint and its size, the size of a second
 * (incremental) checkpoint after 1% more requests, and the time to restore the operator from it into a fresh
 * harness. Prints a table; asserts only that every request survives the restore.
 *
 * <p>How requests stay tracked: one global permit ({@code flowget.fetch.max-in-flight=1}) and a listening socket
 * that never accepts, so the first request hangs in flight and every later one waits in its host's durable
 * {@code queue} MapState; the harness never runs mail, so not even a failure could free the permit. The
 * backlog limit is raised above N so {@code processElement} never blocks on backpressure.
 *
 * <p>Sizes: {@code -Dstatebench.sizes=100000,1000000} (default 100000,1000000), hosts: {@code -Dstatebench.hosts=}
 * (default 1000), RocksDB memory of the slot: {@code -Dstatebench.rocksdb-memory=} (default 256mb;
 * {@code managed} = the harness's small managed memory), as {@code -D} options of {@code java}. Run (from the
 * repository root; the table is logged to stderr; 1M requests take several minutes and a few hundred MiB of disk
 * under {@code java.io.tmpdir}, bench/jmh/README.md):
 * <pre>{@code
 * mvn -o -q -Pjmh -pl bench/harness -am -DskipTests package && java -Xmx2g -XX:+UseParallelGC \
 *   -Djava.io.tmpdir=bench/harness/target -cp bench/harness/target/harness-benchmarks.jar \
 *   io.flowget.udf.fetch.StateScaleBenchmark
 * }</pre>
 */
public final class StateScaleBenchmark {
    private static final Logger LOG = LoggerFactory.getLogger(StateScaleBenchmark.class);
    private static final int HOSTS = Integer.getInteger("statebench.hosts", 1_000);
    /**
     * RocksDB memory (block cache + memtables) of the one slot. 256mb is about what a slot gets from Flink's
     * default managed memory; {@code managed} keeps the harness's small managed memory, with which memtables
     * flush often into small SST files that compaction keeps rewriting (slow ingest, "incremental" checkpoints
     * that re-upload nearly everything).
     */
    private static final String ROCKSDB_MEMORY = System.getProperty("statebench.rocksdb-memory", "256mb");

    /** One measured size. */
    private record Row(
            int requests,
            double ingestSeconds,
            double fullSeconds,
            long fullStateBytes,
            long fullCheckpointedBytes,
            double incrSeconds,
            long incrStateBytes,
            long incrCheckpointedBytes,
            String incrReusedFiles,
            double restoreInitSeconds,
            double restoreOpenSeconds) {}

    public static void main(String[] args) throws Exception {
        BenchDir.run("state-scale", StateScaleBenchmark::checkpointAndRestoreAtScale);
    }

    private static void checkpointAndRestoreAtScale(Path tmp) throws Exception {
        int[] sizes =
                Arrays.stream(System.getProperty("statebench.sizes", "100000,1000000").split(","))
                        .map(String::trim)
                        .mapToInt(Integer::parseInt)
                        .toArray();
        List<Row> rows = new ArrayList<>();
        // Accepts connections in the kernel backlog but never reads or answers: the one issued request hangs.
        try (ServerSocket silent = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            for (int n : sizes) {
                rows.add(measure(tmp, n, silent.getLocalPort()));
            }
        }
        StringBuilder table = new StringBuilder();
        table.append(String.format(
                "%nFetchOperator state scale (RocksDB incremental, %d hosts, RocksDB memory %s, file checkpoint"
                        + " storage)%n",
                HOSTS, ROCKSDB_MEMORY));
        table.append(String.format(
                "%10s %9s | %9s %11s %11s | %9s %11s %11s %9s | %10s %9s%n",
                "requests", "ingest s", "chk1 s", "chk1 state", "chk1 upld", "chk2 s", "chk2 state", "chk2 upld",
                "reused", "restore s", "open s"));
        for (Row r : rows) {
            table.append(String.format(
                    "%10d %9.2f | %9.2f %11s %11s | %9.2f %11s %11s %9s | %10.2f %9.2f%n",
                    r.requests, r.ingestSeconds, r.fullSeconds, mib(r.fullStateBytes), mib(r.fullCheckpointedBytes),
                    r.incrSeconds, mib(r.incrStateBytes), mib(r.incrCheckpointedBytes), r.incrReusedFiles,
                    r.restoreInitSeconds, r.restoreOpenSeconds));
        }
        table.append("chk2 = after 1% more requests; upld = checkpointed (newly uploaded) size, state = full size"
                + " the checkpoint refers to; reused = chk2's shared files taken over from chk1 / all;"
                + " restore s = initializeState (download + key scan), open s = open()");
        LOG.info("{}", table);
    }

    private static Row measure(Path tmp, int n, int port) throws Exception {
        Path dir = tmp.resolve("n" + n);
        Configuration conf = config(dir, n);
        int extra = Math.max(1, n / 100);
        var first = harness(conf, dir, true);
        OperatorSubtaskState full;
        OperatorSubtaskState incremental;
        double ingest;
        double fullSeconds;
        double incrSeconds;
        try {
            long t0 = System.nanoTime();
            StringBuilder deciles = new StringBuilder();
            for (int d = 0; d < 10; d++) {
                long td = System.nanoTime();
                submit(first, n / 10 * d, d == 9 ? n : n / 10 * (d + 1), port);
                deciles.append(String.format(" %.1f", seconds(td)));
            }
            ingest = seconds(t0);
            LOG.info("state scale {}: ingest seconds per tenth:{}", n, deciles);
            assertThat(op(first).forTests().backlog() + op(first).forTests().inFlightCount()).isEqualTo(n);

            t0 = System.nanoTime();
            full = first.snapshot(1L, 1L);
            fullSeconds = seconds(t0);
            // Only after a completed checkpoint does the next one upload just the new SST files.
            first.notifyOfCompletedCheckpoint(1L);

            submit(first, n, n + extra, port);
            t0 = System.nanoTime();
            incremental = first.snapshot(2L, 2L);
            incrSeconds = seconds(t0);
            first.notifyOfCompletedCheckpoint(2L);
        } finally {
            // Work is pending (the hung request): close only the operator, which disposes RocksDB; the
            // harness's close would wait for that work to finish.
            first.getOperator().close();
        }

        String reused = reusedFiles(incremental);
        // What the checkpoint coordinator does: the second checkpoint refers to the first one's SST files by
        // placeholders, which only the shared state registry resolves to the uploaded files.
        SharedStateRegistry registry = new SharedStateRegistryImpl();
        full.registerSharedStates(registry, 1L);
        incremental.registerSharedStates(registry, 2L);
        var second = harness(conf, dir, false);
        double initSeconds;
        double openSeconds;
        try {
            long t0 = System.nanoTime();
            second.initializeState(incremental);
            initSeconds = seconds(t0);
            t0 = System.nanoTime();
            second.open();
            openSeconds = seconds(t0);
            assertThat(op(second).forTests().backlog() + op(second).forTests().inFlightCount())
                    .as("every tracked request is back after the restore")
                    .isEqualTo(n + extra);
        } finally {
            second.getOperator().close();
            registry.close();
        }
        Row row = new Row(
                n,
                ingest,
                fullSeconds,
                full.getStateSize(),
                full.getCheckpointedSize(),
                incrSeconds,
                incremental.getStateSize(),
                incremental.getCheckpointedSize(),
                reused,
                initSeconds,
                openSeconds);
        LOG.info("state scale {}: {}; keyed handles {}", n, row, keyedSizes(incremental));
        // Frees disk between sizes (1M requests leave a few hundred MiB); BenchDir removes what is left.
        BenchDir.delete(dir);
        return row;
    }

    private static Configuration config(Path dir, int n) {
        Configuration c = new Configuration();
        c.set(FlowgetOptions.FETCH_MAX_IN_FLIGHT, 1);
        c.set(FlowgetOptions.FETCH_MAX_BACKLOG, 2 * n + 10);
        c.set(FlowgetOptions.HTTP_IO_THREADS, 1);
        c.set(FlowgetOptions.HTTP_CONNECT_TIMEOUT, Duration.ofMinutes(10));
        c.set(FlowgetOptions.STORAGE_OUT_DIR, dir.resolve("out").toString());
        c.set(FlowgetOptions.STORAGE_STAGING_DIR, dir.resolve("staging").toString());
        c.set(FlowgetOptions.NET_POSTURE, FlowgetOptions.NetPosture.LOCAL); // loopback origins
        return c;
    }

    private static KeyedOneInputStreamOperatorTestHarness<String, FetchRequest, FetchResult> harness(
            Configuration conf, Path dir, boolean openNow) throws Exception {
        EmbeddedRocksDBStateBackend backend = new EmbeddedRocksDBStateBackend(true);
        if (!ROCKSDB_MEMORY.equals("managed")) {
            backend.getMemoryConfiguration().setFixedMemoryPerSlot(ROCKSDB_MEMORY);
        }
        var h = FetchHarness.build(conf, backend);
        // File storage, as in production: the default in-memory storage caps a checkpoint at a few MiB.
        h.setCheckpointStorage(new FileSystemCheckpointStorage(dir.resolve("checkpoints").toUri()));
        if (openNow) {
            h.open();
        }
        return h;
    }

    /** Requests {@code from..to-1}, host by host round-robin, with URLs of a realistic length. */
    private static void submit(
            KeyedOneInputStreamOperatorTestHarness<String, FetchRequest, FetchResult> h, int from, int to, int port)
            throws Exception {
        for (int i = from; i < to; i++) {
            String host = "host-" + (i % HOSTS) + ".example.org";
            String path = "datasets/part-" + (i / 1_000) + "/file-" + i + ".parquet";
            FetchRequest r = new FetchRequest(
                    "req-" + i, "http://127.0.0.1:" + port + "/" + host + "/" + path, host, host + "/" + path);
            h.processElement(r, 0);
        }
    }

    private static FetchOperator op(KeyedOneInputStreamOperatorTestHarness<String, FetchRequest, FetchResult> h) {
        return (FetchOperator) h.getOperator();
    }

    /** "reused/all" shared files of an incremental checkpoint (reused ones are placeholders until registered). */
    private static String reusedFiles(OperatorSubtaskState s) {
        int all = 0;
        int reused = 0;
        for (KeyedStateHandle k : s.getManagedKeyedState()) {
            if (k instanceof IncrementalRemoteKeyedStateHandle inc) {
                for (var f : inc.getSharedState()) {
                    all++;
                    if (f.getHandle() instanceof PlaceholderStreamStateHandle) {
                        reused++;
                    }
                }
            }
        }
        return reused + "/" + all;
    }

    private static String keyedSizes(OperatorSubtaskState s) {
        StringBuilder b = new StringBuilder();
        for (KeyedStateHandle k : s.getManagedKeyedState()) {
            b.append(k.getClass().getSimpleName())
                    .append(" state=")
                    .append(k.getStateSize())
                    .append(" checkpointed=")
                    .append(k.getCheckpointedSize())
                    .append(' ');
        }
        return b.toString();
    }

    private static double seconds(long startNanos) {
        return (System.nanoTime() - startNanos) / 1e9;
    }

    private static String mib(long bytes) {
        return String.format("%.2f MiB", bytes / (1024.0 * 1024.0));
    }
}
