package io.flowget.job.embedded;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.runtime.jobmaster.JobResult;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Real MiniCluster with RocksDB: a bounded keyed job finishes; a running job's checkpoint is retained on cancel and
 * a new cluster restored from {@link EmbeddedFlink#latestCheckpoint(Path)} continues both the source position and
 * the keyed counters.
 *
 * <p>The job counts records per key ({@code index % KEYS}) in a ValueState and emits (index, count). With one
 * source subtask every key sees its indices in order, so a correct count is always {@code index / KEYS + 1}; after
 * a restore that holds only if the counters came back with exactly the source position of the checkpoint.
 */
class EmbeddedFlinkITCase {
    private static final int KEYS = 4;
    private static final int PARALLELISM = 2;
    private static final Duration DEADLINE = Duration.ofSeconds(60);

    /** Filled by {@link CollectSink}; the MiniCluster runs in this JVM and class loader. */
    private static final Queue<Tuple2<Long, Long>> OUTPUT = new ConcurrentLinkedQueue<>();

    @TempDir Path tmp;

    @BeforeEach
    void clearOutput() {
        OUTPUT.clear();
    }

    @Test
    void boundedKeyedJobRunsToCompletion() throws Exception {
        Path checkpoints = tmp.resolve("state/checkpoints");
        // Left by a killed run (lock free): deleted at start.
        Path abandoned = Files.createDirectories(tmp.resolve("state/flink-tmp/run-0badc0de/tm_0"));
        Files.writeString(abandoned.getParent().resolve(".lock"), "");
        try (EmbeddedFlink flink = EmbeddedFlink.start(testConfiguration(), checkpoints, PARALLELISM)) {
            assertThat(abandoned.getParent()).doesNotExist();
            assertThat(flink.restAddress().getHost()).isEqualTo("127.0.0.1");
            // flink-runtime-web is in the local jar: the REST port serves the Web UI (`flowget run --web-ui`).
            // Flink's REST handlers answer 503 until the dispatcher's leader is retrieved, which may come a moment
            // after the cluster has started (seen once in CI): ask again, within a bound.
            HttpClient http = HttpClient.newHttpClient();
            HttpRequest home = HttpRequest.newBuilder(flink.restAddress().resolve("/"))
                    .timeout(Duration.ofSeconds(30)).build();
            long until = System.nanoTime() + DEADLINE.toNanos();
            HttpResponse<String> ui = http.send(home, HttpResponse.BodyHandlers.ofString());
            while (ui.statusCode() == 503 && System.nanoTime() < until) {
                Thread.sleep(100);
                ui = http.send(home, HttpResponse.BodyHandlers.ofString());
            }
            assertThat(ui.statusCode()).isEqualTo(200);
            assertThat(ui.body()).contains("Apache Flink Web Dashboard");
            assertThat(LoopbackCheck.nonLoopbackListeners()).as("listening sockets not on loopback").isEmpty();
            StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(flink.configuration());
            // One source subtask, so every key sees its indices in order (see the class comment).
            countPerKey(env.fromSequence(0, 999).setParallelism(1).uid("numbers").name("numbers"));

            JobResult result = flink.await(flink.submit(env), DEADLINE);

            assertThat(result.isSuccess()).as("job result %s", result.getSerializedThrowable()).isTrue();
        }
        assertThat(OUTPUT).hasSize(1000);
        assertCountsContinueIndices(new ArrayList<>(OUTPUT));
        assertThat(OUTPUT).filteredOn(t -> t.f1 == 250).hasSize(KEYS);
        // The instance's temp dir is gone after close().
        try (Stream<Path> left = Files.list(tmp.resolve("state/flink-tmp"))) {
            assertThat(left).isEmpty();
        }
    }

    @Test
    void restoreFromLatestCheckpointContinuesKeyedState() throws Exception {
        Path stateDir = tmp.resolve("state");
        Path checkpoints = stateDir.resolve("checkpoints");

        // Run 1: an endless rate-limited source; checkpoint once enough has been counted, then cancel.
        String pointer;
        long run1MaxIndex;
        try (EmbeddedFlink flink = EmbeddedFlink.start(testConfiguration(), checkpoints, PARALLELISM)) {
            var id = flink.submit(endlessCountingJob(flink.configuration()));
            awaitCondition(() -> OUTPUT.size() >= 200, "200 outputs in run 1");
            assertThat(rocksDbInstanceUnder(stateDir.resolve("flink-tmp"))).as("RocksDB working dir").isTrue();

            pointer = flink.triggerCheckpoint(id);
            flink.cancel(id);
            run1MaxIndex = OUTPUT.stream().mapToLong(t -> t.f0).max().orElseThrow();
        }
        assertCountsContinueIndices(new ArrayList<>(OUTPUT));
        Optional<Path> latest = EmbeddedFlink.latestCheckpoint(checkpoints);
        assertThat(latest).contains(Path.of(URI.create(pointer)));
        assertThat(latest.get().resolve("_metadata")).isRegularFile();

        // Run 2: a new cluster restored from it, stopped by close() while running (suspend, not cancel).
        OUTPUT.clear();
        try (EmbeddedFlink flink = EmbeddedFlink.start(testConfiguration(), checkpoints, PARALLELISM)) {
            Configuration conf = flink.configuration();
            conf.set(StateRecoveryOptions.SAVEPOINT_PATH, latest.get().toUri().toString());
            var id = flink.submit(endlessCountingJob(conf));
            awaitCondition(() -> OUTPUT.size() >= 100, "100 outputs in run 2");
            flink.triggerCheckpoint(id);
        }
        List<Tuple2<Long, Long>> run2 = new ArrayList<>(OUTPUT);
        long run2MinIndex = run2.stream().mapToLong(t -> t.f0).min().orElseThrow();
        assertThat(run2MinIndex).as("source resumed, not restarted").isPositive().isLessThanOrEqualTo(run1MaxIndex + 1);
        assertCountsContinueIndices(run2);
        assertThat(run2).anySatisfy(t -> assertThat(t.f1).isGreaterThan(1));

        // The newest checkpoint is now run 2's, in another job's directory; the suspended job kept it.
        Path newest = EmbeddedFlink.latestCheckpoint(checkpoints).orElseThrow();
        assertThat(newest.getParent()).isNotEqualTo(latest.get().getParent());
        assertThat(newest.resolve("_metadata")).isRegularFile();
    }

    @Test
    void latestCheckpointPicksNewestCompletedAcrossJobs() throws Exception {
        Path dir = tmp.resolve("checkpoints");
        assertThat(EmbeddedFlink.latestCheckpoint(dir)).isEmpty();
        Instant now = Instant.now();
        Path older = completed(dir.resolve("aaaa/chk-7"), now.minusSeconds(60));
        Path newer = completed(dir.resolve("bbbb/chk-3"), now.minusSeconds(10));
        Files.createDirectories(dir.resolve("bbbb/chk-4")); // in progress: no _metadata yet
        Files.createDirectories(dir.resolve("bbbb/shared"));
        Files.createDirectories(dir.resolve("cccc/taskowned"));

        assertThat(EmbeddedFlink.latestCheckpoint(dir)).contains(newer);

        Files.setLastModifiedTime(older.resolve("_metadata"), FileTime.from(now));
        assertThat(EmbeddedFlink.latestCheckpoint(dir)).contains(older);
    }

    // ---- job pieces ------------------------------------------------------------------------------

    private static Configuration testConfiguration() {
        Configuration conf = new Configuration();
        // Fail fast instead of restart-looping when something is wrong.
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        return conf;
    }

    private static StreamExecutionEnvironment endlessCountingJob(Configuration conf) {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        DataGeneratorSource<Long> source = new DataGeneratorSource<>(
                index -> index, Long.MAX_VALUE, RateLimiterStrategy.perSecond(400), Types.LONG);
        DataStream<Long> numbers = env.fromSource(source, WatermarkStrategy.noWatermarks(), "numbers")
                .uid("numbers")
                .setParallelism(1); // one subtask: each key sees its indices in order
        countPerKey(numbers);
        return env;
    }

    private static void countPerKey(DataStream<Long> numbers) {
        numbers.keyBy(i -> i % KEYS)
                .process(new Counter())
                .uid("counter")
                .name("counter")
                .sinkTo(new CollectSink())
                .uid("collect")
                .name("collect");
    }

    /** Counts records per key in a ValueState and emits (index, count so far). */
    private static final class Counter extends KeyedProcessFunction<Long, Long, Tuple2<Long, Long>> {
        private transient ValueState<Long> count;

        @Override
        public void open(OpenContext openContext) {
            count = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Types.LONG));
        }

        @Override
        public void processElement(Long index, Context ctx, Collector<Tuple2<Long, Long>> out) throws Exception {
            long next = (count.value() == null ? 0 : count.value()) + 1;
            count.update(next);
            out.collect(Tuple2.of(index, next));
        }
    }

    /** Appends every record to {@link #OUTPUT}. */
    private static final class CollectSink implements Sink<Tuple2<Long, Long>> {
        @Override
        public SinkWriter<Tuple2<Long, Long>> createWriter(WriterInitContext context) {
            return new SinkWriter<>() {
                @Override
                public void write(Tuple2<Long, Long> element, Context ctx) {
                    OUTPUT.add(element);
                }

                @Override
                public void flush(boolean endOfInput) {}

                @Override
                public void close() {}
            };
        }
    }

    // ---- assertions ------------------------------------------------------------------------------

    /** Every (index, count) has count == index / KEYS + 1, and no index is counted twice with different counts. */
    private static void assertCountsContinueIndices(List<Tuple2<Long, Long>> output) {
        assertThat(output).isNotEmpty();
        Map<Long, Long> countByIndex = new HashMap<>();
        for (Tuple2<Long, Long> t : output) {
            assertThat(t.f1).as("count for index %d", t.f0).isEqualTo(t.f0 / KEYS + 1);
            Long previous = countByIndex.put(t.f0, t.f1);
            assertThat(previous == null || previous.equals(t.f1)).isTrue();
        }
    }

    private static boolean rocksDbInstanceUnder(Path dir) throws Exception {
        try (Stream<Path> files = Files.walk(dir)) {
            return files.anyMatch(p -> p.getFileName().toString().equals("CURRENT")
                    && p.getParent().getFileName().toString().equals("db"));
        }
    }

    private static Path completed(Path chk, Instant modified) throws Exception {
        Files.createDirectories(chk);
        Path metadata = Files.writeString(chk.resolve("_metadata"), "x");
        Files.setLastModifiedTime(metadata, FileTime.from(modified));
        return chk;
    }

    private static void awaitCondition(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + DEADLINE.toNanos();
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime()).as("waiting for %s", what).isLessThan(deadline);
            Thread.sleep(20); // poll interval, bounded by the deadline
        }
    }
}
