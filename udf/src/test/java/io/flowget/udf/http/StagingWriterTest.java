package io.flowget.udf.http;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

/** {@link StagingWriter}: coalesced positional writes, what counts as stored, the bounded pool. */
class StagingWriterTest {
    @TempDir Path dir;

    @Test
    void randomPiecesLandAtTheirOffsetsAndEveryWrittenRangeIsReportedOnce() throws IOException {
        SplittableRandom random = new SplittableRandom(16);
        for (int round = 0; round < 40; round++) {
            int length = random.nextInt(1, 3 * StagingWriter.BUFFER_SIZE + 5000);
            long offset = random.nextInt(0, 100_000);
            byte[] data = new byte[length];
            random.nextBytes(data);
            Path file = dir.resolve("f" + round);
            List<long[]> reported = new ArrayList<>();
            byte[] seen = new byte[length];
            try (FileChannel ch = open(file)) {
                StagingWriter w =
                        new StagingWriter(
                                ch,
                                offset,
                                random.nextBoolean(),
                                (at, bytes) -> {
                                    reported.add(new long[] {at, bytes.remaining()});
                                    bytes.get(seen, (int) (at - offset), bytes.remaining());
                                });
                int p = 0;
                while (p < length) {
                    int n = Math.min(length - p, random.nextInt(1, 2 * StagingWriter.BUFFER_SIZE));
                    ByteBuffer piece =
                            random.nextBoolean() ? ByteBuffer.allocate(n) : ByteBuffer.allocateDirect(n);
                    piece.put(data, p, n).flip();
                    w.write(piece);
                    assertThat(piece.hasRemaining()).isFalse();
                    assertThat(w.position()).isBetween(offset, offset + p + n);
                    p += n;
                }
                w.flush();
                assertThat(w.position()).isEqualTo(offset + length);
                w.release();
            }
            byte[] stored = Files.readAllBytes(file);
            assertThat(Arrays.copyOfRange(stored, (int) offset, stored.length)).isEqualTo(data);
            assertThat(seen).isEqualTo(data);
            long next = offset;
            for (long[] r : reported) { // contiguous, in order, each byte once
                assertThat(r[0]).isEqualTo(next);
                next += r[1];
            }
            assertThat(next).isEqualTo(offset + length);
        }
    }

    @Test
    void bytesNotFlushedAreNotStoredAndNotCounted() throws IOException {
        Path file = dir.resolve("f");
        try (FileChannel ch = open(file)) {
            StagingWriter w = new StagingWriter(ch, 0, true, null);
            if (!w.pooled()) {
                return; // every pooled buffer is taken by another test in this JVM: nothing is buffered
            }
            w.write(ByteBuffer.wrap(new byte[1000]));
            assertThat(w.position()).isZero();
            w.release();
            assertThat(w.position()).isZero();
        }
        assertThat(Files.size(file)).isZero();
    }

    @Test
    void thePoolNeverHoldsMoreThanItsBuffersAndTakesThemBack() throws IOException {
        Path file = dir.resolve("f");
        try (FileChannel ch = open(file)) {
            int created0 = StagingWriter.buffersCreated();
            int free0 = StagingWriter.buffersFree();
            List<StagingWriter> writers = new ArrayList<>();
            for (int i = 0; i < StagingWriter.POOL_BUFFERS + 8; i++) {
                writers.add(new StagingWriter(ch, 0, true, null));
            }
            assertThat(writers.stream().filter(StagingWriter::pooled).count())
                    .isLessThanOrEqualTo(StagingWriter.POOL_BUFFERS);
            assertThat(writers.stream().filter(w -> !w.pooled()).count()).isGreaterThanOrEqualTo(8);
            assertThat(StagingWriter.buffersCreated()).isLessThanOrEqualTo(StagingWriter.POOL_BUFFERS);
            // a writer without a buffer still stores everything, piece by piece
            StagingWriter straight = writers.get(writers.size() - 1);
            straight.write(ByteBuffer.wrap(new byte[] {1, 2, 3}));
            assertThat(straight.position()).isEqualTo(3);
            writers.forEach(StagingWriter::release);
            writers.forEach(StagingWriter::release); // idempotent: a buffer goes back once
            assertThat(StagingWriter.buffersFree())
                    .isEqualTo(free0 + StagingWriter.buffersCreated() - created0);
        }
    }

    private static FileChannel open(Path file) throws IOException {
        return FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.READ);
    }
}
