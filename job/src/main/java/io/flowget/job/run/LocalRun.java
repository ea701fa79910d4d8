package io.flowget.job.run;

import io.flowget.job.FlowgetJob;
import io.flowget.job.JobOptions;
import io.flowget.job.embedded.EmbeddedFlink;
import io.flowget.job.embedded.EmbeddedKafka;
import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.json.Json;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;

import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

import com.fasterxml.jackson.databind.JsonNode;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.stream.Stream;

/**
 * The {@code flowget run} command: a bounded download of a URL list on an embedded Kafka broker (or a given
 * one) and a local MiniCluster, with crash-safe resume.
 *
 * <p>Steps: copy the input into the state dir and fingerprint it; produce one request event per line to the
 * requests topic in a single Kafka transaction (key {@code line-N}, so the default id is the line's position);
 * run the job, restoring from the newest retained checkpoint when the previous run with the same input
 * died; read the results topic (read_committed) from the start, writing {@code --results} and the progress
 * line; once every request has its committed result, stop the job; exit with the contract's status.
 *
 * <p>The job's source is unbounded on purpose, and the run ends by cancelling the job, not by the job finishing.
 * With a bounded source the requests topic is read to its end within a second, the fetch operator's
 * {@code finish()} then waits for the whole batch, and a task inside {@code finish()} takes no checkpoint: no
 * checkpoint would complete until the batch is done, so results would become visible only at the end, a crash
 * would lose all progress, and a drain longer than {@code flowget.kafka.transaction-timeout} would have its
 * results transaction aborted by the broker ({@code ChaosNetworkITCase}, {@code ChaosProcessKillITCase}).
 *
 * <p>Resume: {@code <state-dir>/run.json} records the input's digest and the phase. A second run with the same
 * input and an unfinished phase neither produces the input again nor fetches finished requests again: it
 * restores the job from its checkpoint. A finished run, or a different input, starts afresh.
 */
public final class LocalRun {
    private static final Logger LOG = LoggerFactory.getLogger(LocalRun.class);

    /** Exit statuses of the contract. */
    public static final int EXIT_OK = 0;
    public static final int EXIT_FAILED = 2;
    public static final int EXIT_USAGE = 64;
    public static final int EXIT_INTERNAL = 70;

    /** What the command line asked for. */
    public record Request(
            Path urls,
            InputStream stdin,
            Path out,
            Path results,
            Path stateDir,
            int parallelism,
            String bootstrapServers,
            Configuration settings,
            boolean quiet,
            boolean interactive,
            Duration timeout) {}

    /** Totals of a finished run (also for tests). */
    public record Summary(
            int requests,
            int ok,
            int notModified,
            int failed,
            long bytes,
            double seconds,
            double startupSeconds,
            double steadySeconds,
            int exit) {
        /** Files per second once the job was running: the per-file cost without JVM/broker/cluster start. */
        public double steadyFilesPerSecond() {
            return steadySeconds > 0 ? requests / steadySeconds : 0;
        }

        public double steadyMbPerSecond() {
            return steadySeconds > 0 ? bytes / 1048576.0 / steadySeconds : 0;
        }
    }

    private final Request req;
    private final PrintStream stdout;
    private final long startedNanos = System.nanoTime();
    /** When the job was first seen RUNNING; 0 before. */
    private long runningNanos;
    /** When the last result arrived. */
    private long doneNanos;

    public LocalRun(Request req, PrintStream stdout) {
        this.req = req;
        this.stdout = stdout;
    }

