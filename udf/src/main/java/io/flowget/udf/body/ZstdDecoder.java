package io.flowget.udf.body;

import com.github.luben.zstd.ZstdDecompressCtx;
import com.github.luben.zstd.ZstdException;

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
final class ZstdDecoder implements Decoder {
    /** log2 of the largest window accepted: 8 MiB (RFC 9659). */
    static final int WINDOW_LOG_MAX = 23;

    private final ChunkConsumer out;
    private final ZstdDecompressCtx ctx;
    private final ByteBuffer buf;
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
        if (in.hasRemaining()) {
            sawInput = true;
        }
        boolean outputFull = false;
        // A full decode buffer may mean zstd holds more output: call again even without new input.
        while (in.hasRemaining() || outputFull) {
            buf.clear();
            int before = in.position();
            boolean complete;
            try {
                complete = ctx.decompressByteBufferStream(buf, in);
            } catch (ZstdException e) {
                throw BodyException.corrupt(ContentCoding.ZSTD, e);
            }
            int produced = buf.position();
            // Only a call that moved bytes says where the stream stands: the extra call after a frame ended exactly
            // at a full buffer finds nothing and reports "inside the next frame", which must not count as truncated.
            if (produced > 0 || in.position() != before) {
                frameComplete = complete;
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
        return buf.capacity();
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
