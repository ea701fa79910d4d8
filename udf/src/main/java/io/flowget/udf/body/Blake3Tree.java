package io.flowget.udf.body;

import org.apache.flink.annotation.Internal;

import javax.annotation.concurrent.ThreadSafe;

import java.nio.ByteBuffer;
import java.util.HexFormat;

/**
 * The BLAKE3 hash of a file assembled from parts that arrive out of order (Range chunks): the file is cut into
 * aligned blocks of a power-of-two number of BLAKE3 chunks ({@link #blockBytes()}, 1 MiB by default), each block is
 * a subtree of the file's BLAKE3 tree, and its chaining value is computed by whoever has its bytes at hand — the
 * I/O thread that receives a chunk window ({@link Feeder}), or the hasher thread that reads the file's contiguous
 * prefix for SHA-256 anyway (blocks nobody fed: the probe's, the edges of a split, everything written before a
 * restore). {@link #rootHex()} merges the blocks' chaining values into the root (BLAKE3's left-complete tree: the
 * left child of a node holds the largest power of two of chunks that leaves the right child at least one byte,
 * so every full aligned block, and the last partial one, is a subtree). So a large file's BLAKE3 is computed on
 * the threads that receive its chunks, in parallel, without reading the file again.
 *
 * <p>Only for files longer than one block ({@link #forFile} answers null otherwise: the root is then inside one
 * block, hashed whole as before). Memory: 32 bytes per block, at most {@value #MAX_BLOCKS} blocks (the block grows
 * for larger files). Thread-safe: blocks are deposited by I/O threads and the hasher thread.
 */
@Internal
@ThreadSafe
public final class Blake3Tree {
    /** The block size for files that have at most this many blocks of it. */
    static final int DEFAULT_BLOCK = 1 << 20;
    /** Blocks per file at most; a larger file gets larger blocks. */
    static final int MAX_BLOCKS = 1 << 16;

    private final long length;
    private final int blockBytes;
    private final int blocks;
    /** The blocks' chaining values, 8 words each (guarded by this). */
    private final int[] cvs;
    private final boolean[] have;
    private int known;
    /** Blocks deposited by feeders (the threads that received them), the rest by the prefix reader. */
    private int fed;

    private Blake3Tree(long length, int blockBytes) {
        this.length = length;
        this.blockBytes = blockBytes;
        this.blocks = (int) ((length + blockBytes - 1) / blockBytes);
        this.cvs = new int[8 * blocks];
        this.have = new boolean[blocks];
    }

    /**
     * The block size for a file of {@code length} bytes received in windows of {@code window} bytes: the largest
     * power of two of BLAKE3 chunks not above the window and 1 MiB (so a window can complete a block), at least one
     * chunk, doubled until the file has at most {@value #MAX_BLOCKS} blocks.
     */
    public static int blockBytes(long length, long window) {
        long b = Long.highestOneBit(Math.max(Blake3Hasher.CHUNK_LEN, Math.min(DEFAULT_BLOCK, window)));
        while ((length + b - 1) / b > MAX_BLOCKS) {
            b <<= 1;
        }
        return (int) Math.min(b, 1 << 30);
    }

    /** A tree for a file of {@code length} bytes in blocks of {@code blockBytes}, or null when it fits in one. */
    public static Blake3Tree forFile(long length, int blockBytes) {
        if (Integer.bitCount(blockBytes) != 1 || blockBytes < Blake3Hasher.CHUNK_LEN) {
            throw new IllegalArgumentException("block size " + blockBytes);
        }
        return length > blockBytes ? new Blake3Tree(length, blockBytes) : null;
    }

    public long length() {
        return length;
    }

    public int blockBytes() {
        return blockBytes;
    }

    /** Blocks whose chaining value is known. */
    public synchronized int known() {
        return known;
    }

    /** Blocks hashed by feeders, on the threads that received their bytes (the rest: read from the file). */
    public synchronized int fed() {
        return fed;
    }

    /** Whether block {@code i}'s chaining value is known. */
    public synchronized boolean has(int i) {
        return have[i];
    }

    /** Deposits block {@code i}'s chaining value (the first deposit of a block stays; any other is equal). */
    synchronized void put(int i, int[] cv, boolean byFeeder) {
        if (!have[i]) {
            System.arraycopy(cv, 0, cvs, 8 * i, 8);
            have[i] = true;
            known++;
            fed += byFeeder ? 1 : 0;
        }
    }

    /** Blocks the file has. */
    public int blocks() {
        return blocks;
    }

    /** A hasher for block {@code i}: its bytes, from its first, give its chaining value. */
    Blake3Hasher blockHasher(int i) {
        return new Blake3Hasher((long) i * (blockBytes / Blake3Hasher.CHUNK_LEN));
    }

    /** Bytes in block {@code i} (the last one may be short). */
    long blockLength(int i) {
        return Math.min(blockBytes, length - (long) i * blockBytes);
    }

