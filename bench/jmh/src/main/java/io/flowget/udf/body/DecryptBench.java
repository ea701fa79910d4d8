package io.flowget.udf.body;

import io.flowget.udf.crypto.DecryptScheme;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Bridge for the benchmarks to the package-private decryption stages, so that decryption alone can be measured
 * next to {@code openssl speed -decrypt} (which neither decompresses nor hashes). Lives in the benchmark module,
 * in the body package; not part of flowget.
 */
public final class DecryptBench {
    private DecryptBench() {}

    /**
     * Decrypts {@code body} under {@code scheme} and {@code key}, fed in slices of {@code slice} bytes, and drops the
     * plaintext.
     *
     * @return the number of plaintext bytes
     */
    public static long decryptAll(DecryptScheme scheme, byte[] key, byte[] body, int slice) throws IOException {
        long[] count = {0};
        ChunkConsumer counter =
                chunk -> {
                    count[0] += chunk.remaining();
                    chunk.position(chunk.limit());
                };
        Decoder decryptor =
                scheme.segmented()
                        ? new TinkStreamingDecryptor(scheme, key, counter, BodyPipeline.CHUNK_SIZE)
                        : new AesGcmDecryptor(key, counter, BodyPipeline.SCRATCH_SIZE);
        try {
            ByteBuffer view = ByteBuffer.wrap(body);
            for (int off = 0; off < body.length; off += slice) {
                view.limit(Math.min(body.length, off + slice)).position(off);
                decryptor.accept(view);
            }
            decryptor.finish();
        } finally {
            decryptor.close();
        }
        return count[0];
    }
}
