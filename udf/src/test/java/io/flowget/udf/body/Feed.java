package io.flowget.udf.body;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Random;

/**
 * Drives a {@link BodyPipeline} the way the HTTP response consumer does: random-sized slices through one reused
 * buffer, which is scribbled over after every call so that a decoder keeping a reference to it would fail.
 */
final class Feed {
    static final int MAX_SLICE = 64 * 1024;

    private final Random random;
    private final ByteBuffer buffer;
    private final boolean readOnly;

    Feed(long seed, boolean direct) {
        this(seed, direct, false);
    }

    private Feed(long seed, boolean direct, boolean readOnly) {
        this.random = new Random(seed);
        this.buffer = direct ? ByteBuffer.allocateDirect(MAX_SLICE) : ByteBuffer.allocate(MAX_SLICE);
        this.readOnly = readOnly;
    }

    /** Heap, direct or read-only heap buffers (HTTP/2 frame payloads can be read-only views), by seed. */
    static Feed anyKind(long seed) {
        int kind = (int) Math.floorMod(seed, 3L);
        return new Feed(seed, kind == 1, kind == 2);
    }

    /** 1 byte to 64 KiB, a third each tiny, small and large so that every header split gets exercised. */
    int nextSlice() {
        switch (random.nextInt(3)) {
            case 0:
                return 1 + random.nextInt(16);
            case 1:
                return 1 + random.nextInt(1024);
            default:
                return 1 + random.nextInt(MAX_SLICE);
        }
    }

    /** Feeds all of {@code data[off, off+len)}. */
    void feed(BodyPipeline pipeline, byte[] data, int off, int len) throws IOException {
        int end = off + len;
        int pos = off;
        while (pos < end) {
            int n = Math.min(nextSlice(), end - pos);
            buffer.clear();
            buffer.put(data, pos, n).flip();
            ByteBuffer given = readOnly ? buffer.asReadOnlyBuffer() : buffer;
            pipeline.accept(given);
            if (given.hasRemaining()) {
                throw new AssertionError("accept left " + given.remaining() + " bytes");
            }
            scribble();
            pos += n;
        }
    }

    void feed(BodyPipeline pipeline, byte[] data) throws IOException {
        feed(pipeline, data, 0, data.length);
    }

    /**
     * An output stream whose bytes are fed to {@code pipeline} as they are written, so an encoder can produce a
     * coded body on the fly and nothing of body size exists.
     */
    OutputStream wire(BodyPipeline pipeline) {
        return new OutputStream() {
            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                feed(pipeline, b, off, len);
            }

            @Override
            public void write(int b) throws IOException {
                write(new byte[] {(byte) b}, 0, 1);
            }
        };
    }

    private void scribble() {
        buffer.clear();
        if (buffer.hasArray()) {
            Arrays.fill(buffer.array(), (byte) 0x5A);
        } else {
            while (buffer.hasRemaining()) {
                buffer.put((byte) 0x5A);
            }
        }
    }

    /** Keeps everything written, for exact comparisons. */
    static final class MemorySink implements ByteSink {
        final ByteArrayOutputStream bytes = new ByteArrayOutputStream();

        @Override
        public void write(ByteBuffer decoded) {
            byte[] copy = new byte[decoded.remaining()];
            decoded.get(copy);
            bytes.write(copy, 0, copy.length);
        }

        byte[] toByteArray() {
            return bytes.toByteArray();
        }
    }

    /** Counts what is written and drops it. */
    static final class CountingSink implements ByteSink {
        long bytes;

        @Override
        public void write(ByteBuffer decoded) {
            bytes += decoded.remaining();
            decoded.position(decoded.limit());
        }
    }
}
