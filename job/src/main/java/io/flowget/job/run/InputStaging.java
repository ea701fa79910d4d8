package io.flowget.job.run;

import io.flowget.job.kafka.KafkaClients;
import io.flowget.udf.body.Digests;
import io.flowget.udf.parse.RequestParser;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
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
     * One request line: the record key {@code line-N} (N counts every input line from 1, skipped ones too) and the
     * trimmed line, a URL or a JSON request event.
     */
    record Line(String key, String value) {
        private static final RequestParser PARSER = new RequestParser(); // stateless

        /**
         * The id the job will give this line's request, decided by the job's own parser: a JSON event's valid
         * {@code id} when it has one, else the record key (an invalid id, e.g. one over
         * {@value RequestParser#MAX_ID_CHARS} characters, is rejected under the key, and the run must wait for that).
         */
        String expectedId() {
            return PARSER.parse(key, value).id();
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

    /** The request lines of {@code input}: blank lines and '#' comments skipped, lines trimmed (CRLF too). */
    static List<Line> read(Path input) throws IOException {
        List<Line> out = new ArrayList<>();
        try (BufferedReader r = Files.newBufferedReader(input, StandardCharsets.UTF_8)) {
            String line;
            int n = 0;
            while ((line = r.readLine()) != null) {
                n++;
                String t = line.strip();
                if (t.isEmpty() || t.startsWith("#")) {
                    continue;
                }
                out.add(new Line("line-" + n, t));
            }
        }
        return out;
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
        try (KafkaProducer<String, String> producer =
                KafkaClients.producer(servers)
                        .properties(kafkaProps)
                        .transactionalId(transactionalId)
                        .batching(Duration.ofMillis(5), 256 * 1024)
                        .maxInFlightRequests(1)
                        .build()) {
            producer.initTransactions();
            producer.beginTransaction();
            for (Line l : lines) {
                producer.send(new ProducerRecord<>(topic, l.key(), l.value()));
            }
            producer.commitTransaction();
        }
    }
}
