package io.flowget.udf.body;

import javax.annotation.concurrent.NotThreadSafe;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.zip.CRC32;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * The inflate loop shared by the gzip and deflate decoders: feeds a buffer to an {@link Inflater} and hands the
 * output downstream one decode buffer at a time, so no more than one buffer is inflated before the size limits
 * are checked again (this is what stops a gzip bomb early). The decode buffer is borrowed from {@link
 * DecodeBuffers} for one {@link #run} only: between calls (a download waiting for bytes) this step holds no buffer,
 * only the inflater's native state. Not thread-safe: owned by one decoder.
 */
@NotThreadSafe
final class InflateStep {
    private static final byte[] NO_INPUT = new byte[0];

    private final ContentCoding coding;
    private final Inflater inflater;
    /** Most bytes inflated per step (at most {@link DecodeBuffers#SIZE}). */
    private final int step;
    private final ChunkConsumer out;

    InflateStep(ContentCoding coding, Inflater inflater, int bufferSize, ChunkConsumer out) {
        if (bufferSize <= 0) {
            throw new IllegalArgumentException("bufferSize must be > 0: " + bufferSize);
        }
        this.coding = coding;
        this.inflater = inflater;
        this.step = Math.min(bufferSize, DecodeBuffers.SIZE);
        this.out = out;
    }

    /**
     * Inflates from {@code src} until the inflater needs more input (then {@code src} is fully consumed) or the
     * deflate stream ends (then {@code src} is positioned after its last byte).
     *
     * @param crc updated with every inflated byte, or null
     * @return the number of bytes inflated
     */
    long run(ByteBuffer src, CRC32 crc) throws IOException {
        long produced = 0;
        ByteBuffer view = DecodeBuffers.take();
        byte[] buf = view.array();
        inflater.setInput(src);
        try {
            while (true) {
                int before = src.position();
                int n;
                try {
                    n = inflater.inflate(buf, 0, step);
                } catch (DataFormatException e) {
                    throw BodyException.corrupt(coding, e);
                }
                if (n > 0) {
                    if (crc != null) {
                        crc.update(buf, 0, n);
                    }
                    produced += n;
                    view.clear().limit(n);
                    out.accept(view);
                }
                if (inflater.finished()) {
                    return produced;
                }
                if (inflater.needsDictionary()) {
                    throw BodyException.corrupt(coding, "preset dictionary required");
                }
                if (n == 0) {
                    if (inflater.needsInput()) {
                        return produced;
                    }
                    if (src.position() == before) {
                        throw BodyException.corrupt(coding, "inflater made no progress");
                    }
                }
            }
        } finally {
            // Do not keep a reference to the caller's (reused) buffer.
            inflater.setInput(NO_INPUT);
            DecodeBuffers.give(view);
        }
    }
}