    public Summary execute() throws Exception {
        Path stateDir = req.stateDir().toAbsolutePath().normalize();
        Path out = req.out().toAbsolutePath().normalize();
        Files.createDirectories(stateDir);
        Files.createDirectories(out);
        if (stateDir.startsWith(out)) {
            throw new UsageException("--state-dir must not lie inside --out (only finished files go there)");
        }

        RunState previous = RunState.read(stateDir);
        Path input = stateDir.resolve("input.txt");
        Path incoming = stageInput(stateDir);
        String digest = sha256(incoming);
        boolean resume = previous != null && !previous.complete && digest.equals(previous.inputSha256);
        if (resume) {
            Files.deleteIfExists(incoming);
            LOG.info("Resuming the unfinished run in {}", stateDir);
        } else {
            if (previous != null) {
                LOG.info("Starting afresh in {} ({})", stateDir, previous.complete ? "previous run finished" : "different input");
            }
            deleteTree(stateDir.resolve("kafka"));
            deleteTree(stateDir.resolve("checkpoints"));
            deleteTree(stateDir.resolve("partial"));
            Files.move(incoming, input, StandardCopyOption.REPLACE_EXISTING);
        }
        List<String[]> lines = readRequests(input);
        RunState state = resume ? previous : new RunState(digest, lines.size(), false, false);
        state.write(stateDir);

        Configuration conf = new Configuration(req.settings());
        conf.set(FlowgetOptions.STORAGE_OUT_DIR, out.toString());
        if (!conf.contains(FlowgetOptions.STORAGE_STAGING_DIR)) {
            conf.set(FlowgetOptions.STORAGE_STAGING_DIR, stagingDir(stateDir, out).toString());
        }
        conf.set(JobOptions.KAFKA_GROUP_ID, conf.get(JobOptions.KAFKA_GROUP_ID) + "-run");

        EmbeddedKafka kafka = null;
        EmbeddedFlink flink = null;
        try {
            String servers = req.bootstrapServers();
            if (servers == null) {
                kafka = EmbeddedKafka.start(stateDir.resolve("kafka"));
                servers = kafka.bootstrapServers();
            }
            conf.set(JobOptions.KAFKA_BOOTSTRAP_SERVERS, servers);
            createTopics(servers, conf, req.parallelism());
            if (!state.produced) {
                produce(servers, conf.get(JobOptions.KAFKA_REQUESTS_TOPIC), lines, digest);
                state.produced = true;
                state.write(stateDir);
            }
            if (lines.isEmpty()) {
                state.complete = true;
                state.write(stateDir);
                writeResultsFile(List.of());
                return summarize(List.of());
            }

            Path checkpoints = stateDir.resolve("checkpoints");
            flink = EmbeddedFlink.start(conf, checkpoints, req.parallelism());
            Configuration jobConf = flink.configuration();
            Optional<Path> restore = resume ? EmbeddedFlink.latestCheckpoint(checkpoints) : Optional.empty();
            restore.ifPresent(chk -> {
                jobConf.set(StateRecoveryOptions.SAVEPOINT_PATH, chk.toUri().toString());
                LOG.info("Restoring from checkpoint {}", chk);
            });
            jobConf.set(PipelineOptions.NAME, "flowget run");
            StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(jobConf);
            // Unbounded: see the class comment. A checkpoint restored here was written by an unbounded job too.
            FlowgetJob.kafka(jobConf, false).build(env);
            JobID job = flink.submit(env);

            Map<String, Integer> expected = new HashMap<>();
            for (String[] l : lines) {
                expected.merge(expectedId(l), 1, Integer::sum);
            }
            List<FetchResult> results = collectResults(servers, conf.get(JobOptions.KAFKA_RESULTS_TOPIC), expected, flink, job);
            // Every result is committed. One more completed checkpoint lets the dead-letter sink commit its
            // transaction of the same checkpoint too (its commit notification precedes this trigger), then stop.
            flink.triggerCheckpoint(job);
            flink.cancel(job);
            state.complete = true;
            state.write(stateDir);
            writeResultsFile(results);
            deleteIfEmpty(Path.of(conf.get(FlowgetOptions.STORAGE_STAGING_DIR)));
            return summarize(results);
        } finally {
            if (flink != null) {
                flink.close();
            }
            if (kafka != null) {
                kafka.close();
            }
        }
    }

    // ---- input ------------------------------------------------------------------------------------------

    /** Copies the input (file or stdin) into the state dir, so that a resumed run reads the same bytes. */
    private Path stageInput(Path stateDir) throws IOException {
        Path incoming = stateDir.resolve("input.incoming");
        if (req.urls() == null) {
            Files.copy(req.stdin(), incoming, StandardCopyOption.REPLACE_EXISTING);
        } else {
            if (!Files.isReadable(req.urls()) || Files.isDirectory(req.urls())) {
                throw new UsageException("cannot read --urls " + req.urls());
            }
            Files.copy(req.urls(), incoming, StandardCopyOption.REPLACE_EXISTING);
        }
        return incoming;
    }

