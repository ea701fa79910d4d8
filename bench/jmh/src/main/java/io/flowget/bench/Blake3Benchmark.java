package io.flowget.bench;

import io.flowget.udf.body.Blake3Hasher;
import io.flowget.udf.body.Blake3Tree;

import org.apache.commons.codec.digest.Blake3;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.nio.ByteBuffer;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * BLAKE3 of 64 MiB (one op = 1 MiB, so scores are MiB/s): commons-codec's {@code Blake3} (what a single stream
 * and, before issue 16's tree, a chunked file used), flowget's {@link Blake3Hasher} on one thread, and a chunked
 * file's {@link Blake3Tree} with its 1 MiB blocks hashed by two threads (as two I/O threads receive chunks) and the
 * root merged at the end.
 *
 * <pre>{@code
 * mvn -o -q -Pjmh -pl bench/jmh -am -DskipTests package
 * java -jar bench/jmh/target/benchmarks.jar Blake3Benchmark
 * }</pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@OperationsPerInvocation(Blake3Benchmark.MIB)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class Blake3Benchmark {
    static final int MIB = 64;
    private static final int BLOCK = 1 << 20;

    private byte[] data;
    private ExecutorService pool;

    @Setup(Level.Trial)
    public void setup() {
        data = new byte[MIB << 20];
        new SplittableRandom(16).nextBytes(data);
        pool = Executors.newFixedThreadPool(2);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        pool.shutdownNow();
    }

    @Benchmark
    public byte[] commonsCodec() {
        return Blake3.initHash().update(data).doFinalize(32);
    }

    @Benchmark
    public byte[] flowgetOneThread() {
        Blake3Hasher h = new Blake3Hasher(0);
        h.update(data, 0, data.length);
        return h.root();
    }

    /** Two "chunks" (the file's halves) fed in 64 KiB writes on two threads, then the root merged. */
    @Benchmark
    public byte[] flowgetTreeTwoThreads() throws Exception {
        Blake3Tree tree = Blake3Tree.forFile(data.length, BLOCK);
        int half = data.length / 2;
        Future<?> a = pool.submit(() -> feed(tree, 0, half));
        Future<?> b = pool.submit(() -> feed(tree, half, data.length));
        a.get();
        b.get();
        return tree.root();
    }

    private void feed(Blake3Tree tree, int from, int to) {
        Blake3Tree.Feeder f = tree.feeder();
        for (int at = from; at < to; at += 64 * 1024) {
            f.wrote(at, ByteBuffer.wrap(data, at, Math.min(64 * 1024, to - at)));
        }
    }
}
