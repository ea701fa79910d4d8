package io.flowget.udf.body;

import com.aayushatharva.brotli4j.Brotli4jLoader;
import com.aayushatharva.brotli4j.decoder.DecoderJNI;

import javax.annotation.concurrent.NotThreadSafe;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Push decoder for the {@code br} coding (RFC 7932) on Brotli4j's JNI wrapper. Coded bytes are copied into the
 * wrapper's native input buffer in steps of at most its size; decoded bytes are pulled as soon as there are any
 * and handed downstream in slices of at most one decode buffer, straight from native memory (no heap copy). The
 * native ring buffer is the brotli window (at most 16 MiB, usually 4 MiB), so one push decodes at most that much
 * before the size limits see it. Trailing bytes after the stream end and a stream that stops early are
 * {@code corrupt br stream}. An empty body is an empty representation. Not thread-safe.
 */
@NotThreadSafe
final class BrotliDecoder implements Decoder {
    private final ChunkConsumer out;
    private final int sliceSize;
    private final int inputSize;
    private final DecoderJNI.Wrapper wrapper;
    private boolean sawInput;
    private boolean closed;

    BrotliDecoder(ChunkConsumer out, int bufferSize) throws IOException {
        Brotli4jLoader.ensureAvailability();
        this.out = out;
        this.sliceSize = bufferSize;
        this.inputSize = bufferSize;
        this.wrapper = new DecoderJNI.Wrapper(inputSize);
    }

    @Override
    public void accept(ByteBuffer in) throws IOException {
        while (in.hasRemaining()) {
            sawInput = true;
            DecoderJNI.Status status = wrapper.getStatus();
            if (status == DecoderJNI.Status.DONE) {
                throw BodyException.corrupt(ContentCoding.BR, "data after end of stream");
            }
            if (status != DecoderJNI.Status.NEEDS_MORE_INPUT) {
                throw BodyException.corrupt(ContentCoding.BR, "decoder in state " + status);
            }
            ByteBuffer input = wrapper.getInputBuffer();
            input.clear();
            int n = Math.min(in.remaining(), input.remaining());
            ByteBuffer slice = in.duplicate();
            slice.limit(slice.position() + n);
            input.put(slice);
            in.position(in.position() + n);
            wrapper.push(n);
            drain();
        }
    }

    /** Runs the decoder until it needs more input or is done, handing all output downstream. */
    private void drain() throws IOException {
        // After a pull the native wrapper reports NEEDS_MORE_INPUT whenever the last input was consumed, even
        // if decoding had only paused for ring-buffer space; an empty push lets it continue (as Brotli4j's own
        // Decoders.decompress does), and only a second NEEDS_MORE_INPUT means the input is really exhausted.
        boolean pulledSinceLastPush = false;
        while (true) {
            switch (wrapper.getStatus()) {
                case NEEDS_MORE_OUTPUT:
                    emit(wrapper.pull());
                    pulledSinceLastPush = true;
                    break;
                case OK:
                    wrapper.push(0);
                    pulledSinceLastPush = false;
                    break;
                case NEEDS_MORE_INPUT:
                    if (wrapper.hasOutput()) {
                        emit(wrapper.pull());
                        pulledSinceLastPush = true;
                    } else if (pulledSinceLastPush) {
                        wrapper.push(0);
                        pulledSinceLastPush = false;
                    } else {
                        return;
                    }
                    break;
                case DONE:
                    if (!wrapper.hasOutput()) {
                        return;
                    }
                    emit(wrapper.pull());
                    break;
                case ERROR:
                default:
                    throw BodyException.corrupt(ContentCoding.BR, "invalid stream");
            }
        }
    }

    private void emit(ByteBuffer decoded) throws IOException {
        int end = decoded.limit();
        while (decoded.position() < end) {
            decoded.limit(Math.min(end, decoded.position() + sliceSize));
            out.accept(decoded);
        }
    }

    @Override
    public void finish() throws IOException {
        if (sawInput && wrapper.getStatus() != DecoderJNI.Status.DONE) {
            throw BodyException.corrupt(ContentCoding.BR, "truncated");
        }
    }

    @Override
    public int heapBytes() {
        return 0;
    }

    @Override
    public int directBytes() {
        return inputSize;
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            wrapper.destroy();
        }
    }
}
