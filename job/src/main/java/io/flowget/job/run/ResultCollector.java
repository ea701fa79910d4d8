package io.flowget.job.run;

import io.flowget.job.embedded.EmbeddedFlink;
import io.flowget.job.kafka.KafkaClients;
import io.flowget.udf.json.Json;
import io.flowget.udf.model.FetchResult;

import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.function.Supplier;

/**
 * Collects the one terminal result of every request of a run: reads the results topic from its beginning
 * ({@code read_committed}, so only results of completed checkpoints) until each expected id has its result, while
 * the job runs, and feeds the progress line; then writes {@code --results}, sorted by input line. Results of a
 * resumed run's earlier attempt are in the topic too, so none is lost; a second result for one request is logged
 * and ignored. It gives up (with "rerun the same command to resume") when the job fails or is cancelled, when the
 * job finished 30 s ago without all results, or after the run's timeout.
 *
 * <p><b>{@code --results} grows while the run goes</b> ({@link #appendTo}): each committed result is appended as it
 * arrives (flushed per poll), so {@code tail -f} follows a long run; a resumed run keeps the lines a killed one
 * wrote and appends only the results not yet there, so every request has one line. {@link #writeResultsFile}
 * then rewrites the file in input-line order at the end.
 *
 * <p>Not thread-safe: one instance per run, used by the thread that runs {@link LocalRun}; it owns its Kafka
 * consumer for the duration of {@link #collect}.
 */
final class ResultCollector {
    private static final Logger LOG = LoggerFactory.getLogger(ResultCollector.class);
    private static final Duration POLL = Duration.ofMillis(200);
    /**
     * How long the broker may hold one fetch of the results topic. A commit does not end a waiting {@code
     * read_committed} fetch (only new records do), so with Kafka's 500 ms the last results reached the run up to half a
     * second after their commit (issue 16's tail); on loopback a fetch every 20 ms costs next to nothing.
     */
    private static final Duration COMMIT_FETCH_WAIT = Duration.ofMillis(20);
    /** How long a FINISHED job may go on without the missing results before the run gives up. */
    private static final Duration FINISHED_GRACE = Duration.ofSeconds(30);

    /** How many results each expected id gets: one per input line with that id. */
    private final Map<String, Integer> expected = new HashMap<>();
    private final int total;
    private final Progress progress;
    private final Duration timeout;
    /** When the job was first seen RUNNING; 0 before. */
    private long runningNanos;
    /** When the last result arrived; 0 before. */
    private long doneNanos;
    /** When the first result arrived; 0 before. */
    private long firstNanos;
    /** The {@code --results} file appended to while collecting, or null. */
    private Path appendFile;
    /** The JSON text of each collected result as the job wrote it, in the order of {@link #collect}'s list. */
    private final List<String> collectedJson = new ArrayList<>();
    /** Results a killed run already wrote to {@link #appendFile}, by id: not written again. */
    private final Map<String, Integer> alreadyWritten = new HashMap<>();

    /**
     * @param live draw the live progress line on {@code out}
     * @param timeout give up this long after {@link #collect} starts
     */
    ResultCollector(List<InputStaging.Line> lines, boolean live, PrintStream out, Duration timeout) {
        this(lines, live ? Progress.Mode.LIVE : Progress.Mode.OFF, out, timeout, Optional::empty);
    }

    /**
     * @param progress how the progress line is shown on {@code out} (or in the log)
     * @param waiting the fetch operator's live gauges for the line's "why it waits" part
     * @param timeout give up this long after {@link #collect} starts
     */
    ResultCollector(
            List<InputStaging.Line> lines,
            Progress.Mode progress,
            PrintStream out,
            Duration timeout,
            Supplier<Optional<FetchGauges.Totals>> waiting) {
        for (InputStaging.Line l : lines) {
            expected.merge(l.expectedId(), 1, Integer::sum);
        }
        this.total = lines.size();
        this.progress = new Progress(total, progress, out, waiting);
        this.timeout = timeout;
    }

    /**
     * Appends each result to {@code file} as it arrives (null: none). A {@code resumed} run keeps the well-formed
     * lines of expected requests that the file already holds (rewritten without a torn last line) and does not write
     * them again; a new run starts the file empty.
     */
    void appendTo(Path file, boolean resumed) throws IOException {
        if (file == null) {
            return;
        }
        appendFile = file.toAbsolutePath();
        if (appendFile.getParent() != null) {
            Files.createDirectories(appendFile.getParent());
        }
        List<FetchResult> kept = new ArrayList<>();
        if (resumed && Files.exists(appendFile)) {
            Map<String, Integer> seen = new HashMap<>();
            for (String line : Files.readAllLines(appendFile, StandardCharsets.UTF_8)) {
                FetchResult r;
                try {
                    r = Json.resultFromJson(line);
                } catch (IOException | RuntimeException tornOrForeign) {
                    continue; // the killed run's last line, cut short: its result is appended again
                }
                if (r.id != null && expected.containsKey(r.id)
                        && seen.merge(r.id, 1, Integer::sum) <= expected.get(r.id)) {
                    kept.add(r);
                    alreadyWritten.merge(r.id, 1, Integer::sum);
                }
            }
        }
        writeLines(appendFile, kept);
    }

