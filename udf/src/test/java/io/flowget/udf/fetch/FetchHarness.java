package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;

import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.state.StateBackend;
import org.apache.flink.runtime.state.VoidNamespace;
import org.apache.flink.runtime.state.VoidNamespaceSerializer;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.streaming.runtime.tasks.mailbox.Mail;
import org.apache.flink.streaming.runtime.tasks.mailbox.TaskMailbox;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The one place that builds a {@link FetchOperator} under test: Flink's keyed one-input harness, keyed as the job
 * keys (by host, or a spread host's shard: {@link #keys}), on
 * RocksDB state, writing under the directories the configuration names, with the mail loop run on the test thread
 * (the harness does not run mail by itself). Operator tests get instances from {@link FetchHarnessExtension},
 * which also proves the operator returns to zero state after each test; {@link #open(Path, Configuration)} stays
 * for code that manages the instance itself.
 *
 * <p><b>Clock policy.</b> Processing time (retry due times, host pauses, token buckets) is the harness's manual
 * clock; each instance has one {@link Clock}, fixed when it is built, which says what the drain methods
 * ({@link #drainUntil}, {@link #drainFor}, {@link #results}) do with it while they wait:
 *
 * <ul>
 *   <li>{@link Clock#MANUAL}: it stands still at 0; only the test moves it ({@link #setProcessingTime}). For tests
 *       that assert "nothing before time t" (backoff, Retry-After). A retry the test does not time never fires.
 *   <li>{@link Clock#STEPPED}: it starts at 1 s and moves on by 1 s whenever no mail is waiting, so retry and pause
 *       timers fire at once and tests never sleep through a backoff. For tests about outcomes, not timing.
 *   <li>{@link Clock#WALL}: from where it stands when a drain starts, it follows the wall clock. For tests of the
 *       host's politeness (pauses, rate limits, adaptive limits), which must see time pass as in a job.
 * </ul>
 *
 * Attempt timeouts and request deadlines use the wall clock under every policy (see {@code FetchOperator#ptNow}).
 * Every wait is bounded by {@link #WAIT}. At {@link #close} the same policy settles the operator before its state is
 * recorded for the zero-state check (see {@link #settle}).
 *
 * <p>Not thread-safe: one test thread drives it.
 */
final class FetchHarness implements AutoCloseable {
    static final Duration WAIT = Duration.ofSeconds(60);
    /** Most timers a harness fires after the test to settle (see {@link #settle}). */
    static final int SETTLE_STEPS = 100;

    /** What the drain methods do with processing time while they wait; see the class comment. */
    enum Clock {
        MANUAL,
        STEPPED,
        WALL
    }

    /** What must be zero when a test completed its work (STYLE 20); captured before the harness closes. */
    record ZeroState(long hostsWithState, int timers, long backlog, int inFlight, int hostsInMemory) {
        static final ZeroState ZERO = new ZeroState(0, 0, 0, 0, 0);
    }

    final KeyedOneInputStreamOperatorTestHarness<String, FetchRequest, FetchResult> harness;
    final Clock clock;
    private final Path out;
    private final Path staging;
    /** Why this instance is not expected to end at zero state (null: it is). */
    private String unfinished;
    private boolean closed;
    /** The state seen just before {@link #close}, or why it could not be read. */
    private ZeroState lastState;
    private String lastClock;
    private String settled = "";

    private FetchHarness(Configuration conf, OperatorSubtaskState restore, Clock clock) throws Exception {
        this(conf, restore, clock, null);
    }

    /** {@code subtask}: {maxParallelism, parallelism, index} of the operator under test (null: 1, 1, 0). */
    private FetchHarness(Configuration conf, OperatorSubtaskState restore, Clock clock, int[] subtask)
            throws Exception {
        this.clock = clock;
        this.out = Path.of(conf.get(FlowgetOptions.STORAGE_OUT_DIR));
        this.staging = Path.of(conf.get(FlowgetOptions.STORAGE_STAGING_DIR));
        if (subtask == null) {
            harness = build(conf, new EmbeddedRocksDBStateBackend(true));
        } else {
            harness = new KeyedOneInputStreamOperatorTestHarness<>(new FetchOperatorFactory(conf),
                    keys(conf, subtask[0]), Types.STRING, subtask[0], subtask[1], subtask[2]);
            harness.setStateBackend(new EmbeddedRocksDBStateBackend(true));
        }
        if (conf.contains(CheckpointingOptions.CHECKPOINTING_INTERVAL)) {
            // A job with checkpoints: the operator publishes files with the checkpoint that commits their results
            // (PublishAtCommit); the test takes the snapshots and sends their completions.
            harness.getEnvironment().getJobConfiguration()
                    .set(CheckpointingOptions.CHECKPOINTING_INTERVAL, conf.get(CheckpointingOptions.CHECKPOINTING_INTERVAL));
        }
        if (restore != null) {
            harness.initializeState(restore);
        }
        harness.open();
        if (clock == Clock.STEPPED) {
            harness.setProcessingTime(1_000);
        }
    }

    /**
     * Flink's keyed one-input harness around a {@link FetchOperator} on {@code conf}, keyed by host, on
     * {@code backend}; not opened. Every harness of the operator, here and in the benchmarks, is built by this.
     */
    static KeyedOneInputStreamOperatorTestHarness<String, FetchRequest, FetchResult> build(
            Configuration conf, StateBackend backend) throws Exception {
        var h = new KeyedOneInputStreamOperatorTestHarness<>(
                new FetchOperatorFactory(conf), keys(conf, 1), Types.STRING);
        h.setStateBackend(backend);
        return h;
    }

    /**
     * The job's keying ({@code HostKeySelector}): the host, or a spread host's shard key ({@link HostShards}) placed
     * among {@code maxParallelism} key groups.
     */
    static KeySelector<FetchRequest, String> keys(Configuration conf, int maxParallelism) {
        HostShards shards = HostShards.from(conf, maxParallelism);
        return shards::keyOf;
    }

    /** {@link #build(Configuration, StateBackend)} on RocksDB (incremental), opened. */
    static KeyedOneInputStreamOperatorTestHarness<String, FetchRequest, FetchResult> openRaw(Configuration conf)
            throws Exception {
        var h = build(conf, new EmbeddedRocksDBStateBackend(true));
        h.open();
        return h;
    }

    /** A harness on {@code conf}, restored from {@code restore} when not null, with the given clock policy. */
    static FetchHarness open(Configuration conf, OperatorSubtaskState restore, Clock clock) throws Exception {
        return new FetchHarness(conf, restore, clock);
    }

    /**
     * A harness of subtask {@code index} of {@code parallelism} among {@code maxParallelism} key groups, restored
     * from {@code restore} (already repartitioned for that subtask) when not null: for rescale tests.
     */
    static FetchHarness open(Configuration conf, OperatorSubtaskState restore, Clock clock, int maxParallelism,
            int parallelism, int index) throws Exception {
        return new FetchHarness(conf, restore, clock, new int[] {maxParallelism, parallelism, index});
    }

    /** A {@link Clock#STEPPED} harness on {@code conf}; {@code dir} is where {@link #config(Path)} put its files. */
    static FetchHarness open(Path dir, Configuration conf) throws Exception {
        return new FetchHarness(conf, null, Clock.STEPPED);
    }

    // ---- configuration presets ----

    /**
     * The operator's defaults with {@code maxInFlight} global and {@code hostLimit} per-host permits, a 2-thread
     * client, output in {@code dir/out} and staging in {@code dir/staging}.
     */
    static Configuration config(Path dir, int maxInFlight, int hostLimit) {
        Configuration c = new Configuration();
        c.set(FlowgetOptions.FETCH_MAX_IN_FLIGHT, maxInFlight);
        c.set(FlowgetOptions.HOST_MAX_CONCURRENCY, hostLimit);
        c.set(FlowgetOptions.STORAGE_OUT_DIR, dir.resolve("out").toString());
        c.set(FlowgetOptions.STORAGE_STAGING_DIR, dir.resolve("staging").toString());
        c.set(FlowgetOptions.HTTP_IO_THREADS, 2);
        c.set(FlowgetOptions.NET_POSTURE, FlowgetOptions.NetPosture.LOCAL); // test origins are on loopback
        return c;
    }

    /** {@link #config(Path, int, int)} with 16 and 8 permits and immediate retries (1 ms backoff). */
    static Configuration config(Path dir) {
        Configuration c = config(dir, 16, 8);
        c.set(FlowgetOptions.RETRY_INITIAL_BACKOFF, Duration.ofMillis(1));
        c.set(FlowgetOptions.RETRY_MAX_BACKOFF, Duration.ofMillis(1));
        return c;
    }

    // ---- input and output ----

    Path out() {
        return out;
    }

    FetchOperator getOperator() {
        return (FetchOperator) harness.getOperator();
    }

    void processElement(FetchRequest r, long timestamp) throws Exception {
        harness.processElement(r, timestamp);
    }

    void submit(FetchRequest... requests) throws Exception {
        for (FetchRequest r : requests) {
            harness.processElement(r, 0);
        }
    }

    List<FetchResult> extractOutputValues() {
        return harness.extractOutputValues();
    }

    /** Runs mail until {@code n} results are out (fails after {@link #WAIT}); returns them all. */
    List<FetchResult> results(int n) throws Exception {
        drainUntil(() -> harness.extractOutputValues().size() >= n);
        List<FetchResult> results = harness.extractOutputValues();
        assertThat(results).hasSize(n);
        return results;
    }

    /** Submits one request and returns its result. */
    FetchResult fetch(FetchRequest r) throws Exception {
        int before = harness.extractOutputValues().size();
        submit(r);
        List<FetchResult> all = results(before + 1);
        return all.get(before);
    }

    // ---- time and mail ----

    long getProcessingTime() {
        return harness.getProcessingTime();
    }

    void setProcessingTime(long time) throws Exception {
        harness.setProcessingTime(time);
    }

    int numProcessingTimeTimers() {
        return harness.numProcessingTimeTimers();
    }

    OperatorSubtaskState snapshot(long checkpointId, long timestamp) throws Exception {
        return harness.snapshot(checkpointId, timestamp);
    }

    /** Checkpoint {@code checkpointId} completed (with checkpoints, its files are renamed into place). */
    void notifyOfCompletedCheckpoint(long checkpointId) throws Exception {
        harness.notifyOfCompletedCheckpoint(checkpointId);
    }

    /** Runs mail under this harness's clock until {@code done}; fails after {@link #WAIT}. */
    void drainUntil(BooleanSupplier done) throws Exception {
        drain(harness, clock, done, WAIT, true);
    }

    /** Runs mail under this harness's clock until {@code done}; fails after {@code bound}. */
    void drainUntil(BooleanSupplier done, Duration bound) throws Exception {
        drain(harness, clock, done, bound, true);
    }

    /** Runs mail under this harness's clock for {@code d}. */
    void drainFor(Duration d) throws Exception {
        drain(harness, clock, () -> false, d, false);
    }

    /**
     * The one drain loop: runs mail on the test thread until {@code done}, moving processing time as {@code clock}
     * says; after {@code bound} it fails ({@code failAtBound}) or returns.
     */
    static void drain(
            KeyedOneInputStreamOperatorTestHarness<String, FetchRequest, FetchResult> h,
            Clock clock,
            BooleanSupplier done,
            Duration bound,
            boolean failAtBound)
            throws Exception {
        long start = System.nanoTime();
        long base = h.getProcessingTime();
        while (!done.getAsBoolean()) {
            long elapsed = System.nanoTime() - start;
            if (elapsed >= bound.toNanos()) {
                assertThat(failAtBound).as("condition reached within %s", bound).isFalse();
                return;
            }
            if (clock == Clock.WALL && base + elapsed / 1_000_000 > h.getProcessingTime()) {
                h.setProcessingTime(base + elapsed / 1_000_000);
            }
            if (!runOneMail(h)) {
                if (clock == Clock.STEPPED) {
                    h.setProcessingTime(h.getProcessingTime() + 1_000);
                }
                Thread.sleep(1);
            }
        }
    }

    /** Runs one waiting mail, if any; true if it did. */
    static boolean runOneMail(KeyedOneInputStreamOperatorTestHarness<String, FetchRequest, FetchResult> h)
            throws Exception {
        Optional<Mail> mail = h.getTaskMailbox().tryTake(TaskMailbox.MIN_PRIORITY);
        if (mail.isPresent()) {
            mail.get().run();
            return true;
        }
        return false;
    }

    // ---- state ----

    /** Files left in the staging directory (none once every request is terminal). */
    List<Path> stagingFiles() throws Exception {
        if (!Files.exists(staging)) {
            return List.of();
        }
        try (var s = Files.list(staging)) {
            return s.collect(Collectors.toList());
        }
    }

    /** The value of one of the operator's keyed value states for {@code host}, read straight from its backend. */
    <T> T keyedValue(String host, ValueStateDescriptor<T> descriptor) throws Exception {
        var backend = getOperator().getKeyedStateBackend();
        Object previous = backend.getCurrentKey();
        backend.setCurrentKey(host);
        try {
            return backend.getPartitionedState(
                            VoidNamespace.INSTANCE,
                            VoidNamespaceSerializer.INSTANCE,
                            descriptor)
                    .value();
        } finally {
            if (previous != null) {
                backend.setCurrentKey(previous);
            }
        }
    }

    long hostsWithState() throws Exception {
        return getOperator().forTests().hostsWithState();
    }

    /** What the operator holds now: keyed entries, timers, backlog, attempts in flight, hosts in memory. */
    ZeroState state() throws Exception {
        FetchTestAccess op = getOperator().forTests();
        return new ZeroState(
                op.hostsWithState(), harness.numProcessingTimeTimers(), op.backlog(), op.inFlightCount(),
                op.hostsInMemory());
    }

    /**
     * Opts this instance out of the zero-state check, for a test that leaves its work unfinished on purpose
     * (a snapshot taken mid-flight, a close while in flight); {@code reason} says why.
     */
    FetchHarness unfinished(String reason) {
        unfinished = reason;
        return this;
    }

    /** Why this instance is not checked for zero state, or null when it is. */
    String unfinishedReason() {
        return unfinished;
    }

    /**
     * A crash: only the operator is closed (its attempts cancelled, its client released), the work it had stays
     * in the last snapshot. Opts out of the zero-state check with {@code reason}.
     */
    void crash(String reason) throws Exception {
        unfinished(reason);
        closed = true;
        harness.getOperator().close();
    }

    boolean isClosed() {
        return closed;
    }

    /**
     * Runs what is already due: timers at or before the current processing time (a job fires them at once; the
     * harness only when its time is set) and mail already posted (e.g. the outcome of a superseded attempt). Under
     * {@link Clock#STEPPED} and {@link Clock#WALL} the clock policy then goes on: time moves to each remaining timer
     * in turn (at most {@link #SETTLE_STEPS}), so that a timer which outlived the work (a host's pause or breaker
     * wake-up, a retry of a download that ended meanwhile) fires, and the state checked after it shows what firing it
     * left behind; how many fired is in {@link #lastClock}. {@link Clock#MANUAL} never moves here: the test owns its
     * time, so its remaining timers are counted.
     */
    private void settle() throws Exception {
        long from = harness.getProcessingTime();
        int fired = 0;
        while (true) {
            do {
                harness.setProcessingTime(harness.getProcessingTime());
            } while (runOneMail(harness));
            var timers = harness.getProcessingTimeService().getActiveTimerTimestamps();
            if (clock == Clock.MANUAL || timers.isEmpty() || fired >= SETTLE_STEPS) {
                break;
            }
            harness.setProcessingTime(java.util.Collections.min(timers));
            fired++;
        }
        settled = fired == 0 ? "" : ", settled by firing " + fired + " timer(s) up to +"
                + (harness.getProcessingTime() - from) + " ms";
    }

    /** The processing time and the timers' times seen just before {@link #close}, for messages. */
    String lastClock() {
        return lastClock;
    }

    /** The state seen just before {@link #close} (null before, or for a crashed instance). */
    ZeroState lastState() {
        return lastState;
    }

    /**
     * Records {@link #state} and closes. With no work pending, the whole harness ({@code finish()} and disposal);
     * otherwise (a failed or unfinished test) only the operator, so that close never waits for the work.
     */
    @Override
    public void close() throws Exception {
        if (closed) {
            return;
        }
        closed = true;
        settle();
        lastState = state();
        lastClock = "processing time " + harness.getProcessingTime() + ", timers at "
                + harness.getProcessingTimeService().getActiveTimerTimestamps() + settled;
        if (!settled.isEmpty()) {
            System.out.println("FetchHarness at close: " + lastClock);
        }
        FetchOperator op = getOperator();
        FetchTestAccess counts = op.forTests();
        if (counts.backlog() == 0 && counts.inFlightCount() == 0) {
            harness.close();
        } else {
            op.close();
        }
    }
}
