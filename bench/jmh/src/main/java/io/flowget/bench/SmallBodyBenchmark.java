package io.flowget.bench;

import io.flowget.udf.body.BodyPipeline;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * What one small body costs an HttpClient I/O thread in the body pipeline alone (issue 16, CPU per small file):
 * {@code identity}, a {@link BodyPipeline} built for one {@code bytes}-byte identity body with SHA-256 (as
 * {@code StagingResponseConsumer} builds one per response), the body pushed through it in 16 KiB slices into a sink
 * that keeps nothing, then finished and closed. The set-up is the part a small body pays per file: a 16 KiB body
 * hashes in a few µs, and the pipeline's construction (the digest's look-up included) is a fixed cost on top.
 *
 * <p>Run: {@code java -jar bench/jmh/target/benchmarks.jar SmallBodyBenchmark -f 1 -wi 3 -i 5} (about 20 s). The same
 * class runs against builds before and after a change of the pipeline's set-up (it uses only the builder).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xms256m", "-Xmx256m"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class SmallBodyBenchmark {
    @Param({"16384"})
    public int bytes;

    private byte[] body;
    private long sunk;

    @Setup
    public void setUp() {
        body = new byte[bytes];
        new Random(1).nextBytes(body);
    }

    @Benchmark
    public String identity() throws IOException {
        try (BodyPipeline p = BodyPipeline.builder(this::sink).build()) {
            for (int off = 0; off < body.length; off += 16 * 1024) {
                p.accept(ByteBuffer.wrap(body, off, Math.min(16 * 1024, body.length - off)));
            }
            p.finish();
            return p.sha256Hex();
        }
    }

    private void sink(ByteBuffer decoded) {
        sunk += decoded.remaining();
        decoded.position(decoded.limit()); // consumed, as the staging file's write consumes it
    }
}
