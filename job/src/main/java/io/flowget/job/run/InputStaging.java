package io.flowget.job.run;

import io.flowget.job.kafka.KafkaClients;
import io.flowget.job.kafka.RawRequestDeserializer;
import io.flowget.udf.body.Digests;
import io.flowget.udf.parse.RequestParser;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;

/**
 * Turns the {@code --urls} input of a run into request events: copies it (file or stdin) into the state dir and
 * fingerprints it, so that a resumed run reads the very same bytes; reads it as request lines (CONTRACT.md: trimmed,
 * blank and {@code #} lines skipped, key {@code line-N}); and produces them to the requests topic in one Kafka
 * transaction, so that a crash while producing leaves nothing visible and the retry cannot duplicate a request.
 *
 * <p>Stateless; its steps run on the thread that runs {@link LocalRun}, which owns the files and the producer.
 */
final class InputStaging {
    /** Where the input is copied before {@link RunState} decides whether it is a new run's input. */
    static final String INCOMING = "input.incoming";

    private InputStaging() {}

    /** The copied input and the lower-case hex SHA-256 of its bytes. */
    record Staged(Path file, String sha256) {}

    /**
     * The most bytes of one input line that {@link #read} keeps (leading blanks not counted): 4 bytes for each of the
     * parser's {@value RequestParser#MAX_EVENT_CHARS} characters and one more, so a line cut there still holds more
     * characters than the parser takes, and the job rejects it as {@code request too large} just as it would the
     * whole line. Bounds the memory a hostile input's single line can take while it is read.
     */
    static final int MAX_LINE_BYTES = 4 * (RequestParser.MAX_EVENT_CHARS + 1);

    /**
     * The largest requests-topic record the run's input producer sends, and the {@code max.message.bytes} of the
     * requests topic a run creates: a line of {@link #MAX_LINE_BYTES} (not valid UTF-8, so sent as it is), its key
     * and the record's overhead fit (Kafka's default of 1 MiB refused a line of 1 MiB, and the whole run failed).
     */
    static final int MAX_RECORD_BYTES = 8 << 20;

    /**
     * One request line: the record key {@code line-N} (N counts every input line from 1, skipped ones too) and the
     * trimmed line, a URL or a JSON request event. {@code raw} is null for a line that is valid UTF-8; for one that
     * is not, it holds the line's bytes, which are what the requests topic gets, so the job rejects the request as
     * any producer's invalid record ({@code invalid UTF-8 in record value}), and {@code value} is their decoding with
     * U+FFFD replacements, the text the job's parser sees.
     */
    record Line(String key, String value, byte[] raw) {
        private static final RequestParser PARSER = new RequestParser(); // stateless

        /** A line that is valid UTF-8. */
        Line(String key, String value) {
            this(key, value, null);
        }

        /**
         * The id the job will give this line's request, decided by the job's own parser: a JSON event's valid
         * {@code id} when it has one, else the record key (an invalid id, e.g. one over
         * {@value RequestParser#MAX_ID_CHARS} characters, is rejected under the key, and the run must wait for that).
         */
        String expectedId() {
            return PARSER.parse(key, value).id();
        }

        /** The record value the requests topic gets. */
        byte[] recordValue() {
            return raw != null ? raw : value.getBytes(StandardCharsets.UTF_8);
        }
    }

    /**
     * Copies {@code urls}, or {@code stdin} when it is null, to {@value #INCOMING} in the state dir.
     *
     * @throws IllegalArgumentException if {@code urls} is a directory (the command line reports it as a usage error
     *     before the run starts)
     */
    static Staged stage(Path urls, InputStream stdin, Path stateDir) throws IOException {
        Path incoming = stateDir.resolve(INCOMING);
        if (urls == null) {
            Files.copy(stdin, incoming, StandardCopyOption.REPLACE_EXISTING);
        } else {
            if (Files.isDirectory(urls)) {
                throw new IllegalArgumentException("cannot read --urls " + urls);
            }
            Files.copy(urls, incoming, StandardCopyOption.REPLACE_EXISTING);
        }
        return new Staged(incoming, Digests.sha256Hex(incoming));
    }

    /**
     * The request lines of {@code input}: blank lines and '#' comments skipped, lines trimmed (CRLF too). Lines end at
     * LF, CR or CRLF, as {@link java.io.BufferedReader#readLine} counts them. No line, whatever its bytes, fails the
     * run (CONTRACT.md): one that is not valid UTF-8 keeps its bytes for the job to reject (see {@link Line}), and of
     * one longer than {@link #MAX_LINE_BYTES} only that many bytes are kept, which the job rejects as too large.
     */
    static List<Line> read(Path input) throws IOException {
        List<Line> out = new ArrayList<>();
        try (InputStream in = Files.newInputStream(input)) {
            LineBytes line = new LineBytes();
            int n = 0;
            while (line.next(in)) {
                n++;
                Line l = line.toLine("line-" + n);
                if (l != null) {
                    out.add(l);
                }
            }
        }
        return out;
    }