    /** Request lines as (key, value): blank lines and '#' comments skipped, lines trimmed (CRLF too). */
    static List<String[]> readRequests(Path input) throws IOException {
        List<String[]> out = new ArrayList<>();
        try (BufferedReader r = Files.newBufferedReader(input, StandardCharsets.UTF_8)) {
            String line;
            int n = 0;
            while ((line = r.readLine()) != null) {
                n++;
                String t = line.strip();
                if (t.isEmpty() || t.startsWith("#")) {
                    continue;
                }
                out.add(new String[] {"line-" + n, t});
            }
        }
        return out;
    }

    /**
     * The id the job will give a line's request: a JSON event's own string {@code id} when it has one (the parser
     * prefers it), else the record key {@code line-N}.
     */
    static String expectedId(String[] line) {
        if (line[1].startsWith("{")) {
            try {
                JsonNode id = Json.readTree(line[1]).get("id");
                if (id != null && id.isTextual() && !id.asText().isEmpty()) {
                    return id.asText();
                }
            } catch (IOException malformed) {
                // the parser rejects it under the record key
            }
        }
        return line[0];
    }

    private static void produce(String servers, String topic, List<String[]> lines, String digest) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, servers);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        // One transaction: a crash while producing leaves nothing visible, so the retry cannot duplicate.
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "flowget-run-input-" + digest.substring(0, 16));
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        p.put(ProducerConfig.BATCH_SIZE_CONFIG, String.valueOf(256 * 1024));
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
            producer.initTransactions();
            producer.beginTransaction();
            for (String[] l : lines) {
                producer.send(new ProducerRecord<>(topic, l[0], l[1]));
            }
            producer.commitTransaction();
        }
    }

    private static void createTopics(String servers, Configuration conf, int partitions) throws Exception {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, servers);
        try (Admin admin = Admin.create(p)) {
            Set<String> existing = admin.listTopics().names().get();
            List<NewTopic> topics = new ArrayList<>();
            for (String t :
                    List.of(
                            conf.get(JobOptions.KAFKA_REQUESTS_TOPIC),
                            conf.get(JobOptions.KAFKA_RESULTS_TOPIC),
                            conf.get(JobOptions.KAFKA_DEAD_LETTER_TOPIC))) {
                if (!existing.contains(t)) {
                    topics.add(new NewTopic(t, partitions, (short) 1));
                }
            }
            if (!topics.isEmpty()) {
                try {
                    admin.createTopics(topics).all().get();
                } catch (ExecutionException e) {
                    if (!(e.getCause() instanceof TopicExistsException)) {
                        throw e;
                    }
                }
            }
        }
    }

    // ---- results ----------------------------------------------------------------------------------------

    /**
     * Reads the results topic from the beginning (read_committed) until every expected id has its result, while
     * the job runs. Results of a resumed run's earlier attempt are in the topic too, so nothing is lost.
     */
    private List<FetchResult> collectResults(
            String servers, String topic, Map<String, Integer> expected, EmbeddedFlink flink, JobID job)
            throws Exception {
        int total = expected.values().stream().mapToInt(Integer::intValue).sum();
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, servers);
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "5000");
        List<FetchResult> results = new ArrayList<>(total);
        Map<String, Integer> seen = new HashMap<>();
        Progress progress = new Progress(total, req.interactive() && !req.quiet(), stdout);
        long deadline = System.nanoTime() + req.timeout().toNanos();
        long finishedAt = 0;
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(p)) {
            List<TopicPartition> parts = new ArrayList<>();
            consumer.partitionsFor(topic).forEach(pi -> parts.add(new TopicPartition(topic, pi.partition())));
            consumer.assign(parts);
            consumer.seekToBeginning(parts);
            while (results.size() < total) {
                for (ConsumerRecord<String, String> rec : consumer.poll(Duration.ofMillis(200))) {
                    FetchResult r = Json.resultFromJson(rec.value());
                    if (r.id == null || !expected.containsKey(r.id)) {
                        continue;
                    }
                    if (seen.merge(r.id, 1, Integer::sum) > expected.get(r.id)) {
                        LOG.error("Second result for request {} ignored: {}", r.id, rec.value());
                        continue;
                    }
                    results.add(r);
                    progress.add(r);
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
                    } else if (System.nanoTime() - finishedAt > Duration.ofSeconds(30).toNanos()) {
                        throw new IllegalStateException(
                                "the job finished but only " + results.size() + " of " + total
                                        + " results arrived");
                    }
                }
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException(
                            "timed out after " + req.timeout() +  " with " + results.size() + " of " + total
                                    + " results; rerun the same command to resume");
                }
            }
        }
        progress.maybePrint(true);
        doneNanos = System.nanoTime();
        return results;
    }

    private void writeResultsFile(List<FetchResult> results) throws IOException {
        if (req.results() == null) {
            return;
        }
        Path target = req.results().toAbsolutePath();
        if (target.getParent() != null) {
            Files.createDirectories(target.getParent());
        }
        List<FetchResult> sorted = new ArrayList<>(results);
        sorted.sort(Comparator.comparingLong(LocalRun::lineOf).thenComparing(r -> r.id));
        Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
        try (BufferedWriter w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
            for (FetchResult r : sorted) {
                w.write(Json.toJson(r));
                w.write('\n');
            }
        }
        Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

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

    private Summary summarize(List<FetchResult> results) {
        int ok = 0;
        int nm = 0;
        int failed = 0;
        long bytes = 0;
        for (FetchResult r : results) {
            if (r.status == ResultStatus.OK) {
                ok++;
            } else if (r.status == ResultStatus.NOT_MODIFIED) {
                nm++;
            } else {
                failed++;
            }
            if (r.bytes != null && r.status == ResultStatus.OK) {
                bytes += r.bytes;
            }
        }
        long end = System.nanoTime();
        double secs = (end - startedNanos) / 1e9;
        long running = runningNanos == 0 ? end : runningNanos;
        long last = doneNanos == 0 ? end : doneNanos;
        return new Summary(
                results.size(),
                ok,
                nm,
                failed,
                bytes,
                secs,
                (running - startedNanos) / 1e9,
                Math.max(0, last - running) / 1e9,
                failed > 0 ? EXIT_FAILED : EXIT_OK);
    }

    // ---- files ------------------------------------------------------------------------------------------

    /** Staging beside the state when it shares the output's file system (atomic rename), else inside --out. */
    static Path stagingDir(Path stateDir, Path out) throws IOException {
        Path inState = stateDir.resolve("partial");
        Files.createDirectories(inState);
        if (Files.getFileStore(inState).equals(Files.getFileStore(out))) {
            return inState;
        }
        return out.resolve(".flowget-partial");
    }

    private static void deleteIfEmpty(Path dir) {
        try {
            Files.deleteIfExists(dir);
        } catch (IOException notEmpty) {
            LOG.warn("Staging directory {} is not empty after the run", dir);
        }
    }

    static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    private static String sha256(Path file) throws Exception {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        byte[] buf = new byte[64 * 1024];
        try (InputStream in = Files.newInputStream(file)) {
            int n;
            while ((n = in.read(buf)) > 0) {
                md.update(buf, 0, n);
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /** A usage problem (bad flags, unreadable input): exit 64. */
    public static final class UsageException extends RuntimeException {
        public UsageException(String message) {
            super(message);
        }
    }

    /** {@code <state-dir>/run.json}: what the last run in this state dir was and how far it got. */
    static final class RunState {
        final String inputSha256;
        final int requests;
        boolean produced;
        boolean complete;

        RunState(String inputSha256, int requests, boolean produced, boolean complete) {
            this.inputSha256 = inputSha256;
            this.requests = requests;
            this.produced = produced;
            this.complete = complete;
        }

        static RunState read(Path stateDir) throws IOException {
            Path f = stateDir.resolve("run.json");
            if (!Files.exists(f)) {
                return null;
            }
            try {
                JsonNode n = Json.readTree(Files.readString(f));
                return new RunState(
                        n.path("input_sha256").asText(),
                        n.path("requests").asInt(),
                        n.path("produced").asBoolean(),
                        n.path("complete").asBoolean());
            } catch (IOException e) {
                LOG.warn("Ignoring unreadable {}: {}", f, e.toString());
                return null;
            }
        }

        void write(Path stateDir) throws IOException {
            Map<String, Object> n = new LinkedHashMap<>();
            n.put("input_sha256", inputSha256);
            n.put("requests", requests);
            n.put("produced", produced);
            n.put("complete", complete);
            Path f = stateDir.resolve("run.json");
            Path tmp = stateDir.resolve("run.json.tmp");
            Files.writeString(tmp, Json.writer().writeValueAsString(n));
            Files.move(tmp, f, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        }
    }
}
