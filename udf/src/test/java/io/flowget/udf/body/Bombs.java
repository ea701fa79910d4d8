package io.flowget.udf.body;

import java.io.ByteArrayOutputStream;
import java.util.zip.CRC32;
import java.util.zip.Deflater;

/**
 * Decompression bombs built without ever holding the decoded size in memory: 1 MiB of zeros is deflated once,
 * with a full flush so that the segment is byte-aligned, non-final and references nothing before itself; the
 * segment repeated n times is then a valid deflate stream of n MiB of zeros, closed by an empty final block.
 */
final class Bombs {
    static final int SEGMENT = 1 << 20;

    private Bombs() {}

    /** A single-member gzip file that inflates to {@code mebibytes} MiB of zeros. */
    static byte[] gzipZeros(int mebibytes) {
        byte[] zeros = new byte[SEGMENT];
        byte[] segment = fullFlushedSegment(zeros);
        ByteArrayOutputStream out = new ByteArrayOutputStream(segment.length * mebibytes + 64);
        out.writeBytes(new byte[] {0x1F, (byte) 0x8B, 8, 0, 0, 0, 0, 0, 0, (byte) 0xFF});
        CRC32 crc = new CRC32();
        for (int i = 0; i < mebibytes; i++) {
            out.writeBytes(segment);
            crc.update(zeros);
        }
        // Empty final block with fixed Huffman codes: BFINAL=1, BTYPE=01, end-of-block.
        out.writeBytes(new byte[] {0x03, 0x00});
        BodyPipelineCodingTest.writeLe32(out, crc.getValue());
        BodyPipelineCodingTest.writeLe32(out, (long) mebibytes * SEGMENT);
        return out.toByteArray();
    }

    private static byte[] fullFlushedSegment(byte[] zeros) {
        Deflater deflater = new Deflater(Deflater.BEST_COMPRESSION, true);
        try {
            deflater.setInput(zeros);
            ByteArrayOutputStream segment = new ByteArrayOutputStream();
            byte[] buf = new byte[64 * 1024];
            int n;
            do {
                n = deflater.deflate(buf, 0, buf.length, Deflater.FULL_FLUSH);
                segment.write(buf, 0, n);
            } while (n == buf.length || !deflater.needsInput());
            return segment.toByteArray();
        } finally {
            deflater.end();
        }
    }
}
