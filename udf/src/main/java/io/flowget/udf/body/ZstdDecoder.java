package io.flowget.udf.body;

import com.github.luben.zstd.ZstdDecompressCtx;
import com.github.luben.zstd.ZstdException;

import javax.annotation.concurrent.NotThreadSafe;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Push decoder for the {@code zstd} coding (RFC 8878, RFC 9659) on zstd-jni's streaming context: each call
 * decompresses into one reused decode buffer and hands it downstream before decompressing more, so output is
 * produced in bounded steps whatever the input. Concatenated frames (and skippable frames) are accepted; a body
 * that ends inside a frame is {@code corrupt zstd stream}, as is anything zstd rejects. The window is capped at
 * 8 MiB as RFC 9659 section 3 asks of HTTP decoders, which also caps the native memory of one transfer; a frame
 * that needs more fails as corrupt with the reason in the cause. An empty body is an empty representation.
 * Not thread-safe.
 */
@NotThreadSafe
final class ZstdDecoder implements Decoder {
    /** log2 of the largest window accepted: 8 MiB (RFC 9659). */
    static final int WINDOW_LOG_MAX = 23;

    /** Size of the copy buffer for read-only heap input, allocated only when such input arrives. */
    static final int STAGE_SIZE = 8 * 1024;

    private final ChunkConsumer out;
    private final ZstdDecompressCtx ctx;
    private final ByteBuffer buf;
    private ByteBuffer stage;
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
        this.buf = ByteBuffer.allocate(bufferSize);
    }

    @Override
    public void accept(ByteBuffer in) throws IOException {
        if (!in.hasRemaining()) {
            return;
        }
        sawInput = true;
        if (in.isDirect() || in.hasArray()) {
            decode(in);
            return;
        }
        // zstd-jni reads only direct or array-backed buffers; a read-only heap buffer (an HTTP/2 frame payload
        // view, for instance) is staged through a small array.
        if (stage == null) {
            stage = ByteBuffer.allocate(STAGE_SIZE);
        }
        while (in.hasRemaining()) {
            int n = Math.min(in.remaining(), stage.capacity());
            stage.clear();
            in.get(stage.array(), 0, n);
            stage.limit(n);
            decode(stage);
        }
    }

    private void decode(ByteBuffer in) throws IOException {
        boolean outputFull = false;
        // A full decode buffer may mean zstd holds more output: call again even without new input.
        while (in.hasRemaining() || outputFull) {
            buf.clear();
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
            outputFull = produced == buf.capacity();
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
        return buf.capacity() + (stage == null ? 0 : stage.capacity());
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
