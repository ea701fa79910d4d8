package io.flowget.udf.http;

import io.flowget.udf.body.Encryptors;
import io.flowget.udf.crypto.DecryptScheme;
import io.flowget.udf.crypto.Decryption;
import io.flowget.udf.crypto.KeyProvider;
import io.flowget.udf.crypto.SegmentGeometry;
import io.flowget.udf.storage.SafeFiles;
import io.flowget.udf.testing.TestOrigin;

import org.apache.hc.core5.concurrent.FutureCallback;
import org.apache.hc.core5.http.ContentType;
import org.apache.hc.core5.http.impl.BasicEntityDetails;
import org.apache.hc.core5.http.message.BasicHttpResponse;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * {@link SegmentedRangeConsumer} stores a chunk's plaintext through a {@link StagingWriter}: with Tink's 4 KiB
 * segments, one positional write per {@value StagingWriter#BUFFER_SIZE} bytes instead of one per segment (counted as
 * this thread's write system calls, {@code syscw} in {@code /proc/thread-self/io}: the consumer runs on the caller's
 * thread), and progress names only segments whose plaintext is in the file, also when the exchange fails.
 */
class SegmentedRangeConsumerTest {
    private static final Logger LOG = LoggerFactory.getLogger(SegmentedRangeConsumerTest.class);
    private static final byte[] KEY = Encryptors.key(11);
    private static final KeyProvider KEYS = Encryptors.keys(Map.of("k", KEY));
    private static final DecryptScheme SCHEME = DecryptScheme.forToken("tink-aes256-gcm-hkdf-4kb");
    private static final int S = SCHEME.ciphertextSegmentSize();
    private static final int MIB = 1 << 20;

    @TempDir Path tmp;

    private record Chunk(byte[] plain, byte[] cipher, Path staging, SegmentedRangeConsumer consumer, Attempt attempt,
            AtomicReference<FetchOutcome> outcome) {}

    @Test
    void fourKibSegmentsReachTheFileInCoalescedWrites() throws Exception {
        Chunk c = chunkAfterTheProbe("coalesced", 4 * MIB);
        byte[] cipher = c.cipher();

        long before = writeSyscallsOfThisThread();
        int p = S;
        for (; p + 8192 < cipher.length; p += 8192) { // as HttpClient hands a body over: 8 KiB reads
            c.consumer().consume(ByteBuffer.wrap(cipher, p, 8192));
        }
        ByteBuffer last = ByteBuffer.wrap(cipher, p, cipher.length - p);
        // the range's last byte hands the outcome over and ends the exchange (its connection drops the rest)
        assertThatThrownBy(() -> c.consumer().consume(last)).hasMessage("rest of the range answer not needed");
        long writes = writeSyscallsOfThisThread() - before;

        long segments = new SegmentGeometry(S).segments(cipher.length) - 1;
        LOG.info("{} write(2)s for {} segments of 4 KiB (4 MiB of plaintext); one each before StagingWriter", writes,
                segments);
        assertThat(writes).as("%s write(2)s for %s segments (4 MiB of plaintext)", writes, segments)
                .isPositive().isLessThanOrEqualTo(4 * 10);
        assertThat(c.outcome().get().rangeLast).isEqualTo(cipher.length - 1);
        assertThat(c.attempt().progress).isEqualTo(cipher.length);
        long from = new SegmentGeometry(S).plaintextStart(1);
        byte[] stored = Files.readAllBytes(c.staging());
        assertThat(Arrays.copyOfRange(stored, (int) from, stored.length))
                .isEqualTo(Arrays.copyOfRange(c.plain(), (int) from, c.plain().length));
    }

    @Test
    void segmentsStillInTheWritersBufferAreNotProgressWhenTheExchangeFails() throws Exception {
        Chunk c = chunkAfterTheProbe("failed", 64 * S);

        c.consumer().consume(ByteBuffer.wrap(c.cipher(), S, 10 * S + S / 2)); // ten segments decrypted, less than 128 KiB
        assertThat(c.attempt().progress).as("decrypted, not yet in the file").isEqualTo(S);
        c.consumer().failed(new IOException("connection reset"));

        assertThat(c.attempt().progress).isEqualTo(S);
        assertThat(c.outcome().get()).as("a failed exchange hands over no outcome").isNull();
        byte[] stored = Files.readAllBytes(c.staging());
        assertThat(Arrays.copyOfRange(stored, 0, 11 * S)).as("nothing written").containsOnly(0);
    }

    /**
     * The chunk from segment 1 to the end of a {@code plainBytes} object encrypted with 4 KiB segments, after its 206
     * head, into a pre-sized staging file; the staging writers' pool has a buffer for it.
     */
    private Chunk chunkAfterTheProbe(String name, int plainBytes) throws Exception {
        byte[] plain = TestOrigin.content(name, plainBytes);
        byte[] cipher = Encryptors.tink(SCHEME, KEY, plain);
        Path staging = tmp.resolve(name + ".part");
        SafeFiles.presize(staging, plain.length);
        assertThat(StagingWriter.buffersFree() > 0 || StagingWriter.buffersCreated() < StagingWriter.POOL_BUFFERS)
                .as("the pool has a buffer for this chunk").isTrue();
        long from = S;
        Attempt a = new Attempt("h", 1, "http://h/x", 0, Long.MAX_VALUE);
        a.range = new long[] {from, cipher.length - 1};
        a.rangeStart = from;
        a.rangeLimit = cipher.length - 1;
        a.progress = from;
        byte[] header = Arrays.copyOf(cipher, SegmentGeometry.HEADER_BYTES);
        SegmentedRangeConsumer consumer = new SegmentedRangeConsumer(staging, a, cipher.length, "\"v\"", true,
                new Decryption(SCHEME, "k", "identity"), KEYS, S, header, false, null);
        AtomicReference<FetchOutcome> outcome = new AtomicReference<>();
        BasicHttpResponse head = new BasicHttpResponse(206);
        head.addHeader("Content-Range", "bytes " + from + "-" + (cipher.length - 1) + "/" + cipher.length);
        head.addHeader("ETag", "\"v\"");
        consumer.consumeResponse(head,
                new BasicEntityDetails(cipher.length - from, ContentType.APPLICATION_OCTET_STREAM), null,
                new FutureCallback<>() {
                    @Override
                    public void completed(FetchOutcome result) {
                        outcome.set(result);
                    }

                    @Override
                    public void failed(Exception ex) {}

                    @Override
                    public void cancelled() {}
                });
        return new Chunk(plain, cipher, staging, consumer, a, outcome);
    }

    /** write(2)/pwrite(2) calls this thread has made so far (Linux: {@code /proc/thread-self/io}). */
    private static long writeSyscallsOfThisThread() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/thread-self/io"))) {
            if (line.startsWith("syscw:")) {
                return Long.parseLong(line.substring("syscw:".length()).trim());
            }
        }
        throw new IllegalStateException("no syscw in /proc/thread-self/io");
    }
}
