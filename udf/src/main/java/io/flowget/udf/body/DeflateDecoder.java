package io.flowget.udf.body;

import javax.annotation.concurrent.NotThreadSafe;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.zip.Inflater;

/**
 * Push decoder for the HTTP {@code deflate} coding. RFC 9110 defines it as the zlib format (RFC 1950), but some
 * servers send raw deflate (RFC 1951); like browsers, the first two bytes decide: a valid zlib header (method 8,
 * window at most 32 KiB, header check divisible by 31) means zlib, with its Adler-32 verified by the inflater;
 * anything else is inflated as raw deflate. Bytes after the end of the stream, or a stream that stops before its
 * final block, are {@code corrupt deflate stream}. An empty body is an empty representation. Not thread-safe.
 */
@NotThreadSafe
final class DeflateDecoder implements Decoder {
    private enum State {
        PROBE,
        BODY,
        DONE
    }

    private final ChunkConsumer out;
    private final int bufferSize;
    private final byte[] probe = new byte[2];
    private int probeLen;
    private State state = State.PROBE;
    private Inflater inflater;
    private InflateStep step;
    private boolean closed;

    DeflateDecoder(ChunkConsumer out, int bufferSize) {
        this.out = out;
        this.bufferSize = bufferSize;
    }

    /** RFC 1950 section 2.2: CM = 8, CINFO at most 7, (CMF * 256 + FLG) a multiple of 31. */
    static boolean isZlibHeader(int cmf, int flg) {
        return (cmf & 0x0F) == 8 && (cmf >>> 4) <= 7 && ((cmf << 8) | flg) % 31 == 0;
    }

    @Override
    public void accept(ByteBuffer in) throws IOException {
        while (in.hasRemaining()) {
            switch (state) {
                case PROBE:
                    probe[probeLen++] = in.get();
                    if (probeLen == probe.length) {
                        boolean zlib = isZlibHeader(probe[0] & 0xFF, probe[1] & 0xFF);
                        inflater = new Inflater(!zlib);
                        step = new InflateStep(ContentCoding.DEFLATE, inflater, bufferSize, out);
                        state = State.BODY;
                        inflate(ByteBuffer.wrap(probe));
                    }
                    break;
                case BODY:
                    inflate(in);
                    break;
                case DONE:
                    throw BodyException.corrupt(ContentCoding.DEFLATE, "data after end of stream");
                default:
                    throw new IllegalStateException("unknown state " + state);
            }
        }
    }

    private void inflate(ByteBuffer src) throws IOException {
        step.run(src, null);
        if (inflater.finished()) {
            state = State.DONE;
            if (src.hasRemaining()) {
                throw BodyException.corrupt(ContentCoding.DEFLATE, "data after end of stream");
            }
        }
    }

    @Override
    public void finish() throws IOException {
        if (probeLen > 0 && state != State.DONE) {
            throw BodyException.corrupt(ContentCoding.DEFLATE, "truncated");
        }
    }

    @Override
    public int heapBytes() {
        return probe.length; // the decode buffer is borrowed per call (DecodeBuffers)
    }

    @Override
    public int directBytes() {
        return 0;
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            if (inflater != null) {
                inflater.end();
            }
        }
    }
}