    /** The root hash, lower-case hex; every block must be known. */
    public String rootHex() {
        return HexFormat.of().formatHex(root());
    }

    /** The root hash (32 bytes); every block must be known. */
    public synchronized byte[] root() {
        if (known != blocks) {
            throw new IllegalStateException((blocks - known) + " of " + blocks + " blocks not hashed");
        }
        long left = leftLength(length);
        return Blake3Hasher.parentRoot(node(0, left), node(left, length - left));
    }

    /** The chaining value of the subtree over bytes {@code [start, start + len)} (start is a multiple of its size). */
    private int[] node(long start, long len) {
        if (len <= blockBytes) {
            int i = (int) (start / blockBytes);
            int[] cv = new int[8];
            System.arraycopy(cvs, 8 * i, cv, 0, 8);
            return cv;
        }
        long left = leftLength(len);
        return Blake3Hasher.parentCv(node(start, left), node(start + left, len - left));
    }

    /** BLAKE3's left subtree: the largest power of two of chunks that leaves at least one byte to the right. */
    static long leftLength(long len) {
        long fullChunks = (len - 1) / Blake3Hasher.CHUNK_LEN;
        return Long.highestOneBit(fullChunks) * Blake3Hasher.CHUNK_LEN;
    }

    /** A feeder for one stream of consecutive writes (one chunk attempt's windows). */
    public Feeder feeder() {
        return new Feeder();
    }

    /**
     * Hashes the blocks that one stream of writes covers completely: bytes written at consecutive offsets go into
     * the block they belong to, and a block whose bytes all passed is deposited; a write that does not continue the
     * previous one (a gap) drops the partial block, as do the bytes before the first block boundary of a stream
     * that starts inside a block. What a feeder drops, the prefix reader hashes. Not thread-safe: one stream, one
     * thread at a time (a chunk attempt's windows run one after the other).
     */
    public final class Feeder {
        private Blake3Hasher hasher;
        private int block = -1;
        private long blockEnd;
        /** The offset the next write must start at to continue the current block. */
        private long next = -1;

        private Feeder() {}

        /** The bytes {@code src} (position to limit; not consumed) were written at file offset {@code at}. */
        public void wrote(long at, ByteBuffer src) {
            ByteBuffer b = src.duplicate();
            long p = at;
            if (p != next) {
                hasher = null; // not a continuation: the partial block is left to the prefix reader
            }
            while (b.hasRemaining()) {
                if (hasher == null) {
                    long start = ((p + blockBytes - 1) / blockBytes) * blockBytes;
                    if (start >= length || start - p >= b.remaining()) {
                        p += b.remaining();
                        break;
                    }
                    b.position(b.position() + (int) (start - p));
                    p = start;
                    block = (int) (start / blockBytes);
                    blockEnd = start + blockLength(block);
                    hasher = has(block) ? null : blockHasher(block);
                    if (hasher == null) { // known already (a fetch of the same bytes again): skip it
                        long skip = Math.min(b.remaining(), blockEnd - p);
                        b.position(b.position() + (int) skip);
                        p += skip;
                        continue;
                    }
                }
                int take = (int) Math.min(b.remaining(), blockEnd - p);
                ByteBuffer part = b.duplicate();
                part.limit(part.position() + take);
                hasher.update(part);
                b.position(b.position() + take);
                p += take;
                if (p == blockEnd) {
                    put(block, hasher.subtreeCv(), true);
                    hasher = null;
                }
            }
            next = p;
        }
    }

    /**
     * Hashes, from the file's bytes read in order from offset 0, every block nobody deposited (the hasher thread's
     * prefix reader: {@link Digests.FileHasher}). Not thread-safe: one reader.
     */
    public final class PrefixReader {
        private Blake3Hasher hasher;
        private long at;

        /** The next {@code src} bytes of the file (position to limit; not consumed), in order from offset 0. */
        public void read(ByteBuffer src) {
            ByteBuffer b = src.duplicate();
            while (b.hasRemaining()) {
                int block = (int) (at / blockBytes);
                long blockStart = (long) block * blockBytes;
                long end = blockStart + blockLength(block);
                int take = (int) Math.min(b.remaining(), end - at);
                if (at == blockStart) {
                    hasher = has(block) ? null : blockHasher(block);
                }
                if (hasher != null) {
                    ByteBuffer part = b.duplicate();
                    part.limit(part.position() + take);
                    hasher.update(part);
                }
                b.position(b.position() + take);
                at += take;
                if (at == end && hasher != null) {
                    put(block, hasher.subtreeCv(), false);
                    hasher = null;
                }
            }
        }
    }

    /** A reader for the file's prefix (see {@link PrefixReader}). */
    public PrefixReader prefixReader() {
        return new PrefixReader();
    }
}
