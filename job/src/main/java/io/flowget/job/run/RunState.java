package io.flowget.job.run;

import io.flowget.job.FileTrees;
import io.flowget.udf.json.Json;

import org.apache.flink.configuration.Configuration;

import com.fasterxml.jackson.databind.JsonNode;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * The resume protocol of {@code --state-dir}: {@code run.json} records the input's SHA-256, how far the run got
 * (input produced, run complete) and the run's Kafka names ({@link KafkaNames}: topics, transactional-id prefix,
 * group). A run of the same input over an unfinished one resumes it: it neither produces the input again nor
 * fetches finished requests again, but restores the job from its newest checkpoint, with the recorded Kafka names
 * (whether it runs cold or through a daemon). A finished run, or a different input, starts afresh: checkpoints and
 * partial files of the old run are deleted, and so is the broker's data when no broker runs on it
 * ({@code deleteBrokerData}: a cold run); a daemon's broker keeps running, and the run deletes the old run's topics
 * instead ({@link #staleNames()}). A fresh run on the embedded broker gets names of its own
 * ({@link KafkaNames#forRun}), so two runs through one broker never share a topic or a transactional id. A
 * {@code run.json} of an older build without names resumes with the configured names, which that build used.
 *
 * <p>State-dir layout: {@code run.json}, {@code input.txt} (the run's input, as staged), {@code kafka/} (embedded
 * broker), {@code checkpoints/}, {@code partial/} (staging, when on the output's file system).
 *
 * <p>Not thread-safe: owned by the thread that runs {@link LocalRun}. Every change is written through at once,
 * atomically (write, then rename), so a kill at any point leaves the previous or the new {@code run.json}.
 */
final class RunState {
    private static final Logger LOG = LoggerFactory.getLogger(RunState.class);
    private static final String RUN_FILE = "run.json";
    private static final String INPUT = "input.txt";

    private final Path dir;
    private final boolean resumed;
    private final String inputSha256;
    /** This run's Kafka names; null only in a {@code run.json} of an older build (then: the configured ones). */
    private KafkaNames names;
    /** A fresh run's predecessor's names, whose topics a shared broker still holds; null if none. */
    private KafkaNames staleNames;
    private int requests;
    private boolean produced;
    private boolean complete;

    private RunState(
            Path dir, boolean resumed, String inputSha256, int requests, boolean produced, boolean complete) {
        this.dir = dir;
        this.resumed = resumed;
        this.inputSha256 = inputSha256;
        this.requests = requests;
        this.produced = produced;
        this.complete = complete;
    }

    /**
     * Opens {@code dir} for a run of the staged input: resumes the unfinished run of the same input there (the staged
     * copy is dropped, the first run's {@code input.txt} is kept), or starts afresh (old run data deleted, the staged
     * copy becomes {@code input.txt}). Nothing is written to {@code run.json} until {@link #begin(int)}.
     */
    static RunState open(Path dir, InputStaging.Staged staged) throws IOException {
        return open(dir, staged, KafkaNames.configured(new Configuration()), false,
                true);
    }

    /**
     * As {@link #open(Path, InputStaging.Staged)}, with the run's Kafka names: a resumed run keeps the recorded ones
     * ({@code configured} when an older build recorded none); a fresh one takes {@code configured}, made its own by
     * {@link KafkaNames#forRun} when {@code perRunNames} (the embedded broker).
     *
     * @param deleteBrokerData a fresh run deletes {@code kafka/} (no broker runs on it yet: a cold run); else the
     *     old run's topics stay for the caller to delete ({@link #staleNames()})
     */
    static RunState open(
            Path dir, InputStaging.Staged staged, KafkaNames configured, boolean perRunNames,
            boolean deleteBrokerData) throws IOException {
        RunState previous = read(dir);
        if (previous != null && !previous.complete && staged.sha256().equals(previous.inputSha256)) {
            Files.deleteIfExists(staged.file());
            LOG.info("Resuming the unfinished run in {}", dir);
            RunState s = new RunState(dir, true, previous.inputSha256, previous.requests, previous.produced, false);
            s.names = previous.names != null ? previous.names : configured;
            return s;
        }
        if (previous != null) {
            LOG.info("Starting afresh in {} ({})", dir, previous.complete ? "previous run finished" : "different input");
        }
        if (deleteBrokerData) {
            FileTrees.delete(dir.resolve("kafka"));
        }
        FileTrees.delete(dir.resolve("checkpoints"));
        FileTrees.delete(dir.resolve("partial"));
        Files.move(staged.file(), dir.resolve(INPUT), StandardCopyOption.REPLACE_EXISTING);
        RunState s = new RunState(dir, false, staged.sha256(), 0, false, false);
        s.names = perRunNames ? configured.forRun(KafkaNames.newRunId()) : configured;
        if (previous != null && !deleteBrokerData) {
            s.staleNames = previous.names != null ? previous.names : configured;
        }
        return s;
    }

    /** This run's Kafka names (recorded in {@code run.json}). */
    KafkaNames names() {
        return names;
    }

    /**
     * The previous run's names when this one started afresh on a broker that keeps running (a daemon's): its topics
     * are to be deleted. Empty for a resumed run, a first run, or a cold one (its broker data went wholesale).
     */
    Optional<KafkaNames> staleNames() {
        return Optional.ofNullable(staleNames).filter(n -> !n.equals(names));
    }

    /** The run's input in the state dir. */
    Path input() {
        return dir.resolve(INPUT);
    }

    /** Lower-case hex SHA-256 of the run's input. */
    String inputSha256() {
        return inputSha256;
    }

    /** Whether this continues an unfinished run (then restore the job from its newest checkpoint). */
    boolean resumed() {
        return resumed;
    }

    /** Records the start of the run with its number of requests (a resumed run keeps its first record). */
    void begin(int requestCount) throws IOException {
        if (!resumed) {
            requests = requestCount;
        }
        write();
    }

    /** Whether the input's request events are on the requests topic (committed). */
    boolean produced() {
        return produced;
    }

    void markProduced() throws IOException {
        produced = true;
        write();
    }

    /** Every request has its result: the next run in this state dir starts afresh. */
    void markComplete() throws IOException {
        complete = true;
        write();
    }

    /**
     * Where files are staged while downloading: {@code partial/} in the state dir when it shares the output's file
     * system (so the final rename is atomic), else {@code .flowget-partial} inside {@code out}.
     */
    static Path stagingDir(Path stateDir, Path out) throws IOException {
        Path inState = stateDir.resolve("partial");
        Files.createDirectories(inState);
        if (Files.getFileStore(inState).equals(Files.getFileStore(out))) {
            return inState;
        }
        return out.resolve(".flowget-partial");
    }

    static RunState read(Path dir) throws IOException {
        Path f = dir.resolve(RUN_FILE);
        if (!Files.exists(f)) {
            return null;
        }
        try {
            JsonNode n = Json.readTree(Files.readString(f));
            RunState s = new RunState(
                    dir,
                    false,
                    n.path("input_sha256").asText(),
                    n.path("requests").asInt(),
                    n.path("produced").asBoolean(),
                    n.path("complete").asBoolean());
            s.names = KafkaNames.read(n.path("kafka"));
            return s;
        } catch (IOException e) {
            LOG.warn("Ignoring unreadable {}: {}", f, e.toString());
            return null;
        }
    }

    private void write() throws IOException {
        Map<String, Object> n = new LinkedHashMap<>();
        n.put("input_sha256", inputSha256);
        n.put("requests", requests);
        n.put("produced", produced);
        n.put("complete", complete);
        if (names != null) {
            n.put("kafka", names.toMap());
        }
        Path f = dir.resolve(RUN_FILE);
        Path tmp = dir.resolve(RUN_FILE + ".tmp");
        Files.writeString(tmp, Json.writer().writeValueAsString(n));
        Files.move(tmp, f, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
