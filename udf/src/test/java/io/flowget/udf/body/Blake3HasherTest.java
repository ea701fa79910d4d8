package io.flowget.udf.body;

import org.apache.commons.codec.digest.Blake3;

import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link Blake3Hasher} against the official BLAKE3 test vectors and against commons-codec's {@code Blake3} for every
 * length up to 3 chunks and every block boundary (±1) up to 100 KiB, fed whole, byte by byte and in random pieces;
 * and subtree chaining values: a root merged from aligned subtrees hashed on their own equals the whole input's hash.
 */
class Blake3HasherTest {
    private static final HexFormat HEX = HexFormat.of();

    /** The test vectors' input: bytes 0, 1, …, 250, 0, 1, … */
    static byte[] input(int len) {
        byte[] b = new byte[len];
        for (int i = 0; i < len; i++) {
            b[i] = (byte) (i % 251);
        }
        return b;
    }

    static String codec(byte[] data) {
        return HEX.formatHex(Blake3.initHash().update(data).doFinalize(32));
    }

    private static String ours(byte[] data) {
        Blake3Hasher h = new Blake3Hasher(0);
        h.update(data, 0, data.length);
        return HEX.formatHex(h.root());
    }

    @Test
    void officialTestVectors() throws Exception {
        List<String[]> cases = new ArrayList<>();
        try (var r = new BufferedReader(new InputStreamReader(
                Blake3HasherTest.class.getResourceAsStream("/blake3/test_vectors_hash.txt"), StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
                if (!line.startsWith("#") && !line.isBlank()) {
                    cases.add(line.trim().split(" "));
                }
            }
        }
        assertThat(cases).hasSize(35);
        for (String[] c : cases) {
            byte[] data = input(Integer.parseInt(c[0]));
            assertThat(ours(data)).as("length %s", c[0]).isEqualTo(c[1]);
            assertThat(codec(data)).as("commons-codec, length %s", c[0]).isEqualTo(c[1]);
        }
    }

    @Test
    void everyLengthUpToThreeChunksAndEveryBlockBoundaryTo100KiBMatchCommonsCodec() {
        List<Integer> lengths = new ArrayList<>();
        for (int len = 0; len <= 3 * 1024 + 1; len++) {
            lengths.add(len);
        }
        for (int len = 3 * 1024 + 63; len <= 100 * 1024 + 1; len += 64) {
            lengths.add(len);
            lengths.add(len + 1);
            lengths.add(len + 2);
        }
        byte[] all = random(100 * 1024 + 3, 1);
        for (int len : lengths) {
            byte[] data = java.util.Arrays.copyOf(all, len);
            assertThat(ours(data)).as("length %d", len).isEqualTo(codec(data));
        }
    }

    @Test
    void piecesOfAnySizeGiveTheSameHashAsOneUpdate() {
        SplittableRandom random = new SplittableRandom(7);
        for (int round = 0; round < 300; round++) {
            int len = random.nextInt(20 * 1024);
            byte[] data = random(len, round);
            Blake3Hasher h = new Blake3Hasher(0);
            int at = 0;
            while (at < len) {
                int n = Math.min(len - at, random.nextInt(3) == 0 ? 1 + random.nextInt(3) : random.nextInt(2500));
                if (random.nextBoolean()) {
                    h.update(data, at, n);
                } else {
                    // a direct, read-only or big-endian buffer: the position moves to the limit
                    ByteBuffer b = ByteBuffer.allocateDirect(n).put(data, at, n).flip();
                    h.update(b);
                    assertThat(b.hasRemaining()).isFalse();
                }
                at += n;
            }
            assertThat(h.length()).isEqualTo(len);
            assertThat(HEX.formatHex(h.root())).as("round %d, length %d", round, len).isEqualTo(codec(data));
        }
    }

    @Test
    void aRootMergedFromAlignedSubtreesHashedApartIsTheWholeHash() {
        SplittableRandom random = new SplittableRandom(11);
        for (int round = 0; round < 200; round++) {
            int chunksPerBlock = 1 << random.nextInt(5); // blocks of 1 to 16 chunks
            int block = chunksPerBlock * Blake3Hasher.CHUNK_LEN;
            int len = block + 1 + random.nextInt(12 * block);
            byte[] data = random(len, 100 + round);
            Blake3Tree tree = Blake3Tree.forFile(len, block);
            int blocks = (len + block - 1) / block;
            for (int i = 0; i < blocks; i++) {
                Blake3Hasher h = tree.blockHasher(i);
                int n = (int) tree.blockLength(i);
                h.update(data, i * block, n);
                tree.put(i, h.subtreeCv(), false);
            }
            assertThat(tree.rootHex()).as("round %d, length %d, block %d", round, len, block).isEqualTo(codec(data));
        }
    }

    @Test
    void leftSubtreesAreTheLargestPowerOfTwoChunksThatLeaveAByte() {
        assertThat(Blake3Tree.leftLength(1025)).isEqualTo(1024);
        assertThat(Blake3Tree.leftLength(2048)).isEqualTo(1024);
        assertThat(Blake3Tree.leftLength(2049)).isEqualTo(2048);
        assertThat(Blake3Tree.leftLength(4096)).isEqualTo(2048);
        assertThat(Blake3Tree.leftLength(4097)).isEqualTo(4096);
        assertThat(Blake3Tree.leftLength(3L << 30)).isEqualTo(2L << 30);
    }

    static byte[] random(int len, long seed) {
        byte[] b = new byte[len];
        new SplittableRandom(seed).nextBytes(b);
        return b;
    }
}
