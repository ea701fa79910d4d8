package io.flowget.udf.fetch;

import io.flowget.udf.body.Digests;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** The hasher thread: digests continued from a prefix hashed ahead equal a whole read of the final file. */
class FinalizerTest {
    private static final int MIB = 1 << 20;

    @TempDir Path tmp;

    @Test
    void aPrefixHashedAheadWhileChunksLandOutOfOrderIsNotReadAgainAtTheEnd() throws Exception {
        byte[] data = new byte[3 * MIB + 123];
        new Random(7).nextBytes(data);
        Path original = Files.write(tmp.resolve("original.bin"), data);
        Path staging = tmp.resolve("f.part");
        try (Finalizer f = new Finalizer(0, true);
                RandomAccessFile file = new RandomAccessFile(staging.toFile(), "rw")) {
            file.setLength(data.length); // presized, sparse: zeros where no chunk landed yet
            write(file, data, 0, MIB); // probe
            f.advance(staging, new long[] {0, MIB - 1});
            write(file, data, 2 * MIB, data.length); // the last chunk first: the prefix must not reach it
            f.advance(staging, new long[] {0, MIB - 1, 2 * MIB, data.length - 1});
            write(file, data, MIB, 2 * MIB - 10);
            f.advance(staging, new long[] {0, 2 * MIB - 11, 2 * MIB, data.length - 1});
            digest(f, original); // the hasher runs in order: everything queued before has run
            // Change a byte the prefix already covered: the final digest must not see it (no re-read) ...
            file.seek(5);
            file.write(data[5] ^ 1);
            write(file, data, 2 * MIB - 10, 2 * MIB); // ... while the last gap is still read at the end

            assertThat(digest(f, staging)).isEqualTo(Digests.digest(original, true));
        }
    }

    @Test
    void aForgottenPrefixIsNotContinuedByALaterDownloadOfTheSameFile() throws Exception {
        Path staging = Files.write(tmp.resolve("g.part"), new byte[] {1, 2, 3, 4});
        try (Finalizer f = new Finalizer(0, false)) {
            f.advance(staging, new long[] {0, 3});
            f.forget(staging);
            Files.write(staging, new byte[] {9, 9, 9, 9, 9});

            assertThat(digest(f, staging)).isEqualTo(Digests.digest(staging, false));
        }
    }

    private static void write(RandomAccessFile file, byte[] data, int from, int to) throws Exception {
        file.seek(from);
        file.write(data, from, to - from);
    }

    private static Digests.FileDigest digest(Finalizer f, Path staging) throws Exception {
        CompletableFuture<Digests.FileDigest> done = new CompletableFuture<>();
        f.digest(staging, () -> staging, (d, e) -> {
            if (e != null) {
                done.completeExceptionally(e);
            } else {
                done.complete(d);
            }
        });
        return done.get(60, TimeUnit.SECONDS);
    }
}
