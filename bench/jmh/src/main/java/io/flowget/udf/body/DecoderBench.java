package io.flowget.udf.body;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Bridge for the benchmarks to the package-private decoders, so that decoding alone can be measured next to
 * the CLIs (which do not hash). Lives in the benchmark module, in the body package; not part of flowget.
 */
public final class DecoderBench {
    private DecoderBench() {}

    /**
     * Decodes {@code coded} with the decoder for {@code coding}, fed in slices of {@code slice} bytes, and drops
     * the output.
     *
     * @return the number of decoded bytes
     */
    public static long decodeAll(String coding, byte[] coded, int slice) throws IOException {
        long[] count = {0};
        ChunkConsumer counter =
                chunk -> {
                    count[0] += chunk.remaining();
                    chunk.position(chunk.limit());
                };
        ContentCoding parsed = ContentCoding.parse(coding).get(0);
        Decoder decoder;
        switch (parsed) {
            case GZIP:
                decoder = new GzipDecoder(counter, BodyPipeline.CHUNK_SIZE);
                break;
            case DEFLATE:
                decoder = new DeflateDecoder(counter, BodyPipeline.CHUNK_SIZE);
                break;
            case ZSTD:
                decoder = new ZstdDecoder(counter, BodyPipeline.CHUNK_SIZE);
                break;
            case BR:
                decoder = new BrotliDecoder(counter, BodyPipeline.CHUNK_SIZE);
                break;
            default:
                throw new IllegalArgumentException(coding);
        }
        try {
            ByteBuffer view = ByteBuffer.wrap(coded);
            for (int off = 0; off < coded.length; off += slice) {
                view.limit(Math.min(coded.length, off + slice)).position(off);
                decoder.accept(view);
            }
            decoder.finish();
        } finally {
            decoder.close();
        }
        return count[0];
    }
}
