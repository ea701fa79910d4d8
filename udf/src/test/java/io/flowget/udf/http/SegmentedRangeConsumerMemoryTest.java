package io.flowget.udf.http;

import io.flowget.udf.body.Encryptors;
import io.flowget.udf.crypto.DecryptScheme;
import io.flowget.udf.crypto.Decryption;
import io.flowget.udf.crypto.KeyProvider;
import io.flowget.udf.crypto.SegmentGeometry;
import io.flowget.udf.storage.SafeFiles;
import io.flowget.udf.testing.Heap;
import io.flowget.udf.testing.TestOrigin;

import org.apache.hc.core5.concurrent.FutureCallback;
import org.apache.hc.core5.http.ContentType;
import org.apache.hc.core5.http.impl.BasicEntityDetails;
import org.apache.hc.core5.http.message.BasicHttpResponse;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Heap per in-flight Range chunk of a Tink-segmented object, measured as the body pipeline's memory tests do: many
 * {@link SegmentedRangeConsumer}s held in the middle of a segment (every buffer allocated, Tink's segment
 * decrypter initialised), heap after full GCs divided by their number. A chunk holds one ciphertext and one
 * plaintext segment plus Tink's cipher state, whatever the chunk's size. Heap, not time, is asserted.
 */
class SegmentedRangeConsumerMemoryTest {
    private static final Logger LOG = LoggerFactory.getLogger(SegmentedRangeConsumerMemoryTest.class);
    private static final byte[] KEY = Encryptors.key(9);
    private static final KeyProvider KEYS = Encryptors.keys(Map.of("k", KEY));

    @TempDir Path tmp;

    @ParameterizedTest(name = "{0}")
    @CsvSource({"tink-aes256-gcm-hkdf-4kb, 300, 16", "tink-aes256-gcm-hkdf-1mb, 20, 2200"})
    void heapPerInFlightChunkIsTwoSegments(String token, int count, int boundKib) throws Exception {
        DecryptScheme scheme = DecryptScheme.forToken(token);
        int s = scheme.ciphertextSegmentSize();
        byte[] cipher = Encryptors.tink(scheme, KEY, TestOrigin.content("mem", 4 * s));
        byte[] header = Arrays.copyOf(cipher, SegmentGeometry.HEADER_BYTES);
        long chunkStart = s; // segment 1 on: a chunk after the probe
        int fed = s + s / 2; // one whole segment stored, the next one half collected
        SegmentedRangeConsumer[] open = new SegmentedRangeConsumer[count];
        FutureCallback<FetchOutcome> ignore = new FutureCallback<>() {
            @Override
            public void completed(FetchOutcome result) {}

            @Override
            public void failed(Exception ex) {}

            @Override
            public void cancelled() {}
        };
        long baseline = Heap.usedAfterGc();
        try {
            for (int i = 0; i < count; i++) {
                Path staging = tmp.resolve(i + ".part");
                SafeFiles.presize(staging, 4L * s);
                Attempt a = new Attempt("h", i, "http://h/x", 0, Long.MAX_VALUE);
                a.range = new long[] {chunkStart, cipher.length - 1};
                a.rangeStart = chunkStart;
                a.rangeLimit = cipher.length - 1;
                a.progress = chunkStart;
                open[i] = new SegmentedRangeConsumer(
                        staging, a, cipher.length, "\"v\"", true, new Decryption(scheme, "k", "identity"), KEYS, s,
                        header, false, null);
                BasicHttpResponse head = new BasicHttpResponse(206);
                head.addHeader("Content-Range", "bytes " + chunkStart + "-" + (cipher.length - 1) + "/" + cipher.length);
                head.addHeader("ETag", "\"v\"");
                open[i].consumeResponse(
                        head, new BasicEntityDetails(cipher.length - chunkStart, ContentType.APPLICATION_OCTET_STREAM),
                        null, ignore);
                open[i].consume(ByteBuffer.wrap(cipher, (int) chunkStart, fed));
                // one segment decrypted: in the file, or (4 KiB segments, while the pool has a buffer) still in the
                // staging writer's buffer, which is direct memory, not heap
                assertThat(a.progress).as("one segment stored").isIn(2L * s, (long) s);
            }
            long perChunk = (Heap.usedAfterGc() - baseline) / count;
            LOG.info("heap per in-flight chunk of {}: {} bytes (two segment buffers: {} bytes)", token, perChunk,
                    2 * s - SegmentGeometry.TAG_BYTES);
            assertThat(perChunk).isLessThan(boundKib * 1024L);
            assertThat(perChunk).as("both segment buffers are really held")
                    .isGreaterThan(2L * s - SegmentGeometry.TAG_BYTES - Heap.BACKGROUND_NOISE_BYTES / count);
        } finally {
            for (SegmentedRangeConsumer c : open) {
                if (c != null) {
                    c.releaseResources();
                }
            }
        }
    }
}
