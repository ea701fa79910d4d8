package io.flowget.udf.body;

import javax.annotation.concurrent.ThreadSafe;

import java.nio.ByteBuffer;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The working buffers of every {@link BodyPipeline} in this JVM (one TaskManager): heap buffers of {@link #SIZE}
 * bytes that a decoder (or the digest step) borrows for one call only — {@link #take} when a chunk of data
 * arrives, {@link #give} before the call returns — so that a download waiting for bytes holds no working buffer,
 * only its decoder state. Buffers lent at any moment are as many as decode calls running at once (I/O threads ×
 * coding layers), not as many as downloads in flight.
 *
 * <p>The pool keeps at most {@link #MAX_IDLE} idle buffers (its budget: {@value #MAX_IDLE} × 16 KiB = 1 MiB per
 * TaskManager); {@link #take} with none idle allocates a new one, {@link #give} with the pool full drops the buffer
 * for the GC. A buffer's contents are garbage to the next borrower; nothing is cleared but its position and limit.
 *
 * <p>Thread-safe: taken and given on HttpClient I/O reactor threads (and on whatever thread drives a pipeline in
 * tests and benchmarks). A borrower must not keep any reference to the buffer, or a view of it, after giving it
 * back.
 */
@ThreadSafe
public final class DecodeBuffers {
    /** Bytes per buffer: one decode step ({@link BodyPipeline#CHUNK_SIZE}). */
    public static final int SIZE = BodyPipeline.CHUNK_SIZE;

    /** Idle buffers kept for reuse at most. */
    public static final int MAX_IDLE = 64;

    private static final ArrayBlockingQueue<ByteBuffer> IDLE = new ArrayBlockingQueue<>(MAX_IDLE);
    private static final AtomicLong LENT = new AtomicLong();
    private static final AtomicLong ALLOCATED = new AtomicLong();

    private DecodeBuffers() {}

    /** A heap buffer of {@link #SIZE} bytes, position 0 and limit {@link #SIZE}, the caller's until {@link #give}. */
    public static ByteBuffer take() {
        ByteBuffer b = IDLE.poll();
        if (b == null) {
            b = ByteBuffer.allocate(SIZE);
            ALLOCATED.incrementAndGet();
        }
        LENT.incrementAndGet();
        return b.clear();
    }

    /** Gives back a buffer from {@link #take}; null is ignored. The caller keeps no reference to it. */
    public static void give(ByteBuffer b) {
        if (b == null) {
            return;
        }
        if (b.capacity() != SIZE || !b.hasArray() || b.isReadOnly()) {
            throw new IllegalArgumentException("not a decode buffer: " + b);
        }
        LENT.decrementAndGet();
        IDLE.offer(b); // dropped when the pool is full
    }

    /** Buffers taken and not yet given back, in this JVM. */
    public static long lent() {
        return LENT.get();
    }

    /** Idle buffers held by the pool for reuse (at most {@link #MAX_IDLE}). */
    public static int idle() {
        return IDLE.size();
    }

    /** Buffers allocated since the JVM started (a pool that keeps up allocates few). */
    public static long allocated() {
        return ALLOCATED.get();
    }
}
