package io.flowget.bench;

import io.flowget.udf.body.BodyPipeline;
import io.flowget.udf.body.ByteSink;
import io.flowget.udf.body.DecryptBench;
import io.flowget.udf.body.SegmentDecrypter;
import io.flowget.udf.crypto.DecryptScheme;
import io.flowget.udf.crypto.Decryption;
import io.flowget.udf.crypto.KeyProvider;
import io.flowget.udf.crypto.SegmentGeometry;

import com.google.crypto.tink.subtle.AesGcmHkdfStreaming;
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

import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * Throughput of encrypted bodies on the 64 MiB data set of {@link CodecBenchmark}: one op is 1 MiB of stored
 * plaintext, so scores are MiB/s. The ciphertext is made once in the setup (the JDK's AES-GCM for the
 * whole-object layout, Tink for the segmented one) and pushed in 16 KiB slices.
 *
 * <ul>
 *   <li>{@code *Decrypt}: the decryption stage alone (what {@code openssl speed -decrypt -evp aes-256-gcm} does);
 *   <li>{@code *Pipeline}: {@link BodyPipeline} with a discarding sink: decrypt + (inner zstd) + size guards +
 *       SHA-256, i.e. what an encrypted download costs before the file write;
 *   <li>{@code *Segments}: what a Range chunk of a segmented object costs per core before its positional write
 *       (copy into the segment buffer, {@link SegmentDecrypter} on each segment by its index, as {@code
 *       http.SegmentedRangeConsumer} does; no digest: chunked files are digested from the file at the end). Chunks
 *       run on the HTTP client's I/O threads, so with several chunks in flight this scales with the cores.
 * </ul>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@OperationsPerInvocation(CodecBenchmark.MIB_PER_OP)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g", "-XX:+UseParallelGC"})
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 3)
public class DecryptBenchmark {
    static final int SLICE = 16 * 1024;

    @Param("")
    public String dataDir;

    private byte[] key;
    private KeyProvider keys;
    private byte[] gcm;
    private byte[] gcmZstd;
    private byte[] tink1m;
    private byte[] tink4k;
    private byte[] tink1mZstd;

    @Setup
    public void load() throws Exception {
        BenchData data = BenchData.load(dataDir);
        key = new byte[32];
        new Random(1).nextBytes(key);
        byte[] k = key;
        keys = id -> k.clone();
        gcm = gcm(data.plain);
        gcmZstd = gcm(data.zstd);
        tink1m = tink(DecryptScheme.TINK_AES256_GCM_HKDF_1MB, data.plain);
        tink4k = tink(DecryptScheme.TINK_AES256_GCM_HKDF_4KB, data.plain);
        tink1mZstd = tink(DecryptScheme.TINK_AES256_GCM_HKDF_1MB, data.zstd);
    }

    private byte[] gcm(byte[] plain) throws Exception {
        byte[] nonce = new byte[12];
        new Random(2).nextBytes(nonce);
        Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
        c.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, "AES"), new GCMParameterSpec(128, nonce));
        byte[] ct = c.doFinal(plain);
        byte[] out = new byte[12 + ct.length];
        System.arraycopy(nonce, 0, out, 0, 12);
        System.arraycopy(ct, 0, out, 12, ct.length);
        return out;
    }

    private byte[] tink(DecryptScheme scheme, byte[] plain) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream(plain.length + plain.length / 32 + 64);
        try (OutputStream enc =
                new AesGcmHkdfStreaming(key, "HmacSha256", 32, scheme.ciphertextSegmentSize(), 0)
                        .newEncryptingStream(out, new byte[0])) {
            enc.write(plain);
        }
        return out.toByteArray();
    }

    @Benchmark
    public long gcmDecrypt() throws IOException {
        return DecryptBench.decryptAll(DecryptScheme.AES_256_GCM, key, gcm, SLICE);
    }

    @Benchmark
    public long tink1mDecrypt() throws IOException {
        return DecryptBench.decryptAll(DecryptScheme.TINK_AES256_GCM_HKDF_1MB, key, tink1m, SLICE);
    }

    @Benchmark
    public long tink4kDecrypt() throws IOException {
        return DecryptBench.decryptAll(DecryptScheme.TINK_AES256_GCM_HKDF_4KB, key, tink4k, SLICE);
    }

    @Benchmark
    public String gcmPipeline() throws IOException {
        return pipeline(DecryptScheme.AES_256_GCM, "identity", gcm);
    }

    @Benchmark
    public String gcmZstdPipeline() throws IOException {
        return pipeline(DecryptScheme.AES_256_GCM, "zstd", gcmZstd);
    }

    @Benchmark
    public String tink1mPipeline() throws IOException {
        return pipeline(DecryptScheme.TINK_AES256_GCM_HKDF_1MB, "identity", tink1m);
    }

    @Benchmark
    public String tink1mZstdPipeline() throws IOException {
        return pipeline(DecryptScheme.TINK_AES256_GCM_HKDF_1MB, "zstd", tink1mZstd);
    }

    @Benchmark
    public long tink1mSegments() throws IOException {
        return segments(DecryptScheme.TINK_AES256_GCM_HKDF_1MB, tink1m);
    }

    @Benchmark
    public long tink4kSegments() throws IOException {
        return segments(DecryptScheme.TINK_AES256_GCM_HKDF_4KB, tink4k);
    }

    private long segments(DecryptScheme scheme, byte[] body) throws IOException {
        int size = scheme.ciphertextSegmentSize();
        SegmentGeometry g = new SegmentGeometry(size);
        SegmentDecrypter decrypter =
                SegmentDecrypter.open(
                        new Decryption(scheme, "k", "identity"),
                        keys,
                        size,
                        Arrays.copyOf(body, SegmentGeometry.HEADER_BYTES));
        ByteBuffer ct = ByteBuffer.allocate(size);
        ByteBuffer pt = ByteBuffer.allocate(size - SegmentGeometry.TAG_BYTES);
        long n = g.segments(body.length);
        long plain = 0;
        for (long i = 0; i < n; i++) {
            int from = (int) g.ciphertextStart(i);
            int to = (int) g.ciphertextEnd(i, body.length);
            ct.clear();
            ct.put(body, from, to - from).flip();
            pt.clear();
            decrypter.decrypt(ct, i, i == n - 1, pt);
            plain += pt.position();
        }
        return plain;
    }

    private String pipeline(DecryptScheme scheme, String inner, byte[] body) throws IOException {
        try (BodyPipeline pipeline =
                BodyPipeline.builder(ByteSink.discard())
                        .maxRatio(1000)
                        .decrypt(new Decryption(scheme, "k", inner), keys)
                        .build()) {
            ByteBuffer view = ByteBuffer.wrap(body);
            for (int off = 0; off < body.length; off += SLICE) {
                view.limit(Math.min(body.length, off + SLICE)).position(off);
                pipeline.accept(view);
            }
            pipeline.finish();
            return pipeline.sha256Hex();
        }
    }
}
