package io.flowget.bench;

import io.flowget.udf.body.BodyPipeline;
import io.flowget.udf.body.ByteSink;
import io.flowget.udf.body.DecoderBench;
import org.apache.commons.codec.digest.Blake3;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.concurrent.TimeUnit;

/**
 * Throughput of the body path on 64 MiB of log-like text. Every invocation processes the whole data set and
 * counts as 64 operations, so the score in ops/s is MiB/s of decoded (stored) output. Coded input is pushed in
 * {@link #SLICE}-byte slices as the HTTP client would deliver it.
 *
 * <ul>
 *   <li>{@code *Decode}: the decoder alone (what {@code gzip -dc} and friends do);
 *   <li>{@code *Pipeline}: {@link BodyPipeline} with a discarding sink: decode + size guards + SHA-256;
 *   <li>{@code sha256}, {@code blake3}: the digests alone, one pass over the plain bytes.
 * </ul>
 *
 * <p>{@code -p dataDir=DIR} reads the data written by {@link BenchData#main}; without it the data is generated.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@OperationsPerInvocation(CodecBenchmark.MIB_PER_OP)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g", "-XX:+UseParallelGC"})
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 3)
public class CodecBenchmark {
    static final int MIB_PER_OP = BenchData.PLAIN_SIZE >> 20;
    static final int SLICE = 16 * 1024;

    @Param("")
    public String dataDir;

    private BenchData data;

    @Setup
    public void load() throws IOException {
        data = BenchData.load(dataDir);
    }

    @Benchmark
    public long gzipDecode() throws IOException {
        return DecoderBench.decodeAll("gzip", data.gzip, SLICE);
    }

    @Benchmark
    public long zstdDecode() throws IOException {
        return DecoderBench.decodeAll("zstd", data.zstd, SLICE);
    }

    @Benchmark
    public long brDecode() throws IOException {
        return DecoderBench.decodeAll("br", data.br, SLICE);
    }

    @Benchmark
    public String gzipPipeline() throws IOException {
        return pipeline("gzip", data.gzip, false);
    }

    @Benchmark
    public String zstdPipeline() throws IOException {
        return pipeline("zstd", data.zstd, false);
    }

    @Benchmark
    public String brPipeline() throws IOException {
        return pipeline("br", data.br, false);
    }

    @Benchmark
    public String identityPipeline() throws IOException {
        return pipeline(null, data.plain, false);
    }

    @Benchmark
    public String identityPipelineBlake3() throws IOException {
        return pipeline(null, data.plain, true);
    }

    @Benchmark
    public byte[] sha256() throws NoSuchAlgorithmException {
        return MessageDigest.getInstance("SHA-256").digest(data.plain);
    }

    @Benchmark
    public byte[] blake3() {
        return Blake3.initHash().update(data.plain).doFinalize(32);
    }

    private static String pipeline(String coding, byte[] body, boolean blake3) throws IOException {
        try (BodyPipeline pipeline =
                BodyPipeline.builder(ByteSink.discard())
                        .contentEncoding(coding)
                        .maxRatio(1000)
                        .blake3(blake3)
                        .build()) {
            ByteBuffer view = ByteBuffer.wrap(body);
            for (int off = 0; off < body.length; off += SLICE) {
                view.limit(Math.min(body.length, off + SLICE)).position(off);
                pipeline.accept(view);
            }
            pipeline.finish();
            return blake3 ? pipeline.blake3Hex() : pipeline.sha256Hex();
        }
    }
}
