package io.flowget.bench;

import io.flowget.udf.body.BodyPipeline;
import io.flowget.udf.body.ByteSink;
import io.flowget.udf.crypto.DecryptScheme;
import io.flowget.udf.crypto.Decryption;

import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Locale;

/**
 * Thread CPU milliseconds per 64 MiB of stored output through {@link BodyPipeline} (decode + size guards +
 * SHA-256, input in 16 KiB heap slices as {@code CodecBenchmark}'s pipelines): identity, gzip, zstd, br and
 * AES-256-GCM. Not JMH: CPU time instead of wall time, so that a comparison on a machine shared with other builds
 * still resolves a few percent (JMH's wall-clock scores of one jar swung 2–4× between rounds at load 7–26). Per
 * body: 3 warm-up passes, then the least CPU of 3 measured passes. Compare two builds by running the class from
 * each jar alternately:
 *
 * <pre>{@code
 * java -cp bench/jmh/target/benchmarks.jar io.flowget.bench.BenchData /tmp/data   # once
 * java -Xms1g -Xmx1g -XX:+UseParallelGC -cp bench/jmh/target/benchmarks.jar io.flowget.bench.BodyCpuBench /tmp/data
 * }</pre>
 */
public final class BodyCpuBench {
    private static final int SLICE = 16 * 1024;
    private static final int WARMUP = 3;
    private static final int MEASURED = 3;

    private BodyCpuBench() {}

    public static void main(String[] args) throws Exception {
        BenchData data = BenchData.load(args.length > 0 ? args[0] : "");
        byte[] key = new byte[32];
        Arrays.fill(key, (byte) 7);
        byte[] nonce = new byte[12];
        Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
        c.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, "AES"), new GCMParameterSpec(128, nonce));
        byte[] sealed = c.doFinal(data.plain);
        byte[] gcm = new byte[nonce.length + sealed.length]; // nonce || ciphertext || tag
        System.arraycopy(sealed, 0, gcm, nonce.length, sealed.length);

        String[] names = {"identity", "gzip", "zstd", "br", "aes-256-gcm"};
        byte[][] bodies = {data.plain, data.gzip, data.zstd, data.br, gcm};
        String[] codings = {null, "gzip", "zstd", "br", null};
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        StringBuilder line = new StringBuilder("CPU ms per 64 MiB:");
        for (int k = 0; k < names.length; k++) {
            long best = Long.MAX_VALUE;
            for (int pass = 0; pass < WARMUP + MEASURED; pass++) {
                long t0 = threads.getCurrentThreadCpuTime();
                BodyPipeline.Builder b =
                        BodyPipeline.builder(ByteSink.discard()).contentEncoding(codings[k]).maxRatio(1000);
                if (gcm == bodies[k]) {
                    b.decrypt(new Decryption(DecryptScheme.forToken("aes-256-gcm"), "k", "identity"), id -> key.clone());
                }
                try (BodyPipeline p = b.build()) {
                    byte[] body = bodies[k];
                    for (int off = 0; off < body.length; off += SLICE) {
                        p.accept(ByteBuffer.wrap(body, off, Math.min(SLICE, body.length - off)));
                    }
                    p.finish();
                    if (p.decodedBytes() != data.plain.length) {
                        throw new IllegalStateException(names[k] + ": " + p.decodedBytes() + " bytes decoded");
                    }
                }
                long ns = threads.getCurrentThreadCpuTime() - t0;
                if (pass >= WARMUP) {
                    best = Math.min(best, ns);
                }
            }
            line.append(String.format(Locale.ROOT, " %s=%.1f", names[k], best / 1e6));
        }
        System.out.println(line);
    }
}
