package io.flowget.bench;

import io.flowget.udf.config.FlowgetOptions.Durability;
import io.flowget.udf.config.FlowgetOptions.OnConflict;
import io.flowget.udf.storage.OutputStore;

import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * What the task thread spends on storage per small file, through {@link OutputStore}'s public API only (so the
 * same class runs against builds before and after a change of the storage internals):
 *
 * <ul>
 *   <li>{@code lookupMissing}: the conditional-fetch lookup of a path that holds no file, which is every request
 *       of a fresh run ({@link OutputStore#recorded});
 *   <li>{@code publish}: the lookup, then the publish of a finished 16 KiB staging file with an ETag and a SHA-256
 *       (owner and metadata attributes, rename), durability NONE; writing the staging file itself is included,
 *       as a constant the other benchmarks share;
 *   <li>{@code publishAndCommit}: the same for {@value #BATCH} files, then the group commit of durability
 *       CHECKPOINT ({@link OutputStore#syncPending}, the fsyncs the checkpoint barrier waits for); per file.
 *   <li>{@code publishOnPool} (issue 16): the lookup and {@link OutputStore#beginPublish} for {@value #BATCH} files
 *       on the benchmark thread, their file work on the storage pool ({@link OutputStore#prepare}), then {@link
 *       OutputStore#completePublish} for each, as the operator does across its mails; durability NONE. The score is
 *       the batch's time per file; the aux counters {@code taskThreadCpuNanos} and {@code files} give the CPU the
 *       benchmark thread (the operator's task thread) spent per file, the staging-file writes excluded.
 *   <li>{@code stageAndCommit} (issue 16): publish with the commit, as a checkpointed run does: the lookup and the
 *       stage of {@value #BATCH} files, then the checkpoint's seal and commit that put them into place; the aux
 *       counters give the CPU per file of all that file work.
 * </ul>
 *
 * Files go to a fresh directory under {@code java.io.tmpdir} (use a disk, not tmpfs, for the fsync figures),
 * spread over 10 host directories as in the bench's small workload; the directory is emptied between iterations.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xms256m", "-Xmx256m", "-XX:+UseParallelGC"})
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
public class StorageBenchmark {
    static final int BATCH = 64;
    private static final String ETAG = "\"5f2b-16384\"";
    private static final String SHA = "ab".repeat(32);

    @Param({"16384"})
    public int bytes;

    private Path root;
    private OutputStore plain;
    private OutputStore durable;
    private OutputStore atCommit;
    private long checkpoints;
    private ByteBuffer body;
    private long seq;

    @Setup(Level.Iteration)
    public void setUp() throws IOException {
        root = Files.createTempDirectory("flowget-storage-bench");
        plain = new OutputStore(root.resolve("out"), root.resolve("staging"), OnConflict.FAIL, Durability.NONE);
        durable = new OutputStore(
                root.resolve("out-durable"), root.resolve("staging-durable"), OnConflict.FAIL, Durability.CHECKPOINT);
        atCommit = new OutputStore(
                root.resolve("out-at-commit"), root.resolve("staging-at-commit"), OnConflict.FAIL, Durability.NONE);
        atCommit.publishAtCommit("bench-0", "s0-a0", true);
        byte[] data = new byte[bytes];
        new java.util.Random(1).nextBytes(data);
        body = ByteBuffer.wrap(data);
    }

    @TearDown(Level.Iteration)
    public void tearDown() throws IOException {
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path p : (Iterable<Path>) paths.sorted(Comparator.reverseOrder())::iterator) {
                Files.deleteIfExists(p);
            }
        }
    }

    @Benchmark
    public Object lookupMissing() {
        long n = seq++;
        return plain.recorded(relative(n), url(n));
    }

    @Benchmark
    public Path publish() throws IOException {
        return publishOne(plain, seq++);
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void publishAndCommit() throws IOException {
        for (int i = 0; i < BATCH; i++) {
            publishOne(durable, seq++);
        }
        durable.syncPending();
    }

    /** CPU of the benchmark thread in {@code publishOnPool}'s task-thread steps, and the files they handled. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.EVENTS)
    public static class TaskThread {
        public long taskThreadCpuNanos;
        public long files;

        @Setup(Level.Iteration)
        public void reset() {
            taskThreadCpuNanos = 0;
            files = 0;
        }
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void publishOnPool(TaskThread cpu) throws Exception {
        long first = seq;
        Path[] staged = stageBatch(plain);
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        long t0 = threads.getCurrentThreadCpuTime();
        List<CompletableFuture<OutputStore.Publish>> prepared = new ArrayList<>(BATCH);
        for (int i = 0; i < BATCH; i++) {
            long n = first + i;
            String rel = requireFresh(plain, n);
            OutputStore.Publish p =
                    plain.beginPublish(staged[i], rel, url(n), new OutputStore.FileMeta(ETAG, null, SHA, null));
            prepared.add(plain.prepare(p));
        }
        long t1 = threads.getCurrentThreadCpuTime();
        CompletableFuture.allOf(prepared.toArray(new CompletableFuture[0])).join(); // the mails wait meanwhile
        long t2 = threads.getCurrentThreadCpuTime();
        for (CompletableFuture<OutputStore.Publish> f : prepared) {
            plain.completePublish(f.get());
        }
        long t3 = threads.getCurrentThreadCpuTime();
        cpu.taskThreadCpuNanos += (t1 - t0) + (t3 - t2);
        cpu.files += BATCH;
    }

    /** CPU of the benchmark thread in {@code stageAndCommit}, and the files it handled. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.EVENTS)
    public static class StageAndCommit {
        public long stageAndCommitCpuNanos;
        public long committedFiles;

        @Setup(Level.Iteration)
        public void reset() {
            stageAndCommitCpuNanos = 0;
            committedFiles = 0;
        }
    }

    /**
     * Issue 16, publish with the commit (what a checkpointed run does): the lookup and the stage of {@value #BATCH}
     * files (ownership check, label, rename into the ready folder), then the checkpoint's seal and its commit
     * (every file put into place), all on the benchmark thread; durability NONE. The aux counters give the thread's
     * CPU per file ({@code stageAndCommitCpuNanos} ÷ {@code committedFiles}), the staging-file writes excluded.
     */
    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void stageAndCommit(StageAndCommit cpu) throws Exception {
        long first = seq;
        Path[] staged = stageBatch(atCommit);
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        long t0 = threads.getCurrentThreadCpuTime();
        for (int i = 0; i < BATCH; i++) {
            long n = first + i;
            String rel = requireFresh(atCommit, n);
            atCommit.publish(staged[i], rel, url(n), new OutputStore.FileMeta(ETAG, null, SHA, null));
        }
        long checkpoint = ++checkpoints;
        atCommit.sealPublishes(checkpoint);
        if (atCommit.committed(checkpoint) != BATCH) {
            throw new IllegalStateException("checkpoint " + checkpoint + " did not commit " + BATCH + " files");
        }
        cpu.stageAndCommitCpuNanos += threads.getCurrentThreadCpuTime() - t0;
        cpu.committedFiles += BATCH;
    }

    private Path write(OutputStore store, long n) throws IOException {
        Path staging = store.stagingFile("127.0.0." + (1 + n % 10), n, 0);
        try (FileChannel ch = FileChannel.open(
                staging, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer b = body.duplicate();
            while (b.hasRemaining()) {
                ch.write(b);
            }
        }
        return staging;
    }

    private Path publishOne(OutputStore store, long n) throws IOException {
        String rel = requireFresh(store, n);
        Path staging = write(store, n);
        return store.publish(staging, rel, url(n), new OutputStore.FileMeta(ETAG, null, SHA, null));
    }

    /** Writes the staging files of the next {@value #BATCH} files (outside every measured step) and advances seq. */
    private Path[] stageBatch(OutputStore store) throws IOException {
        Path[] staged = new Path[BATCH];
        for (int i = 0; i < BATCH; i++) {
            staged[i] = write(store, seq + i);
        }
        seq += BATCH;
        return staged;
    }

    /** The conditional-fetch lookup every request of a fresh run makes; returns file n's relative path. */
    private static String requireFresh(OutputStore store, long n) {
        String rel = relative(n);
        if (store.recorded(rel, url(n)) != null) {
            throw new IllegalStateException("a fresh path answered as recorded: " + rel);
        }
        return rel;
    }

    private static String relative(long n) {
        return "h" + (n % 10) + "/s" + n + ".bin";
    }

    private static String url(long n) {
        return "http://127.0.0." + (1 + n % 10) + ":18480/small/h" + (n % 10) + "/s" + n + ".bin";
    }
}
