package io.flowget.udf.body;

import com.github.luben.zstd.ZstdDecompressCtx;
import com.github.luben.zstd.ZstdException;

import javax.annotation.concurrent.NotThreadSafe;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Push decoder for the {@code zstd} coding (RFC 8878, RFC 9659) on zstd-jni's streaming context: each call
 * decompresses into one decode buffer (borrowed from {@link DecodeBuffers} for the call) and hands it downstream
 * before decompressing more, so output is produced in bounded steps whatever the input. Concatenated frames (and skippable frames) are accepted; a body
 * that ends inside a frame is {@code corrupt zstd stream}, as is anything zstd rejects. The window is capped at
 * 8 MiB as RFC 9659 section 3 asks of HTTP decoders, which also caps the native memory of one transfer; a frame
 * that needs more fails as corrupt with the reason in the cause. An empty body is an empty representation.
 * Not thread-safe.
 */
@NotThreadSafe
final class ZstdDecoder implements Decoder {
    /** log2 of the largest window accepted: 8 MiB (RFC 9659). */
    static final int WINDOW_LOG_MAX = 23;

    private final ChunkConsumer out;
    private final ZstdDecompressCtx ctx;
    /** Most bytes decompressed per step (at most {@link DecodeBuffers#SIZE}). */
    private final int step;
    private boolean sawInput;
    private boolean frameComplete = true;
    private boolean closed;

    ZstdDecoder(ChunkConsumer out, int bufferSize) {
        this.out = out;
        this.ctx = new ZstdDecompressCtx();
        try {
            ctx.setLongMax(WINDOW_LOG_MAX);
        } catch (RuntimeException e) {
            ctx.close();
            throw e;
        }
        this.step = Math.min(bufferSize, DecodeBuffers.SIZE);
    }

    @Override
    public void accept(ByteBuffer in) throws IOException {
        if (!in.hasRemaining()) {
            return;
        }
        sawInput = true;
        // Both buffers are borrowed for this call only: a download waiting for bytes holds none.
        ByteBuffer buf = DecodeBuffers.take();
        ByteBuffer stage = null;
        try {
            if (in.isDirect() || in.hasArray()) {
                decode(in, buf);
                return;
            }
            // zstd-jni reads only direct or array-backed buffers; a read-only heap buffer (an HTTP/2 frame
            // payload view, for instance) is staged through a second borrowed array.
            stage = DecodeBuffers.take();
            while (in.hasRemaining()) {
                int n = Math.min(in.remaining(), stage.capacity());
                stage.clear();
                in.get(stage.array(), 0, n);
                stage.limit(n);
                decode(stage, buf);
            }
        } finally {
            DecodeBuffers.give(stage);
            DecodeBuffers.give(buf);
        }
    }

    private void decode(ByteBuffer in, ByteBuffer buf) throws IOException {
        boolean outputFull = false;
        // A full decode buffer may mean zstd holds more output: call again even without new input.
        while (in.hasRemaining() || outputFull) {
            buf.clear().limit(step);
            int before = in.position();
            boolean flushedFrameEnd;
            try {
                flushedFrameEnd = ctx.decompressByteBufferStream(buf, in);
            } catch (ZstdException e) {
                throw BodyException.corrupt(ContentCoding.ZSTD, e);
            }
            int produced = buf.position();
            // A call that neither consumed nor produced says nothing about the frame: after a frame ended
            // exactly on a full buffer, the extra call reports the next frame's header as pending.
            if (produced > 0 || in.position() != before) {
                frameComplete = flushedFrameEnd;
            }
            outputFull = produced == step;
            if (produced > 0) {
                buf.flip();
                out.accept(buf);
            } else if (in.position() == before && in.hasRemaining()) {
                throw BodyException.corrupt(ContentCoding.ZSTD, "decoder made no progress");
            }
        }
    }

    @Override
    public void finish() throws IOException {
        if (sawInput && !frameComplete) {
            throw BodyException.corrupt(ContentCoding.ZSTD, "truncated inside a frame");
        }
    }

    @Override
    public int heapBytes() {
        return 0; // decode and staging buffers are borrowed per call (DecodeBuffers)
    }

    @Override
    public int directBytes() {
        return 0;
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            ctx.close();
        }
    }
}
