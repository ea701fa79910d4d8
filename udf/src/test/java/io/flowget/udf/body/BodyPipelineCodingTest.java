package io.flowget.udf.body;

import static org.assertj.core.api.Assertions.assertThat;

import org.apache.commons.codec.digest.Blake3;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.stream.Stream;
import java.util.zip.CRC32;
import java.util.zip.Deflater;

/** Every supported coding decodes to the exact bytes, whatever the slicing of the input. */
class BodyPipelineCodingTest {
    private static final int PLAIN_SIZE = 1_500_007;
    private static byte[] plain;
    private static String plainSha256;
    private static String plainBlake3;

    @BeforeAll
    static void data() throws Exception {
        plain = LogText.bytes(42, PLAIN_SIZE);
        plainSha256 = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(plain));
        plainBlake3 = HexFormat.of().formatHex(Blake3.hash(plain));
    }

    static Stream<Arguments> codings() {
        // header value, encoders in header order, expected decodedCoding()
        return Stream.of(
                Arguments.of("gzip", new String[] {"gzip"}, "gzip"),
                Arguments.of("x-gzip", new String[] {"gzip"}, "gzip"),
                Arguments.of("deflate", new String[] {"deflate"}, "deflate"),
                Arguments.of("deflate", new String[] {"raw-deflate"}, "deflate"),
                Arguments.of("zstd", new String[] {"zstd"}, "zstd"),
                Arguments.of("br", new String[] {"br"}, "br"),
                Arguments.of("gzip, br", new String[] {"gzip", "br"}, "gzip, br"),
                Arguments.of("deflate,zstd", new String[] {"raw-deflate", "zstd"}, "deflate, zstd"),
                Arguments.of("GZIP, identity", new String[] {"gzip"}, "gzip"),
                Arguments.of("identity", new String[] {}, null),
                Arguments.of(null, new String[] {}, null));
    }

    @ParameterizedTest(name = "[{index}] {0} via {1}")
    @MethodSource("codings")
    void decodesExactBytesInRandomSlices(String header, String[] encoders, String expectedCoding)
            throws Exception {
        byte[] coded = Codecs.encode(plain, encoders);
        for (long seed = 1; seed <= 3; seed++) {
            Feed.MemorySink sink = new Feed.MemorySink();
            try (BodyPipeline pipeline =
                    BodyPipeline.builder(sink).contentEncoding(header).blake3(true).maxRatio(1000).build()) {
                Feed.anyKind(seed).feed(pipeline, coded);
                pipeline.finish();

                assertThat(sink.toByteArray()).isEqualTo(plain);
                assertThat(pipeline.decodedBytes()).isEqualTo(PLAIN_SIZE);
                assertThat(pipeline.encodedBytes()).isEqualTo(coded.length);
                assertThat(pipeline.sha256Hex()).isEqualTo(plainSha256);
                assertThat(pipeline.blake3Hex()).isEqualTo(plainBlake3);
                assertThat(pipeline.decodedCoding()).isEqualTo(expectedCoding);
                assertThat(pipeline.retainedHeapBytes()).isLessThanOrEqualTo(2L * 16 * 1024 + 8 * 1024 + 64);
            }
        }
    }

    /**
     * Sizes on the decoders' internal boundaries: one decode buffer, exactly filled buffers at the end of a
     * frame (zstd then reports the next frame as pending), and more than brotli's 4 MiB ring buffer (the native
     * wrapper then pauses for output space and must be resumed).
     */
    @ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"gzip", "deflate", "raw-deflate", "zstd", "br"})
    void decodesSizesOnBufferBoundaries(String encoder) throws Exception {
        String header = encoder.equals("raw-deflate") ? "deflate" : encoder;
        int chunk = BodyPipeline.CHUNK_SIZE;
        int[] sizes = {1, chunk - 1, chunk, chunk + 1, 4 << 20, (9 << 20) + 7};
        for (int size : sizes) {
            byte[] data = LogText.bytes(size, size);
            byte[] coded = Codecs.encode(data, encoder);
            Feed.MemorySink sink = new Feed.MemorySink();
            try (BodyPipeline pipeline = BodyPipeline.builder(sink).contentEncoding(header).build()) {
                Feed.anyKind(size).feed(pipeline, coded);
                pipeline.finish();
                assertThat(sink.toByteArray()).as("%s of %d bytes", encoder, size).isEqualTo(data);
            }
        }
    }

    @Test
    void decodesWholeBufferInOneCall() throws Exception {
        for (String coding : new String[] {"gzip", "deflate", "zstd", "br"}) {
            byte[] coded = Codecs.encode(plain, coding);
            Feed.MemorySink sink = new Feed.MemorySink();
            try (BodyPipeline pipeline = BodyPipeline.builder(sink).contentEncoding(coding).build()) {
                pipeline.accept(ByteBuffer.wrap(coded));
                pipeline.finish();
                assertThat(sink.toByteArray()).as(coding).isEqualTo(plain);
                assertThat(pipeline.blake3Hex()).isNull();
            }
        }
    }

    @Test
    void decodedSizesThatFillTheLastDecodeBufferExactly() throws Exception {
        // The decoder's last step then ends on a full buffer: it must still see the end of the coded stream.
        for (int size : new int[] {BodyPipeline.CHUNK_SIZE, 4 * BodyPipeline.CHUNK_SIZE, 1 << 20}) {
            byte[] exact = java.util.Arrays.copyOf(plain, size);
            for (String coding : new String[] {"gzip", "deflate", "zstd", "br"}) {
                byte[] coded = Codecs.encode(exact, coding);
                Feed.MemorySink sink = new Feed.MemorySink();
                try (BodyPipeline pipeline = BodyPipeline.builder(sink).contentEncoding(coding).build()) {
                    pipeline.accept(ByteBuffer.wrap(coded));
                    pipeline.finish();
                    assertThat(sink.toByteArray()).as("%s of %s bytes", coding, size).isEqualTo(exact);
                }
            }
        }
    }

    @Test
    void gzipMultiMemberIncludingEmptyMember() throws Exception {
        byte[] first = Codecs.gzip(java.util.Arrays.copyOfRange(plain, 0, 100_000));
        byte[] empty = Codecs.gzip(new byte[0]);
        byte[] second = Codecs.gzip(java.util.Arrays.copyOfRange(plain, 100_000, plain.length));
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        all.write(first);
        all.write(empty);
        all.write(second);

        Feed.MemorySink sink = new Feed.MemorySink();
        try (BodyPipeline pipeline = BodyPipeline.builder(sink).contentEncoding("gzip").build()) {
            new Feed(7, false).feed(pipeline, all.toByteArray());
            pipeline.finish();
            assertThat(sink.toByteArray()).isEqualTo(plain);
            assertThat(pipeline.sha256Hex()).isEqualTo(plainSha256);
        }
    }

    @Test
    void gzipHeaderWithExtraNameCommentAndHeaderCrc() throws Exception {
        byte[] member = gzipWithAllHeaderFields(plain, true);
        for (long seed = 1; seed <= 4; seed++) {
            Feed.MemorySink sink = new Feed.MemorySink();
            try (BodyPipeline pipeline = BodyPipeline.builder(sink).contentEncoding("gzip").build()) {
                new Feed(seed, false).feed(pipeline, member);
                pipeline.finish();
                assertThat(sink.toByteArray()).isEqualTo(plain);
            }
        }
    }

    @Test
    void emptyBodyIsEmptyRepresentationForEveryCoding() throws Exception {
        String emptySha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest());
        for (String coding : new String[] {"gzip", "deflate", "zstd", "br", "gzip, br"}) {
            try (BodyPipeline pipeline =
                    BodyPipeline.builder(new Feed.MemorySink()).contentEncoding(coding).build()) {
                pipeline.finish();
                assertThat(pipeline.decodedBytes()).isZero();
                assertThat(pipeline.sha256Hex()).as(coding).isEqualTo(emptySha);
            }
        }
    }

    @Test
    void encodedEmptyContentDecodesToNothing() throws Exception {
        for (String coding : new String[] {"gzip", "deflate", "raw-deflate", "zstd", "br"}) {
            byte[] coded = Codecs.encode(new byte[0], coding);
            String header = coding.equals("raw-deflate") ? "deflate" : coding;
            try (BodyPipeline pipeline =
                    BodyPipeline.builder(new Feed.MemorySink()).contentEncoding(header).build()) {
                new Feed(3, false).feed(pipeline, coded);
                pipeline.finish();
                assertThat(pipeline.decodedBytes()).as(coding).isZero();
            }
        }
    }

    @Test
    void rawDeflateNeverLooksLikeZlib() {
        // A raw stream's first byte has BTYPE in bits 1-2; CM=8 would need BTYPE=00 (stored), whose first byte is
        // 0 or 1, so the probe cannot mistake raw deflate for zlib. Check it over all first bytes.
        for (int b0 = 0; b0 < 256; b0++) {
            int btype = (b0 >>> 1) & 3;
            boolean possibleRawStart = btype == 1 || btype == 2 || (btype == 0 && (b0 >>> 3) == 0);
            for (int b1 = 0; b1 < 256 && possibleRawStart; b1++) {
                assertThat(DeflateDecoder.isZlibHeader(b0, b1)).as("%02x %02x", b0, b1).isFalse();
            }
        }
        assertThat(DeflateDecoder.isZlibHeader(0x78, 0x9C)).isTrue();
        assertThat(DeflateDecoder.isZlibHeader(0x78, 0x01)).isTrue();
        assertThat(DeflateDecoder.isZlibHeader(0x78, 0xDA)).isTrue();
    }

    /** One gzip member with FTEXT, FEXTRA, FNAME, FCOMMENT and (optionally correct) FHCRC. */
    static byte[] gzipWithAllHeaderFields(byte[] data, boolean correctHeaderCrc) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(new byte[] {0x1F, (byte) 0x8B, 8, 0x1F, 1, 2, 3, 4, 0, 3});
        out.writeBytes(new byte[] {5, 0, 'A', 'B', 2, 0, 'x'});
        out.writeBytes("name.log\0".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
        out.writeBytes("a comment\0".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
        CRC32 headerCrc = new CRC32();
        headerCrc.update(out.toByteArray());
        int hcrc = (int) headerCrc.getValue() & 0xFFFF;
        if (!correctHeaderCrc) {
            hcrc ^= 1;
        }
        out.write(hcrc & 0xFF);
        out.write(hcrc >>> 8);
        Deflater deflater = new Deflater(6, true);
        deflater.setInput(data);
        deflater.finish();
        byte[] buf = new byte[64 * 1024];
        while (!deflater.finished()) {
            int n = deflater.deflate(buf);
            out.write(buf, 0, n);
        }
        deflater.end();
        CRC32 crc = new CRC32();
        crc.update(data);
        writeLe32(out, crc.getValue());
        writeLe32(out, data.length);
        return out.toByteArray();
    }

    static void writeLe32(ByteArrayOutputStream out, long v) {
        for (int i = 0; i < 4; i++) {
            out.write((int) (v >>> (8 * i)) & 0xFF);
        }
    }
}
