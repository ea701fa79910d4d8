package io.flowget.udf.body;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.SplittableRandom;

import static io.flowget.udf.body.Blake3HasherTest.codec;
import static io.flowget.udf.body.Blake3HasherTest.random;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * {@link Blake3Tree} the way a chunked download fills it: ranges of the file arrive in any order, each as a stream of
 * windows of any size starting anywhere (chunk starts, split points inside a block, a range fetched twice, a window
 * that breaks off), feeders hash the blocks they cover, and the prefix reader hashes the rest while reading the file
 * in order ({@link Digests.FileHasher}); the root always equals commons-codec's BLAKE3 of the whole file.
 */
class Blake3TreeTest {
    @TempDir Path tmp;

    @Test
    void rangesInAnyOrderSplitAnywhereGiveTheWholeFilesHash() throws Exception {
        SplittableRandom random = new SplittableRandom(3);
        for (int round = 0; round < 150; round++) {
            int block = Blake3Hasher.CHUNK_LEN << random.nextInt(4);
            int len = block + 1 + random.nextInt(20 * block);
            byte[] data = random(len, round);
            Blake3Tree tree = Blake3Tree.forFile(len, block);

            // The file cut into ranges at random points (a chunk plan with splits), some fetched twice, some cut short.
            List<long[]> ranges = new ArrayList<>();
            for (long at = 0; at < len; ) {
                long end = Math.min(len, at + 1 + random.nextInt(3 * block));
                ranges.add(new long[] {at, end});
                at = end;
            }
            if (random.nextBoolean()) {
                ranges.add(ranges.get(random.nextInt(ranges.size())));
            }
            Collections.shuffle(ranges, new Random(round));
            for (long[] r : ranges) {
                Blake3Tree.Feeder f = tree.feeder();
                long cut = random.nextInt(4) == 0 ? r[0] + random.nextLong(r[1] - r[0] + 1) : r[1];
                for (long at = r[0]; at < cut; ) { // the range's windows, in order
                    int n = (int) Math.min(cut - at, 1 + random.nextInt(block + 100));
                    ByteBuffer written = ByteBuffer.wrap(data, (int) at, n);
                    f.wrote(at, written);
                    assertThat(written.remaining()).as("not consumed").isEqualTo(n);
                    at += n;
                }
            }
            int fed = tree.known();

            Path file = tmp.resolve("f" + round);
            Files.write(file, data);
            Digests.FileHasher h = new Digests.FileHasher(true, tree);
            h.readUpTo(file, 1 + random.nextInt(len)); // a prefix hashed ahead, then the rest at the end
            h.readUpTo(file, Long.MAX_VALUE);
            Digests.FileDigest d = h.finish();

            assertThat(d.blake3()).as("round %d: %d bytes, block %d, %d blocks fed", round, len, block, fed)
                    .isEqualTo(codec(data));
            assertThat(d.sha256()).isEqualTo(Digests.sha256Hex(data));
        }
    }

    @Test
    void chunkAlignedWindowsHashEveryBlockWithoutTheFile() {
        int block = 4 * Blake3Hasher.CHUNK_LEN;
        int len = 10 * block + 123;
        byte[] data = random(len, 5);
        Blake3Tree tree = Blake3Tree.forFile(len, block);
        // chunks of 3 blocks in reverse order, in windows of one block
        for (int chunk = (len - 1) / (3 * block); chunk >= 0; chunk--) {
            Blake3Tree.Feeder f = tree.feeder();
            for (long at = chunk * 3L * block; at < Math.min(len, (chunk + 1) * 3L * block); at += block) {
                f.wrote(at, ByteBuffer.wrap(data, (int) at, (int) Math.min(block, len - at)));
            }
        }
        assertThat(tree.known()).isEqualTo(11);
        assertThat(tree.rootHex()).isEqualTo(codec(data));
    }

    @Test
    void aRootIsRefusedWhileBlocksAreMissing() {
        Blake3Tree tree = Blake3Tree.forFile(3 * 1024, 1024);
        tree.feeder().wrote(0, ByteBuffer.wrap(random(1024, 1)));
        assertThatThrownBy(tree::root).isInstanceOf(IllegalStateException.class).hasMessageContaining("2 of 3");
    }

    @Test
    void aFileOfOneBlockHasNoTree() {
        assertThat(Blake3Tree.forFile(1 << 20, 1 << 20)).isNull();
        assertThat(Blake3Tree.forFile((1 << 20) + 1, 1 << 20)).isNotNull();
    }

    @Test
    void blocksAreAPowerOfTwoOfChunksWithinTheWindowAndAtMost65536PerFile() {
        assertThat(Blake3Tree.blockBytes(256L << 20, 2L << 20)).isEqualTo(1 << 20);
        assertThat(Blake3Tree.blockBytes(256L << 20, 64 << 10)).isEqualTo(64 << 10);
        assertThat(Blake3Tree.blockBytes(10_000, 3000)).isEqualTo(2048);
        assertThat(Blake3Tree.blockBytes(10_000, 100)).isEqualTo(1024);
        assertThat(Blake3Tree.blockBytes(1L << 40, 2L << 20)).isEqualTo(16 << 20);
    }
}
