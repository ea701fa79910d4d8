package io.flowget.bench;

import java.nio.charset.StandardCharsets;
import java.util.SplittableRandom;

/**
 * Deterministic, log-like text for the benchmarks, the same generator as the udf tests' {@code LogText} (kept
 * as a copy so the benchmark jar does not depend on test code): the same seed always yields the same bytes and
 * it compresses about as well as real server logs. Not thread-safe.
 */
public final class LogText {
    private static final byte[][] LEVELS = bytes("INFO ", "INFO ", "INFO ", "DEBUG", "WARN ", "ERROR");
    private static final byte[][] LOGGERS =
            bytes(
                    "io.flowget.fetch.HostScheduler",
                    "org.apache.hc.client5.http.impl.async.H2AsyncMainClientExec",
                    "io.flowget.body.BodyPipeline",
                    "org.apache.flink.runtime.checkpoint.CheckpointCoordinator",
                    "io.flowget.storage.StagingFile");
    private static final byte[][] MESSAGES =
            bytes(
                    " - GET https://cdn-",
                    " - response 200 for https://mirror-",
                    " - retrying after 503 from https://origin-",
                    " - completed checkpoint for job at https://jobs-",
                    " - staged bytes of https://files-");
    private static final byte[][] PATHS =
            bytes("/assets/app.js", "/images/logo.png", "/data/part-00017.parquet", "/api/v2/items?page=", "/");

    private final SplittableRandom random;
    private final byte[] line = new byte[512];
    private int lineLen;
    private int linePos;
    private long millis = 1_714_567_890_123L;

    public LogText(long seed) {
        this.random = new SplittableRandom(seed);
    }

    /** {@code size} bytes of text for {@code seed}. */
    public static byte[] bytes(long seed, int size) {
        byte[] out = new byte[size];
        new LogText(seed).fill(out, 0, size);
        return out;
    }

    /** Fills {@code len} bytes at {@code off} with the next bytes of the text. */
    public void fill(byte[] out, int off, int len) {
        while (len > 0) {
            if (linePos == lineLen) {
                nextLine();
            }
            int n = Math.min(len, lineLen - linePos);
            System.arraycopy(line, linePos, out, off, n);
            linePos += n;
            off += n;
            len -= n;
        }
    }

    private void nextLine() {
        lineLen = 0;
        linePos = 0;
        millis += random.nextInt(50);
        appendNumber(millis);
        append(' ');
        append(LEVELS[random.nextInt(LEVELS.length)]);
        append(" [worker-");
        appendNumber(random.nextInt(16));
        append("] ");
        append(LOGGERS[random.nextInt(LOGGERS.length)]);
        append(MESSAGES[random.nextInt(MESSAGES.length)]);
        appendNumber(random.nextInt(64));
        append(".example.org");
        append(PATHS[random.nextInt(PATHS.length)]);
        appendNumber(random.nextInt(100_000));
        append(" bytes=");
        appendNumber(random.nextInt(1 << 20));
        append(" ms=");
        appendNumber(random.nextInt(2_000));
        append('\n');
    }

    private void append(char c) {
        line[lineLen++] = (byte) c;
    }

    private void append(String s) {
        for (int i = 0; i < s.length(); i++) {
            line[lineLen++] = (byte) s.charAt(i);
        }
    }

    private void append(byte[] b) {
        System.arraycopy(b, 0, line, lineLen, b.length);
        lineLen += b.length;
    }

    private void appendNumber(long v) {
        int start = lineLen;
        do {
            line[lineLen++] = (byte) ('0' + (v % 10));
            v /= 10;
        } while (v > 0);
        for (int i = start, j = lineLen - 1; i < j; i++, j--) {
            byte t = line[i];
            line[i] = line[j];
            line[j] = t;
        }
    }

    private static byte[][] bytes(String... values) {
        byte[][] out = new byte[values.length][];
        for (int i = 0; i < values.length; i++) {
            out[i] = values[i].getBytes(StandardCharsets.US_ASCII);
        }
        return out;
    }
}