    /**
     * One input line's bytes as {@link #read} gathers them: leading ASCII blanks skipped, at most {@link
     * #MAX_LINE_BYTES} kept. Reused from line to line; owned by the reading thread.
     */
    private static final class LineBytes {
        private final byte[] chunk = new byte[64 * 1024];
        private int pos;
        private int limit;
        private byte[] buf = new byte[256];
        private int len;
        private boolean cut; // bytes other than ASCII blanks came after the kept ones
        private boolean pendingCr; // the last line ended at CR: an LF right after it belongs to that line end

        /** Reads the next line; false at the end of the input (a last line without a line end counts). */
        boolean next(InputStream in) throws IOException {
            len = 0;
            cut = false;
            boolean any = false;
            int b;
            while ((b = read(in)) != -1) {
                if (pendingCr) {
                    pendingCr = false;
                    if (b == '\n') {
                        continue;
                    }
                }
                if (b == '\n') {
                    return true;
                }
                if (b == '\r') {
                    pendingCr = true;
                    return true;
                }
                any = true;
                if (len == 0 && isAsciiBlank(b)) {
                    continue;
                }
                if (len < MAX_LINE_BYTES) {
                    if (len == buf.length) {
                        buf = Arrays.copyOf(buf, Math.min(MAX_LINE_BYTES, buf.length * 2));
                    }
                    buf[len++] = (byte) b;
                } else if (!isAsciiBlank(b)) {
                    cut = true;
                }
            }
            pendingCr = false;
            return any;
        }

        private int read(InputStream in) throws IOException {
            if (pos == limit) {
                limit = Math.max(0, in.read(chunk));
                pos = 0;
                if (limit == 0) {
                    return -1;
                }
            }
            return chunk[pos++] & 0xFF;
        }

        /** The line as a request line under {@code key}, or null when it is blank or a comment. */
        Line toLine(String key) {
            if (cut) { // the job rejects it by its length; only its first characters are kept
                String text = new String(buf, 0, len, StandardCharsets.UTF_8).strip();
                return new Line(key, text.substring(0, Math.min(text.length(), RequestParser.MAX_EVENT_CHARS + 1)));
            }
            String text = RawRequestDeserializer.strictUtf8(buf, 0, len);
            byte[] raw = null;
            if (text == null) {
                raw = Arrays.copyOf(buf, len);
                text = new String(raw, StandardCharsets.UTF_8); // as the job's deserializer decodes it
            }
            String t = text.strip();
            if (t.isEmpty() || t.startsWith("#")) {
                return null;
            }
            return new Line(key, t, raw);
        }

        /** The ASCII characters {@link String#strip} removes. */
        private static boolean isAsciiBlank(int b) {
            return b == ' ' || b == '\t' || b == 0x0B || b == '\f' || (b >= 0x1C && b <= 0x1F);
        }
    }

    /**
     * Produces one record per line to {@code topic} in a single transaction. The transactional id is the run's (its
     * transactional-id prefix and the input's digest, {@code flowget-run-input-<sha>} with the configured prefix, as
     * before per-run names), so a rerun after a crash mid-produce fences and aborts the earlier attempt's transaction,
     * and two runs on one daemon's broker never share a producer. With the digest alone, a later run of the same input
     * (same transactional id, so the same producer id) once had a batch refused as out of sequence on its new
     * partition (end sequence 2453, as if the producer state of the earlier run's deleted partition were still there)
     * and its commit timed out after 60 s (bench pass of 2026-12-05 19:13 UTC, load ~20); that this was the cause is
     * not proven.
     *
     * <p>One produce request in flight at a time: the same failure came back three times with per-run ids (a
     * daemon's second run, load 11-18, 2026-12-05 20:56-21:57 UTC), and each time the partition held exactly one
     * batch fewer than the producer's end sequence (offset 959 / end sequence 1691, offset 1225 / 1730: 733 and 506
     * records missing, the same gap at every later retry) while the refused batch was sequence 0. So the first batch
     * on a new partition failed once (retriable, e.g. the partition not yet ready on the broker right after its topic
     * was created) while a later batch, in flight beside it, was appended; a broker that has no state for a producer
     * on a partition accepts any first sequence, so sequence 0's retry can never land after it, and the commit waits
     * out its 60 s. With one request in flight a later batch is sent only after the one before it is in. Cost: one
     * round trip per 256 KiB batch, before the fetching starts.
     */
    static void produce(String servers, Properties kafkaProps, String topic, List<Line> lines, String transactionalId) {
        try (KafkaProducer<String, byte[]> producer =
                KafkaClients.producer(servers)
                        .properties(kafkaProps)
                        .transactionalId(transactionalId)
                        .batching(Duration.ofMillis(5), 256 * 1024)
                        .maxInFlightRequests(1)
                        .maxRequestSize(MAX_RECORD_BYTES)
                        .buildForBytes()) {
            producer.initTransactions();
            producer.beginTransaction();
            for (Line l : lines) {
                producer.send(new ProducerRecord<>(topic, l.key(), l.recordValue()));
            }
            producer.commitTransaction();
        }
    }
}