    /** Reads results until every expected one is there; see the class comment for when it gives up instead. */
    List<FetchResult> collect(String servers, Properties kafkaProps, String topic, EmbeddedFlink flink, JobID job)
            throws Exception {
        List<FetchResult> results = new ArrayList<>(total);
        Map<String, Integer> seen = new HashMap<>();
        long deadline = System.nanoTime() + timeout.toNanos();
        long finishedAt = 0;
        try (KafkaConsumer<String, String> consumer =
                        KafkaClients.committedConsumer(servers).properties(kafkaProps).maxPollRecords(5000)
                                .fetchMaxWait(COMMIT_FETCH_WAIT).build();
                BufferedWriter append = appendFile == null ? null : Files.newBufferedWriter(
                        appendFile, StandardCharsets.UTF_8, StandardOpenOption.APPEND)) {
            KafkaClients.assignFromBeginning(consumer, topic);
            while (results.size() < total) {
                for (ConsumerRecord<String, String> rec : consumer.poll(POLL)) {
                    FetchResult r = Json.resultFromJson(rec.value());
                    if (r.id == null || !expected.containsKey(r.id)) {
                        continue;
                    }
                    if (seen.merge(r.id, 1, Integer::sum) > expected.get(r.id)) {
                        LOG.error("Second result for request {} ignored: {}", r.id, rec.value());
                        continue;
                    }
                    results.add(r);
                    collectedJson.add(rec.value());
                    progress.add(r);
                    if (firstNanos == 0) {
                        firstNanos = System.nanoTime();
                        LOG.info("First result committed: {}", r.id);
                    }
                    if (append != null && alreadyWritten.merge(r.id, -1, Integer::sum) < 0) {
                        append.write(rec.value());
                        append.write('\n');
                    }
                }
                if (append != null) {
                    append.flush(); // a committed result is visible in --results within a poll
                }
                progress.maybePrint(false);
                if (results.size() >= total) {
                    break;
                }
                JobStatus status = flink.status(job);
                if (runningNanos == 0 && status == JobStatus.RUNNING) {
                    runningNanos = System.nanoTime();
                }
                if (status == JobStatus.FAILED || status == JobStatus.CANCELED) {
                    throw new IllegalStateException(
                            "the job " + status.name().toLowerCase(Locale.ROOT) + " with " + results.size() + " of "
                                    + total + " results; rerun the same command to resume");
                }
                if (status == JobStatus.FINISHED) {
                    if (finishedAt == 0) {
                        finishedAt = System.nanoTime();
                    } else if (System.nanoTime() - finishedAt > FINISHED_GRACE.toNanos()) {
                        throw new IllegalStateException(
                                "the job finished but only " + results.size() + " of " + total
                                        + " results arrived");
                    }
                }
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException(
                            "timed out after " + timeout + " with " + results.size() + " of " + total
                                    + " results; rerun the same command to resume");
                }
            }
        }
        progress.maybePrint(true);
        doneNanos = System.nanoTime();
        LOG.info("All {} results committed", total);
        return results;
    }

    /** {@link System#nanoTime()} when the job was first seen running; 0 if it never was. */
    long runningNanos() {
        return runningNanos;
    }

    /** {@link System#nanoTime()} when the first result arrived; 0 if none did. */
    long firstNanos() {
        return firstNanos;
    }

    /** {@link System#nanoTime()} when the last result arrived; 0 before {@link #collect} returned. */
    long doneNanos() {
        return doneNanos;
    }

    /**
     * Writes what {@link #collect} returned as JSON Lines to {@code target} (does nothing when it is null), in
     * input-line order, then by id; atomically. Each line is the result's text as the job wrote it (as appended while
     * the run went), not serialized again: the rewrite is the last step before the run ends (issue 16's tail: 0.15 s
     * for 5,000 results at load 10 when serialized again).
     */
    void writeCollected(Path target, List<FetchResult> results) throws IOException {
        if (target == null) {
            return;
        }
        if (results.size() != collectedJson.size()) {
            throw new IllegalArgumentException("not the results this collector collected");
        }
        Integer[] order = new Integer[results.size()];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        Arrays.sort(order, Comparator.<Integer>comparingLong(i -> lineOf(results.get(i)))
                .thenComparing(i -> results.get(i).id));
        List<String> lines = new ArrayList<>(order.length);
        for (Integer i : order) {
            lines.add(collectedJson.get(i));
        }
        writeText(target.toAbsolutePath(), lines);
    }

    /**
     * Writes the results as JSON Lines to {@code target} (does nothing when it is null), in input-line order, then
     * by id; atomically, so the file is either absent, the old one, or complete.
     */
    static void writeResultsFile(Path target, List<FetchResult> results) throws IOException {
        if (target == null) {
            return;
        }
        target = target.toAbsolutePath();
        if (target.getParent() != null) {
            Files.createDirectories(target.getParent());
        }
        List<FetchResult> sorted = new ArrayList<>(results);
        sorted.sort(Comparator.comparingLong(ResultCollector::lineOf).thenComparing(r -> r.id));
        writeLines(target, sorted);
    }

    /** Replaces {@code target} atomically with one JSON line per result. */
    private static void writeLines(Path target, List<FetchResult> results) throws IOException {
        List<String> lines = new ArrayList<>(results.size());
        for (FetchResult r : results) {
            lines.add(Json.toJson(r));
        }
        writeText(target, lines);
    }

    /** Replaces {@code target} atomically with these lines. */
    private static void writeText(Path target, List<String> lines) throws IOException {
        if (target.getParent() != null) {
            Files.createDirectories(target.getParent());
        }
        Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
        try (BufferedWriter w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
            for (String line : lines) {
                w.write(line);
                w.write('\n');
            }
        }
        Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** The input line of a {@code line-N} id; ids of other forms sort last. */
    private static long lineOf(FetchResult r) {
        if (r.id != null && r.id.startsWith("line-")) {
            try {
                return Long.parseLong(r.id.substring(5));
            } catch (NumberFormatException ignored) {
                // not one of ours
            }
        }
        return Long.MAX_VALUE;
    }
}
