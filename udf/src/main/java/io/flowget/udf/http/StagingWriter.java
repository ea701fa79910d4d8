package io.flowget.udf.http;

import org.apache.flink.annotation.Internal;

import javax.annotation.concurrent.NotThreadSafe;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Coalesced writes of one response body into its staging file. HttpClient hands a body over in pieces of one socket
 * read each (at most 8 KiB on the main client's connections, 64 KiB on large-buffer ones), and a {@code FileChannel}
 * write of such a heap piece copies it into a temporary direct buffer and makes one {@code pwrite(2)}, taking the
 * file's inode lock each time (two I/O threads writing chunks of one file contend on it). Here the pieces are copied
 * into one pooled direct buffer of {@value #BUFFER_SIZE} bytes and written with one positional write when it is full
 * or at {@link #flush}: a 256 MiB file goes to the page cache in 2,048 writes instead of ~33,000, with no temporary
 * copy (the issue 16 profile: pwrite was half of the I/O threads' CPU).
 *
 * <p>Bytes count as stored only once they are in the file ({@link #position()}): a body that fails keeps what was
 * written and drops what the buffer still held, so a chunk's recorded progress never names bytes the file lacks.
 * {@code written} is told each written range (a chunk's BLAKE3 blocks are hashed from it, on this thread).
 *
 * <p>Memory: the pool is per JVM and bounded, {@value #POOL_BUFFERS} buffers ({@value #POOL_BUFFERS} × {@value
 * #BUFFER_SIZE} bytes of direct memory at most, allocated on first use and kept); a body that finds none free
 * writes each piece straight, as before. No heap is held per body.
 *
 * <p>Owning thread: the I/O thread of one exchange (its consumer serializes calls under its own lock); {@link
 * #release} gives the buffer back exactly once. The pool itself is thread-safe.
 */
@Internal
@NotThreadSafe
public final class StagingWriter {
    /** Bytes per pooled buffer: one write(2) per this many body bytes (64 KiB and more cost about the same). */
    public static final int BUFFER_SIZE = 128 * 1024;
    /** Pooled buffers per JVM, at most. */
    public static final int POOL_BUFFERS = 32;

    private static final ConcurrentLinkedQueue<ByteBuffer> FREE = new ConcurrentLinkedQueue<>();
    private static final AtomicInteger CREATED = new AtomicInteger();

    /** Told each range that reached the file, on the writing thread; must not keep {@code bytes}. */
    @FunctionalInterface
    public interface Written {
        void wrote(long at, ByteBuffer bytes);
    }

    private final FileChannel channel;
    private final Written written;
    /** Null: no pooled buffer, every piece is written straight. */
    private ByteBuffer buffer;
    /** File offset of the buffer's first byte; everything before it is in the file. */
    private long position;

    /**
     * A writer at file offset {@code position} of {@code channel}. With {@code pooled}, it takes a buffer from the
     * pool if one is free; without, or when none is, it writes each piece straight.
     */
    public StagingWriter(FileChannel channel, long position, boolean pooled, Written written) {
        this.channel = channel;
        this.position = position;
        this.written = written;
        this.buffer = pooled ? acquire() : null;
    }

    /** Stores all remaining bytes of {@code src} (consumed; no reference kept). */
    public void write(ByteBuffer src) throws IOException {
        ByteBuffer b = buffer;
        if (b == null) {
            writeOut(src);
            return;
        }
        while (src.hasRemaining()) {
            if (b.position() == 0 && src.remaining() >= b.capacity()) {
                writeOut(src); // a piece as large as the buffer: no copy
                return;
            }
            int n = Math.min(b.remaining(), src.remaining());
            int limit = src.limit();
            src.limit(src.position() + n);
            b.put(src);
            src.limit(limit);
            if (!b.hasRemaining()) {
                flush();
            }
        }
    }

    /** Writes what the buffer holds. */
    public void flush() throws IOException {
        ByteBuffer b = buffer;
        if (b == null || b.position() == 0) {
            return;
        }
        b.flip();
        try {
            writeOut(b);
        } finally {
            b.clear();
        }
    }

    /** The file offset up to which (exclusive) this writer's bytes are in the file. */
    public long position() {
        return position;
    }

    /** True when this writer holds a pooled buffer. */
    public boolean pooled() {
        return buffer != null;
    }

    /** Gives the buffer back to the pool, dropping bytes not flushed. Idempotent. */
    public void release() {
        ByteBuffer b = buffer;
        buffer = null;
        if (b != null) {
            b.clear();
            FREE.offer(b);
        }
    }

    private void writeOut(ByteBuffer src) throws IOException {
        long at = position;
        ByteBuffer view = written != null ? src.duplicate() : null;
        while (src.hasRemaining()) {
            position += channel.write(src, position);
        }
        if (view != null) {
            written.wrote(at, view);
        }
    }

    private static ByteBuffer acquire() {
        ByteBuffer b = FREE.poll();
        if (b != null) {
            return b;
        }
        while (true) {
            int n = CREATED.get();
            if (n >= POOL_BUFFERS) {
                return FREE.poll(); // a buffer given back meanwhile, or none
            }
            if (CREATED.compareAndSet(n, n + 1)) {
                return ByteBuffer.allocateDirect(BUFFER_SIZE);
            }
        }
    }

    /** Pooled buffers allocated so far (tests: bounded by {@link #POOL_BUFFERS}). */
    static int buffersCreated() {
        return CREATED.get();
    }

    /** Pooled buffers free now (tests: every writer gave its buffer back). */
    static int buffersFree() {
        return FREE.size();
    }
}
