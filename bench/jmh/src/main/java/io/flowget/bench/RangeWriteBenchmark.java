package io.flowget.bench;

import io.flowget.udf.http.Attempt;
import io.flowget.udf.http.FetchOutcome;
import io.flowget.udf.http.RangeResponseConsumer;

import org.apache.hc.core5.concurrent.FutureCallback;
import org.apache.hc.core5.http.ContentType;
import org.apache.hc.core5.http.impl.BasicEntityDetails;
import org.apache.hc.core5.http.message.BasicHttpResponse;
import org.apache.hc.core5.http.protocol.BasicHttpContext;
import org.openjdk.jmh.annotations.AuxCounters;
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
import java.io.RandomAccessFile;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * The large-file write path on an I/O thread (issue 16): one {@value #FILE_MIB} MiB file received as Range chunk
 * windows of {@value #WINDOW_MIB} MiB through {@link RangeResponseConsumer}'s public API, each window's body handed
 * over in pieces of {@code piece} bytes from one heap buffer, as HttpClient hands a connection's content buffer
 * (8 KiB on the main client's connections, 64 KiB on large-buffer ones). The file is fresh and pre-sized for every
 * invocation, so page-cache allocation is part of the figure, as in a real download. Score: ms per file; the aux
 * counter {@code cpuMsPerFile} is the benchmark thread's CPU per file. Runs against any build whose consumer has
 * this constructor (before and after a change of its write path).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xms256m", "-Xmx256m", "-XX:+UseParallelGC"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class RangeWriteBenchmark {
    static final int FILE_MIB = 64;
    static final int WINDOW_MIB = 2;
    private static final long LENGTH = FILE_MIB << 20;
    private static final String ETAG = "\"bench-64m\"";

    @Param({"8192", "65536"})
    public int piece;

    private Path dir;
    private Path file;
    private ByteBuffer content;
    private final ThreadMXBean threads = ManagementFactory.getThreadMXBean();

    /** CPU of the benchmark thread per file. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.EVENTS)
    public static class Cpu {
        public double cpuMs;
        public long files;

        public double cpuMsPerFile() {
            return files == 0 ? 0 : cpuMs / files;
        }

        @Setup(Level.Iteration)
        public void reset() {
            cpuMs = 0;
            files = 0;
        }
    }

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        dir = Files.createTempDirectory("flowget-rangewrite");
        file = dir.resolve("staging");
        content = ByteBuffer.allocate(piece);
        for (int i = 0; i < piece; i++) {
            content.put(i, (byte) (i * 31));
        }
    }

    @Setup(Level.Invocation)
    public void freshFile() throws IOException {
        Files.deleteIfExists(file);
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(LENGTH); // pre-sized and sparse, as a chunked download's staging file
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        Files.deleteIfExists(file);
        Files.deleteIfExists(dir);
    }

    @Benchmark
    public long receiveFile(Cpu cpu) throws Exception {
        long c0 = threads.getCurrentThreadCpuTime();
        long stored = 0;
        long window = (long) WINDOW_MIB << 20;
        for (long from = 0; from < LENGTH; from += window) {
            long last = Math.min(LENGTH, from + window) - 1;
            Attempt a = new Attempt("bench", 1, "http://bench/f", 0, Long.MAX_VALUE);
            a.rangeStart = from;
            RangeResponseConsumer c = new RangeResponseConsumer(file, a, from, from > 0, LENGTH, ETAG, true);
            BasicHttpResponse head = new BasicHttpResponse(206);
            head.addHeader("Content-Range", "bytes " + from + "-" + last + "/" + LENGTH);
            head.addHeader("ETag", ETAG);
            FetchOutcome[] out = new FetchOutcome[1];
            c.consumeResponse(
                    head,
                    new BasicEntityDetails(last - from + 1, ContentType.APPLICATION_OCTET_STREAM),
                    new BasicHttpContext(),
                    new FutureCallback<>() {
                        @Override
                        public void completed(FetchOutcome o) {
                            out[0] = o;
                        }

                        @Override
                        public void failed(Exception e) {}

                        @Override
                        public void cancelled() {}
                    });
            for (long p = from; p <= last; p += piece) {
                content.clear();
                content.limit((int) Math.min(piece, last - p + 1));
                c.consume(content);
            }
            c.streamEnd(null);
            c.releaseResources();
            stored += out[0].rangeLast - out[0].rangeFirst + 1;
        }
        if (stored != LENGTH) {
            throw new IllegalStateException("stored " + stored + " of " + LENGTH);
        }
        cpu.cpuMs += (threads.getCurrentThreadCpuTime() - c0) / 1e6;
        cpu.files++;
        return stored;
    }
}
