package io.flowget.udf.body;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The pool of decode buffers: buffers come back after every call, successful or failed, so a download between two
 * calls holds none; the pool keeps at most {@link DecodeBuffers#MAX_IDLE} idle ones.
 */
class DecodeBuffersTest {

    @Test
    void aBufferGivenBackIsReusedClearedAndTheIdleOnesAreBounded() {
        ByteBuffer a = DecodeBuffers.take();
        assertThat(a.capacity()).isEqualTo(DecodeBuffers.SIZE);
        assertThat(a.hasArray()).isTrue();
        a.position(100).limit(200);
        DecodeBuffers.give(a);
        // another thread may take it meanwhile; when idle, the same buffer comes back, cleared
        ByteBuffer b = DecodeBuffers.take();
        assertThat(b.position()).isZero();
        assertThat(b.limit()).isEqualTo(DecodeBuffers.SIZE);
        DecodeBuffers.give(b);

        List<ByteBuffer> many = new ArrayList<>();
        for (int i = 0; i < 3 * DecodeBuffers.MAX_IDLE; i++) {
            many.add(DecodeBuffers.take());
        }
        many.forEach(DecodeBuffers::give);
        assertThat(DecodeBuffers.idle()).isLessThanOrEqualTo(DecodeBuffers.MAX_IDLE);
        DecodeBuffers.give(null); // ignored
        assertThatThrownBy(() -> DecodeBuffers.give(ByteBuffer.allocate(100)))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @ParameterizedTest
    @ValueSource(strings = {"identity", "gzip", "deflate", "zstd", "br", "gzip, br", "zstd, gzip"})
    void everyCallGivesItsBuffersBackWhetherItSucceedsOrFails(String coding) throws IOException {
        byte[] plain = LogText.bytes(5, 300_000);
        byte[] coded = Codecs.encode(plain, coding.split(","));
        long lent = DecodeBuffers.lent();

        // Succeeds: direct, heap and read-only heap slices (each takes another path through the decoders)
        for (int kind = 0; kind < 3; kind++) {
            try (BodyPipeline p = BodyPipeline.builder(ByteSink.discard()).contentEncoding(coding).build()) {
                for (int off = 0; off < coded.length; off += 7_000) {
                    int n = Math.min(7_000, coded.length - off);
                    ByteBuffer slice =
                            kind == 0
                                    ? ByteBuffer.allocateDirect(n).put(coded, off, n).flip()
                                    : kind == 1
                                            ? ByteBuffer.wrap(coded, off, n)
                                            : ByteBuffer.wrap(coded, off, n).asReadOnlyBuffer();
                    p.accept(slice);
                    assertThat(DecodeBuffers.lent()).as("lent between calls (%s)", coding).isEqualTo(lent);
                }
                p.finish();
                assertThat(p.decodedBytes()).isEqualTo(plain.length);
            }
        }

        // Fails in the sink (disk full) halfway through
        try (BodyPipeline p =
                BodyPipeline.builder(
                                b -> {
                                    throw new IOException("No space left on device");
                                })
                        .contentEncoding(coding)
                        .build()) {
            assertThatThrownBy(() -> p.accept(ByteBuffer.wrap(coded))).hasMessage("No space left on device");
        }
        assertThat(DecodeBuffers.lent()).isEqualTo(lent);

        // Fails on corrupt input: the coded body with its second half damaged
        if (!coding.equals("identity")) {
            byte[] bad = coded.clone();
            Arrays.fill(bad, bad.length / 2, bad.length, (byte) 0x5A);
            try (BodyPipeline p = BodyPipeline.builder(ByteSink.discard()).contentEncoding(coding).build()) {
                assertThatThrownBy(
                                () -> {
                                    p.accept(ByteBuffer.wrap(bad));
                                    p.finish();
                                })
                        .isInstanceOf(BodyException.class);
            }
            assertThat(DecodeBuffers.lent()).isEqualTo(lent);
        }
    }
}
