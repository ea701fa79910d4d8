package io.flowget.job.embedded;

import io.flowget.job.FileTrees;

import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.configuration.ExternalizedCheckpointRetention;
import org.apache.flink.configuration.JobManagerOptions;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.RestOptions;
import org.apache.flink.configuration.SecurityOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.configuration.WebOptions;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.runtime.executiongraph.AccessExecutionGraph;
import org.apache.flink.runtime.jobgraph.JobGraph;
import org.apache.flink.runtime.jobmaster.JobResult;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.minicluster.MiniClusterConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.URI;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.Comparator;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A local Flink 2.2 MiniCluster for {@code flowget run} and {@code demo}: one TaskManager with {@code parallelism}
 * slots (or several TaskManagers, for failure experiments), RocksDB with incremental checkpoints under a
 * caller-given directory, checkpoints retained on cancellation,
 * REST on 127.0.0.1 at a random port, every Flink listener on loopback, and Flink's temp files under the caller's
 * state dir (PLATFORM-NOTES §3).
 *
 * <p>Usage, including a resume after a crash:
 *
 * <pre>{@code
 * try (EmbeddedFlink flink = EmbeddedFlink.start(conf, stateDir.resolve("checkpoints"), parallelism)) {
 *     Configuration jobConf = flink.configuration();
 *     EmbeddedFlink.latestCheckpoint(stateDir.resolve("checkpoints"))
 *             .ifPresent(chk -> jobConf.set(StateRecoveryOptions.SAVEPOINT_PATH, chk.toUri().toString()));
 *     StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(jobConf);
 *     ... build the pipeline ...
 *     JobID id = flink.submit(env);
 *     JobResult result = flink.await(id, Duration.ofHours(1));
 * }
 * }</pre>
 *
 * <p>Configuration precedence: the keys that make this a loopback, self-contained cluster are forced (checkpoint
 * storage and directory, retention RETAIN_ON_CANCELLATION, parallelism and slots, bind addresses, ports, temp
 * dirs). The state backend ({@code rocksdb}), incremental checkpoints ({@code true}), the checkpoint interval
 * (1 s), {@code pipeline.max-parallelism} ({@link #RUN_MAX_PARALLELISM}),
 * {@code security.delegation.tokens.enabled} ({@code false}) and the network memory
 * ({@code taskmanager.memory.network.min/max}: parallelism² MiB, 16 to 64) are defaults that {@code base} (e.g.
 * {@code conf/config.yaml} or {@code --set}) may override.
 *
 * <p>Checkpoint lifecycle: a job that is cancelled, fails, or is still running at {@link #close()} (suspended) keeps
 * its retained checkpoints under {@code <checkpointDir>/<jobId>/chk-N}; a job that FINISHES has them discarded by
 * Flink. A restore (via {@code execution.state-recovery.path}) uses claim mode NO_CLAIM by default, so the old
 * job's directory stays and is never deleted here; pruning it is the caller's decision.
 *
 * <p>Temp files: {@code io.tmp.dirs} (RocksDB working dirs, blobs, the MiniCluster working dir, the extracted RPC
 * jar) and the web upload dir live in a per-instance directory under {@code tmpRoot}, locked while this instance
 * runs and deleted by {@link #close()}. Directories left by a killed process (whose lock is free) are deleted at
 * the next start, so crashes do not pile up RocksDB copies.
 *
 * <p>Not thread-safe for start/close; submit, await, triggerCheckpoint and cancel may be called from any thread.
 */
public final class EmbeddedFlink implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(EmbeddedFlink.class);

    private static final String LOOPBACK = "127.0.0.1";
    /** Short on purpose: RocksDB paths below it are long (FLINK-31743 warns above 255 characters). */
    private static final String INSTANCE_PREFIX = "run-";
    private static final String LOCK_FILE = ".lock";
    private static final Pattern CHECKPOINT_DIR = Pattern.compile("chk-(\\d+)");
    private static final String METADATA_FILE = "_metadata";
    private static final Duration DEFAULT_CHECKPOINT_INTERVAL = Duration.ofSeconds(1);
    /**
     * Key groups of {@code run}'s state (issue 15: pinned, so a resume may use another {@code --parallelism}, up to
     * this). 128 is what Flink derived before it was pinned for every parallelism up to 85, so the state dirs of
     * earlier runs still restore.
     */
    public static final int RUN_MAX_PARALLELISM = 128;
    private static final Duration OPERATION_TIMEOUT = Duration.ofMinutes(2);

    private final MiniCluster miniCluster;
    private final Configuration configuration;
    private final Path instanceTmpDir;
    private final FileChannel lockChannel;
    private final FileLock lock;
    private boolean closed;

    private EmbeddedFlink(
            MiniCluster miniCluster,
            Configuration configuration,
            Path instanceTmpDir,
            FileChannel lockChannel,
            FileLock lock) {
        this.miniCluster = miniCluster;
        this.configuration = configuration;
        this.instanceTmpDir = instanceTmpDir;
        this.lockChannel = lockChannel;
        this.lock = lock;
    }

    /**
     * Starts a MiniCluster whose temp root is {@code <checkpointDir>/../flink-tmp}, i.e. beside the checkpoints
     * under the same state dir.
     *
     * @see #start(Configuration, Path, Path, int)
     */
    public static EmbeddedFlink start(Configuration base, Path checkpointDir, int parallelism) throws Exception {
        Path dir = checkpointDir.toAbsolutePath().normalize();
        return start(base, dir, dir.resolveSibling("flink-tmp"), parallelism);
    }

    /**
     * Starts a MiniCluster with one TaskManager of {@code parallelism} slots.
     *
     * @param base settings to start from (not modified); see the class comment for what is forced
     * @param checkpointDir where checkpoints go ({@code <checkpointDir>/<jobId>/chk-N}); created if missing
     * @param tmpRoot directory for this and later instances' temp dirs; created if missing
     * @param parallelism default parallelism and number of slots, at least 1
     */
    public static EmbeddedFlink start(Configuration base, Path checkpointDir, Path tmpRoot, int parallelism)
            throws Exception {
        return start(base, checkpointDir, tmpRoot, parallelism, 1);
    }

    /**
     * Starts a MiniCluster with {@code taskManagers} TaskManagers that together hold {@code parallelism} slots
     * (each gets {@code ceil(parallelism / taskManagers)}). Several TaskManagers are for failure experiments:
     * {@link #terminateTaskManager(int)} takes one away, {@link #startTaskManager()} adds a replacement.
     */
    public static EmbeddedFlink start(
            Configuration base, Path checkpointDir, Path tmpRoot, int parallelism, int taskManagers)
            throws Exception {
        if (parallelism < 1) {
            throw new IllegalArgumentException("parallelism must be >= 1, got " + parallelism);
        }
        if (taskManagers < 1) {
            throw new IllegalArgumentException("taskManagers must be >= 1, got " + taskManagers);
        }
        int slotsPerTaskManager = (parallelism + taskManagers - 1) / taskManagers;
        Path checkpoints = checkpointDir.toAbsolutePath().normalize();
        Path root = tmpRoot.toAbsolutePath().normalize();
        Files.createDirectories(checkpoints);
        Files.createDirectories(root);
        deleteAbandonedInstances(root);

        Path instanceTmp = Files.createDirectory(
                root.resolve(INSTANCE_PREFIX + UUID.randomUUID().toString().substring(0, 8)));
        FileChannel lockChannel = FileChannel.open(
                instanceTmp.resolve(LOCK_FILE), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        FileLock lock = lockChannel.lock();

        MiniCluster miniCluster = null;
        try {
            Configuration conf = clusterConfiguration(base, checkpoints, instanceTmp, parallelism, slotsPerTaskManager);
            MiniClusterConfiguration clusterConf = new MiniClusterConfiguration.Builder()
                    .setConfiguration(conf)
                    .setNumTaskManagers(taskManagers)
                    .setNumSlotsPerTaskManager(slotsPerTaskManager)
                    .setCommonBindAddress(LOOPBACK)
                    .withRandomPorts()
                    .build();
            miniCluster = new MiniCluster(clusterConf);
            miniCluster.start();
            URI rest = miniCluster.getRestAddress().get(OPERATION_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            LOG.info("Embedded Flink started: parallelism {}, REST {}, checkpoints in {}", parallelism, rest, checkpoints);
            return new EmbeddedFlink(miniCluster, conf, instanceTmp, lockChannel, lock);
        } catch (Exception | Error e) {
            if (miniCluster != null) {
                try {
                    miniCluster.close();
                } catch (Exception suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            releaseAndDelete(instanceTmp, lockChannel, lock);
            throw e;
        }
    }

    /**
     * A copy of the configuration the cluster runs with, for {@code StreamExecutionEnvironment
     * .getExecutionEnvironment(conf)}: it carries the state backend and checkpoint settings into the job graph. Set
     * {@link StateRecoveryOptions#SAVEPOINT_PATH} on it to restore.
     */
    public Configuration configuration() {
        return new Configuration(configuration);
    }

    /** Address of the REST endpoint (Web UI when flink-runtime-web is on the class path). */
    public URI restAddress() throws Exception {
        return miniCluster.getRestAddress().get(OPERATION_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Turns the environment's pipeline into a job graph and submits it; returns at once with the job's id. */
    public JobID submit(StreamExecutionEnvironment env) throws Exception {
        JobGraph jobGraph = env.getStreamGraph().getJobGraph();
        JobID id = get(miniCluster.submitJob(jobGraph), OPERATION_TIMEOUT).getJobID();
        LOG.info("Submitted job {} ({}), restore from {}",
                jobGraph.getName(), id, jobGraph.getSavepointRestoreSettings().getRestorePath());
        return id;
    }

    /**
     * Waits up to {@code timeout} for the job to reach a terminal state. The result tells success
     * ({@link JobResult#isSuccess()}), or the failure ({@link JobResult#getSerializedThrowable()}, or
     * {@code toJobExecutionResult(classLoader)} which throws it).
     *
     * @throws TimeoutException if the job is still running after {@code timeout}
     */
    public JobResult await(JobID jobId, Duration timeout) throws Exception {
        return get(miniCluster.requestJobResult(jobId), timeout);
    }

    /** The job's current status. */
    public JobStatus status(JobID jobId) throws Exception {
        return get(miniCluster.getJobStatus(jobId), OPERATION_TIMEOUT);
    }

    /**
     * Triggers a checkpoint and waits until it has completed.
     *
     * @return its external pointer, the {@code file:} URI of the {@code chk-N} directory
     */
    public String triggerCheckpoint(JobID jobId) throws Exception {
        return get(miniCluster.triggerCheckpoint(jobId), OPERATION_TIMEOUT);
    }

    /** Triggers a checkpoint without waiting; the future completes with its external pointer. */
    public CompletableFuture<String> triggerCheckpointAsync(JobID jobId) {
        return miniCluster.triggerCheckpoint(jobId);
    }

    /**
     * Stops the job with a canonical savepoint under {@code dir} (without draining: nothing is finished, the
     * in-flight work stays in the savepoint) and waits until it has ended; returns the savepoint's path.
     */
    public String stopWithSavepoint(JobID jobId, Path dir) throws Exception {
        String path = get(
                miniCluster.stopWithSavepoint(jobId, dir.toUri().toString(), false, SavepointFormatType.CANONICAL),
                OPERATION_TIMEOUT);
        await(jobId, OPERATION_TIMEOUT);
        LOG.info("Job {} stopped with savepoint {}", jobId, path);
        return path;
    }

    /** Cancels the job and waits until it is terminal. Its retained checkpoints stay. */
    public void cancel(JobID jobId) throws Exception {
        get(miniCluster.cancelJob(jobId), OPERATION_TIMEOUT);
        JobResult result = await(jobId, OPERATION_TIMEOUT);
        LOG.info("Job {} ended with {}", jobId, result.getApplicationStatus());
    }

    /**
     * Stops the TaskManager with this index (0-based, in start order) and waits until it is gone: its tasks fail
     * and the job fails over under its restart strategy. Indices are never reused. For failure experiments.
     */
    public void terminateTaskManager(int index) throws Exception {
        get(miniCluster.terminateTaskManager(index), OPERATION_TIMEOUT);
        LOG.info("TaskManager {} terminated", index);
    }

    /** Starts one more TaskManager (the next index), with the same slots as the others. */
    public void startTaskManager() throws Exception {
        miniCluster.startTaskManager();
        LOG.info("TaskManager started");
    }

    /** The job's execution graph (status timestamps, restarts, checkpoint statistics), for experiments. */
    public AccessExecutionGraph executionGraph(JobID jobId) throws Exception {
        return get(miniCluster.getExecutionGraph(jobId), OPERATION_TIMEOUT);
    }

    /** How many checkpoints of the job have completed so far (its checkpoint statistics), for experiments. */
    public long completedCheckpoints(JobID jobId) throws Exception {
        return executionGraph(jobId).getCheckpointStatsSnapshot().getCounts().getNumberOfCompletedCheckpoints();
    }

    /**
     * The newest completed checkpoint under {@code checkpointDir}, across all job ids: the {@code <jobId>/chk-N}
     * directory holding a {@code _metadata} file, newest by that file's modification time, then by N. Use it as
     * {@code execution.state-recovery.path}. Flink writes {@code _metadata} once all of the checkpoint's state is
     * persisted, through a temp file and a rename, so its presence marks a complete checkpoint.
     *
     * @return empty if the directory is missing or holds no completed checkpoint
     */
    public static Optional<Path> latestCheckpoint(Path checkpointDir) throws IOException {
        if (!Files.isDirectory(checkpointDir)) {
            return Optional.empty();
        }
        Comparator<Candidate> newest = Comparator.comparing(Candidate::modified).thenComparingLong(Candidate::id);
        Candidate best = null;
        try (DirectoryStream<Path> jobs = Files.newDirectoryStream(checkpointDir, Files::isDirectory)) {
            for (Path job : jobs) {
                try (DirectoryStream<Path> checkpoints = Files.newDirectoryStream(job, Files::isDirectory)) {
                    for (Path chk : checkpoints) {
                        Matcher m = CHECKPOINT_DIR.matcher(chk.getFileName().toString());
                        Path metadata = chk.resolve(METADATA_FILE);
                        if (!m.matches() || !Files.isRegularFile(metadata)) {
                            continue;
                        }
                        FileTime modified;
                        try {
                            modified = Files.getLastModifiedTime(metadata);
                        } catch (IOException e) {
                            continue; // deleted concurrently (subsumed by a newer checkpoint)
                        }
                        Candidate c = new Candidate(chk, Long.parseLong(m.group(1)), modified);
                        if (best == null || newest.compare(c, best) > 0) {
                            best = c;
                        }
                    }
                }
            }
        }
        return Optional.ofNullable(best).map(Candidate::dir);
    }

    /**
     * Stops the MiniCluster (running jobs are suspended, their retained checkpoints stay) and deletes this
     * instance's temp dir. Idempotent.
     */
    @Override
    public void close() throws Exception {
        if (closed) {
            return;
        }
        closed = true;
        try {
            miniCluster.close();
        } finally {
            releaseAndDelete(instanceTmpDir, lockChannel, lock);
        }
        LOG.info("Embedded Flink stopped");
    }

    // ---- internals -------------------------------------------------------------------------------

    private static Configuration clusterConfiguration(
            Configuration base, Path checkpointDir, Path instanceTmp, int parallelism, int slotsPerTaskManager)
            throws IOException {
        Configuration conf = new Configuration(base);
        setIfAbsent(conf, StateBackendOptions.STATE_BACKEND, "rocksdb");
        setIfAbsent(conf, CheckpointingOptions.INCREMENTAL_CHECKPOINTS, true);
        setIfAbsent(conf, CheckpointingOptions.CHECKPOINTING_INTERVAL, DEFAULT_CHECKPOINT_INTERVAL);
        setIfAbsent(conf, PipelineOptions.MAX_PARALLELISM, RUN_MAX_PARALLELISM);
        // No Kerberos/Hadoop here; the token manager would only log "No tokens obtained" warnings.
        setIfAbsent(conf, SecurityOptions.DELEGATION_TOKENS_ENABLED, false);
        // The MiniCluster reserves 64 MiB of network buffers (direct memory, allocated and zeroed at start, so all of
        // it resident) whatever the job. flowget's job has three all-to-all edges: about 3p(3p+9) buffers of 32 KiB
        // at parallelism p (90 at 2, 792 at 8), so p^2 MiB (at least 16, at most the old 64) leaves twice that or
        // more. Issue 16: 48 MiB less resident memory for a run on 2 cores.
        MemorySize network = MemorySize.ofMebiBytes(Math.min(64, Math.max(16, (long) parallelism * parallelism)));
        setIfAbsent(conf, TaskManagerOptions.NETWORK_MEMORY_MIN, network);
        setIfAbsent(conf, TaskManagerOptions.NETWORK_MEMORY_MAX, network);

        conf.set(CheckpointingOptions.CHECKPOINT_STORAGE, "filesystem");
        conf.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, checkpointDir.toUri().toString());
        conf.set(CheckpointingOptions.EXTERNALIZED_CHECKPOINT_RETENTION,
                ExternalizedCheckpointRetention.RETAIN_ON_CANCELLATION);
        conf.set(CoreOptions.DEFAULT_PARALLELISM, parallelism);
        conf.set(TaskManagerOptions.NUM_TASK_SLOTS, slotsPerTaskManager);

        // Loopback only: REST, blob server, TaskManager data/RPC endpoints.
        conf.set(RestOptions.ADDRESS, LOOPBACK);
        conf.set(RestOptions.BIND_ADDRESS, LOOPBACK);
        conf.set(RestOptions.BIND_PORT, "0");
        conf.set(JobManagerOptions.ADDRESS, LOOPBACK);
        conf.set(JobManagerOptions.BIND_HOST, LOOPBACK);
        conf.set(TaskManagerOptions.HOST, LOOPBACK);
        conf.set(TaskManagerOptions.BIND_HOST, LOOPBACK);

        // Temp files under the state dir, not java.io.tmpdir (PLATFORM-NOTES §3: killed JVMs leave them behind).
        Path web = Files.createDirectories(instanceTmp.resolve("web"));
        conf.set(CoreOptions.TMP_DIRS, instanceTmp.toString());
        conf.set(WebOptions.TMP_DIR, web.toString());
        return conf;
    }

    private static <T> void setIfAbsent(Configuration conf, ConfigOption<T> option, T value) {
        if (!conf.contains(option)) {
            conf.set(option, value);
        }
    }

    private static <T> T get(CompletableFuture<T> future, Duration timeout) throws Exception {
        try {
            return future.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof Exception) {
                throw (Exception) cause;
            }
            throw e;
        }
    }

    /** Deletes sibling instance dirs whose lock is free: their process is gone (killed or crashed). */
    private static void deleteAbandonedInstances(Path root) throws IOException {
        try (DirectoryStream<Path> dirs = Files.newDirectoryStream(root, INSTANCE_PREFIX + "*")) {
            for (Path dir : dirs) {
                if (!Files.isDirectory(dir) || isLockedByLiveProcess(dir)) {
                    continue;
                }
                LOG.info("Deleting temp dir {} left by an earlier run", dir);
                FileTrees.delete(dir);
            }
        }
    }

    private static boolean isLockedByLiveProcess(Path dir) {
        Path lockFile = dir.resolve(LOCK_FILE);
        if (!Files.exists(lockFile)) {
            return false;
        }
        try (FileChannel ch = FileChannel.open(lockFile, StandardOpenOption.WRITE)) {
            FileLock probe = ch.tryLock();
            if (probe == null) {
                return true;
            }
            probe.release();
            return false;
        } catch (OverlappingFileLockException e) {
            return true; // held by another instance in this JVM
        } catch (IOException e) {
            return true; // cannot tell: leave it
        }
    }

    private static void releaseAndDelete(Path dir, FileChannel channel, FileLock lock) {
        try {
            lock.release();
            channel.close();
        } catch (IOException e) {
            LOG.debug("Could not release {}", dir, e);
        }
        try {
            FileTrees.delete(dir);
        } catch (IOException e) {
            LOG.warn("Could not delete temp dir {}: {}", dir, e.toString());
        }
    }

    private record Candidate(Path dir, long id, FileTime modified) {}
}
