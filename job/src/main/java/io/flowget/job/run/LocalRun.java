package io.flowget.job.run;

import io.flowget.job.FileTrees;
import io.flowget.job.FlowgetJob;
import io.flowget.job.JobOptions;
import io.flowget.job.daemon.DaemonFiles;
import io.flowget.job.embedded.EmbeddedFlink;
import io.flowget.job.kafka.KafkaClients;
import io.flowget.job.kafka.KafkaProperties;
import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.storage.PublishAtCommit;

import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.ExecutionOptions;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.function.Consumer;

/**
 * The steps of {@code flowget run}: downloads a URL list on an embedded Kafka broker (or a given one) and a local
 * MiniCluster, with crash-safe resume, and returns once every request has its terminal result.
 *
 * <p>Steps: copy the input into the state dir and fingerprint it; produce one request event per line to the
 * requests topic in a single Kafka transaction (key {@code line-N}, so the default id is the line's position);
 * run the job, restoring from the newest retained checkpoint when the previous run with the same input
 * died; read the results topic (read_committed) from the start, writing {@code --results} and the progress
 * line; once every request has its committed result, stop the job and return the totals (the command line
 * prints them and exits with the contract's status).
 *
 * <p>The job's source is unbounded on purpose, and the run ends by cancelling the job, not by the job finishing.
 * With a bounded source the requests topic is read to its end within a second, the fetch operator's
 * {@code finish()} then waits for the whole batch, and a task inside {@code finish()} takes no checkpoint: no
 * checkpoint would complete until the batch is done, so results would become visible only at the end, a crash
 * would lose all progress, and a drain longer than {@code flowget.kafka.transaction-timeout} would have its
 * results transaction aborted by the broker ({@code ChaosNetworkITCase}, {@code ChaosProcessKillITCase}).
 *
 * <p>This class holds the steps; each has its own class: {@link InputStaging} (input copy and produce),
 * {@link RunState} (the resume protocol in {@code --state-dir}), {@link ResultCollector} (results topic and
 * {@code --results}), {@link RunSummary} (totals and the summary line). Flags are checked by the command line
 * before it calls {@link #execute()}; exit statuses are the command line's too ({@code io.flowget.job.cli}).
 *
 * <p>Long-lived and per-run parts: the broker, the MiniCluster and the state dir's lock are {@link RunServices}. A
 * cold run takes the state dir's lock ({@link StateDirLock}), starts its own services and closes them before it
 * returns; a run through a daemon ({@link #LocalRun(Request, PrintStream, RunServices)}) uses the daemon's and
 * leaves them running. Either way a run has its own job, its own {@link RunState} (resume or afresh) and its own
 * Kafka names ({@link KafkaNames}, recorded in {@code run.json}).
 *
 * <p>Not thread-safe: one instance per run, executed once on the caller's thread; {@link #abort()} may be called
 * from any thread.
 */
public final class LocalRun {
    private static final Logger LOG = LoggerFactory.getLogger(LocalRun.class);

    /**
     * What the command line asked for (flags already checked).
     *
     * @param urls the input file, or null to read {@code stdin}
     * @param stateDir must not lie inside {@code out}
     * @param bootstrapServers a Kafka to use, or null to start an embedded broker in the state dir
     * @param interactive stdout is a terminal (live progress line unless {@code quiet}; else a periodic one in
     *     the log, on stderr)
     * @param timeout give up waiting for the results after this long
     */
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

    /** Why a state dir inside the output dir is refused. */
    public static final String STATE_DIR_INSIDE_OUT =
            "--state-dir must not lie inside --out (only finished files go there)";

    /** Longest wait for the last files to be renamed into place once every result has committed. */
    private static final Duration PUBLISH_WAIT = Duration.ofSeconds(30);

    /** {@code execution.buffer-timeout.interval} of a run's job unless set (see {@link #runConfiguration}). */
    static final Duration RUN_BUFFER_TIMEOUT = Duration.ofMillis(10);

    /** How long a daemon's HTTP client outlives a run unless {@code flowget.http.client-linger} is set. */
    public static final Duration DAEMON_CLIENT_LINGER = Duration.ofMinutes(5);

    /** How long files may wait for a commit notification before one more checkpoint is triggered for them. */
    private static final Duration NOTIFY_GRACE = Duration.ofMillis(500);

    private final Request req;
    private final PrintStream stdout;
    private final long startedNanos = System.nanoTime();
    /** A daemon's services this run uses and leaves running; null: a cold run starts its own. */
    private final RunServices shared;
    /** A run on shared services in a state dir of its own ({@link #inScratch}). */
    private final boolean scratch;
    private boolean exitFollows;
    /** Called once every result is in (daemon: the client's answer goes out before the job is cancelled). */
    private Consumer<RunSummary> beforeStop;
    private volatile boolean aborted;
    private volatile EmbeddedFlink abortCluster;
    private volatile JobID abortJob;
    private boolean exitByKill;
    private boolean killable;

    public LocalRun(Request req, PrintStream stdout) {
        this(req, stdout, null);
    }

    /**
     * A run on {@code shared} services (a daemon's): its own job, {@link RunState} and Kafka names; the services stay
     * up after it. {@code req.parallelism()} and {@code req.bootstrapServers()} are the services' business and not
     * read.
     */
    public LocalRun(Request req, PrintStream stdout, RunServices shared) {
        this(req, stdout, shared, false);
    }

    private LocalRun(Request req, PrintStream stdout, RunServices shared, boolean scratch) {
        this.req = req;
        this.stdout = stdout;
        this.shared = shared;
        this.scratch = scratch;
    }

    /**
     * A run on {@code shared} services whose state dir ({@code req.stateDir()}) is not the services' one: a scratch
     * dir its caller owns and deletes (the daemon's warm-up, {@code io.flowget.job.daemon.DaemonWarmUp}). Everything
     * a run keeps stays in that dir: {@code run.json}, the input copy, the staging dir and the job's checkpoints (the
     * job is told to checkpoint under {@code <req.stateDir()>/checkpoints}, not the cluster's dir, so a user's
     * resume never finds them). Its Kafka names are its own ({@link KafkaNames#forRun}) as for any run on the
     * embedded broker; a completed run deletes its topics, an aborted one leaves them to the caller
     * ({@link #kafkaTopics(Path)}).
     */
    public static LocalRun inScratch(Request req, PrintStream stdout, RunServices shared) {
        return new LocalRun(req, stdout, java.util.Objects.requireNonNull(shared), true);
    }

    /** The topics of the run recorded in {@code stateDir} ({@code run.json}); empty when none is recorded. */
    public static List<String> kafkaTopics(Path stateDir) throws IOException {
        RunState s = RunState.read(stateDir);
        return s == null || s.names() == null ? List.of() : s.names().topics();
    }

    /**
     * The caller ends the JVM as soon as {@link #execute()} returns (the command line's {@code main}). A run that
     * completed on the embedded broker then skips what only a later reader of the broker would need: the extra
     * checkpoint that commits the dead-letter sink's last transaction, and the orderly stop of the broker and the
     * MiniCluster (the job is still cancelled, which closes RocksDB and the Kafka clients). Nothing in them can be
     * read afterwards anyway: the next run in the state dir starts afresh and deletes the broker's data and the
     * checkpoints, and the MiniCluster's temp dir is deleted by the next start. With {@code --bootstrap-servers},
     * or when the run did not complete, the full shutdown runs as before. Ignored on shared services.
     *
     * @param byKill the process ends by a kill ({@code ProcessExit} in the command line), not by the JVM's exit: then
     *     the job is not cancelled either (see {@link #processMayBeKilled()})
     */
    public void exitFollows(boolean byKill) {
        this.exitFollows = true;
        this.exitByKill = byKill;
    }

    /**
     * True once {@link #execute()} has returned a completed run on the embedded broker with {@code exitFollows(true)}:
     * every result is committed and in {@code --results}, every file published (and synced by its checkpoint's group
     * commit), the state dir marked complete. The job was left running: nothing in it or in the broker can be read
     * any more, and the next run in the state dir deletes what they leave. The process may then be killed instead of
     * waiting for the JVM's exit (issue 16: 0.3-0.45 s of HotSpot waiting for threads in native calls, plus the
     * job's cancel, 0.2-0.4 s).
     */
    public boolean processMayBeKilled() {
        return killable;
    }

    /**
     * On shared services: {@code reply} gets the summary as soon as every result is committed, the files are
     * published, {@code --results} is rewritten and the run is marked complete — before the job is cancelled and
     * the staging dir tidied, which {@link #execute()} does after it (so the next run on the services starts clean).
     */
    public void beforeStop(Consumer<RunSummary> reply) {
        this.beforeStop = reply;
    }

    /**
     * Ends the run from another thread (a daemon whose client went away): its job is cancelled, {@link #execute()}
     * fails, and the state dir holds a resumable run, as after a killed cold run (checkpoints are retained on
     * cancellation). Safe to call at any time, also before the job exists or after the run ended.
     */
    public void abort() {
        aborted = true;
        EmbeddedFlink f = abortCluster;
        JobID j = abortJob;
        if (f != null && j != null) {
            try {
                f.cancel(j);
            } catch (Exception e) {
                LOG.info("Cancelling job {} of an aborted run: {}", j, e.toString());
            }
        }
    }

    /**
     * Runs to the end: every request has its result in the results topic and in {@code --results}.
     *
     * @throws IllegalArgumentException if the state dir lies inside the output dir, or the input is a directory
     * @throws StateDirLock.InUse if another process holds the state dir (cold runs only)
     * @throws IllegalStateException if the job failed, or the results did not all arrive in time (rerun to resume)
     */
    public RunSummary execute() throws Exception {
        step("started");
        Path stateDir = req.stateDir().toAbsolutePath().normalize();
        Path out = req.out().toAbsolutePath().normalize();
        if (stateDirInsideOut(stateDir, out)) {
            throw new IllegalArgumentException(STATE_DIR_INSIDE_OUT);
        }
        if (shared != null && !scratch && !shared.stateDir().equals(stateDir)) {
            throw new IllegalArgumentException("these services hold " + shared.stateDir() + ", not " + stateDir);
        }
        // the lock first: a refused run leaves no trace, not even --out
        StateDirLock lock = shared == null ? StateDirLock.acquire(stateDir, StateDirLock.Kind.RUN) : null;
        boolean lockHandedOver = false;
        try {
            Files.createDirectories(out);
            if (lock != null) { // a killed daemon's pointer and socket: it is gone (we hold its state dir)
                DaemonFiles.read(stateDir).map(DaemonFiles.Pointer::socket)
                        .filter(socket -> socket.equals(DaemonFiles.socketPath(stateDir)))
                        .ifPresent(LocalRun::deleteQuietly);
                Files.deleteIfExists(stateDir.resolve(StateDirLock.DAEMON_POINTER));
            }
            boolean embedded = shared != null ? shared.embeddedBroker() : req.bootstrapServers() == null;
            RunState state = RunState.open(stateDir, InputStaging.stage(req.urls(), req.stdin(), stateDir),
                    KafkaNames.configured(req.settings()), embedded, shared == null);
            List<InputStaging.Line> lines = InputStaging.read(state.input());
            state.begin(lines.size());
            step("input staged, run state open");
            Configuration conf = runConfiguration(req.settings(), state.names(), stateDir, out, lines.size());
            // busy hosts over several Fetch subtasks, unless set (the job runs at the services' parallelism)
            BusyHosts.spread(conf, lines, shared != null ? shared.parallelism() : req.parallelism());
            if (embedded) {
                conf = KafkaProperties.without(conf); // the embedded broker is plain text on loopback
            }
            RunServices services = shared != null
                    ? shared
                    : RunServices.beginCold(stateDir, conf, req.parallelism(), req.bootstrapServers(), lock);
            lockHandedOver = true;
            return execute(services, state, lines, conf, stateDir);
        } finally {
            if (lock != null && !lockHandedOver) {
                lock.close();
            }
        }
    }

    /** The run's configuration: the request's settings plus what {@code run} decides for a local batch. */
    static Configuration runConfiguration(
            Configuration settings, KafkaNames names, Path stateDir, Path out, int requests) throws IOException {
        Configuration conf = new Configuration(settings);
        conf.set(FlowgetOptions.STORAGE_OUT_DIR, out.toString());
        if (!conf.contains(FlowgetOptions.STORAGE_STAGING_DIR)) {
            conf.set(FlowgetOptions.STORAGE_STAGING_DIR, RunState.stagingDir(stateDir, out).toString());
        }
        names.applyTo(conf);
        if (!conf.contains(CheckpointingOptions.ENABLE_UNALIGNED)) {
            // Results become visible only when a checkpoint commits them. The source reads the whole input at once,
            // so an aligned barrier waits behind every request buffered in front of the fetch operator, each one
            // written into RocksDB state before the next (~20 us; before issue 12's non-blocking admission the
            // first checkpoint of a 20k run took 3-13 s). An unaligned barrier overtakes them; the buffered requests
            // go into the checkpoint and are replayed on restore. first_result_s in the summary line shows the
            // effect per run.
            conf.set(CheckpointingOptions.ENABLE_UNALIGNED, true);
        }
        if (!conf.contains(ExecutionOptions.BUFFER_TIMEOUT)) {
            // Flink sends a partly filled network buffer after at most this long (default 100 ms). A run's first
            // requests and its last results are a few records each, which then waited up to that long on each of the
            // two network edges (source -> Fetch, Fetch -> results sink): at the start before the first request, at
            // the end before the tail checkpoint could be triggered (issue 16).
            conf.set(ExecutionOptions.BUFFER_TIMEOUT, RUN_BUFFER_TIMEOUT);
        }
        if (!conf.contains(FlowgetOptions.NET_POSTURE)) {
            // One user's own downloads: local origins are what `run` and `demo` are often for. The service
            // (`flowget job`) keeps the option's SERVICE default.
            conf.set(FlowgetOptions.NET_POSTURE, FlowgetOptions.NetPosture.LOCAL);
        }
        // A batch is known in full, so none of its requests is ever refused as 'queue full': the backlog bounds
        // protect the service from a flood; here the whole input may wait in RocksDB.
        for (var bound : List.of(FlowgetOptions.FETCH_MAX_BACKLOG, FlowgetOptions.FETCH_MAX_HOST_BACKLOG)) {
            if (!conf.contains(bound)) {
                conf.set(bound, Math.max(conf.get(bound), requests));
            }
        }
        return conf;
    }

    /**
     * A daemon's run keeps its HTTP client and idle connections for the next run ({@code flowget.http.client-linger}
     * {@link #DAEMON_CLIENT_LINGER} unless set; issue 16: a 5,000-file run opened ~600 connections); its warm-up's
     * rounds close theirs (their connections go to the warm-up's own origin, which ends with the round).
     */
    static void keepHttpClient(Configuration jobConf, boolean warmUp) {
        if (warmUp) {
            jobConf.set(FlowgetOptions.HTTP_CLIENT_LINGER, Duration.ZERO);
        } else if (!jobConf.contains(FlowgetOptions.HTTP_CLIENT_LINGER)) {
            jobConf.set(FlowgetOptions.HTTP_CLIENT_LINGER, DAEMON_CLIENT_LINGER);
        }
    }

    /** The per-run steps on started (or starting) services. */
    private RunSummary execute(
            RunServices services, RunState state, List<InputStaging.Line> lines, Configuration conf, Path stateDir)
            throws Exception {
        Properties kafkaProps = KafkaProperties.of(conf);
        // Start-up overlap: the topics and the input go to the broker on their own thread (once it is up) while
        // this thread starts the MiniCluster (a cold run's; a daemon's runs already).
        InputPrep prep = InputPrep.begin(services, kafkaProps, conf, state, lines);
        EmbeddedFlink flink = null;
        JobID job = null;
        boolean jobEnded = false;
        boolean leftToExit = false;
        try {
            if (lines.isEmpty()) {
                prep.await();
                state.markComplete();
                ResultCollector.writeResultsFile(req.results(), List.of());
                return RunSummary.of(List.of(), startedNanos, 0, 0, 0);
            }

            Path checkpoints = stateDir.resolve("checkpoints");
            FetchGauges gauges = services.gauges();
            flink = services.cluster();
            if (conf.get(JobOptions.RUN_WEB_UI)) {
                stdout.println("flowget: Flink Web UI at " + flink.restAddress() + "/ (while the run lasts)");
            }
            Configuration jobConf = flink.configuration();
            if (shared != null) {
                jobConf.addAll(conf); // the run's own job-level settings (cluster-shaping ones match, see Daemon)
                keepHttpClient(jobConf, scratch);
            }
            Optional<Path> restore =
                    state.resumed() ? EmbeddedFlink.latestCheckpoint(checkpoints) : Optional.empty();
            restore.ifPresent(chk -> {
                jobConf.set(StateRecoveryOptions.SAVEPOINT_PATH, chk.toUri().toString());
                LOG.info("Restoring from checkpoint {}", chk);
            });
            if (scratch) {
                // the scratch dir's own checkpoints: never under the cluster's dir, where a user's run resumes from
                jobConf.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, checkpoints.toUri().toString());
            }
            jobConf.set(PipelineOptions.NAME, scratch ? "flowget daemon warm-up" : "flowget run");
            // The job graph is built while the topics are created (its broker check needs only the broker), and the
            // job is submitted as soon as they exist: its deployment overlaps the input's produce, whose records the
            // source reads once their transaction commits (read_committed). Issue 16: topics, produce and graph one
            // after the other were 0.3-0.8 s of a daemon run's start.
            String servers = services.servers();
            jobConf.set(JobOptions.KAFKA_BOOTSTRAP_SERVERS, servers);
            StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(jobConf);
            // Unbounded: see the class comment. A checkpoint restored here was written by an unbounded job too.
            FlowgetJob.kafka(jobConf, false).build(env);
            step("job graph built");
            prep.awaitTopics();
            step("topics on the broker");
            if (aborted) {
                throw new IllegalStateException("the run was aborted before its job started; rerun to resume");
            }
            job = flink.submit(env);
            step("job submitted");
            abortCluster = flink;
            abortJob = job;
            if (aborted) {
                abort();
            }

            Progress.Mode mode = req.quiet()
                    ? Progress.Mode.OFF
                    : req.interactive() ? Progress.Mode.LIVE : Progress.Mode.PERIODIC;
            prep.await(); // the input is committed on the requests topic (or its produce failed: the job is cancelled)
            step("input on the broker");
            ResultCollector collector = new ResultCollector(lines, mode, stdout, req.timeout(), gauges::totals);
            collector.appendTo(req.results(), state.resumed());
            String resultsTopic = conf.get(JobOptions.KAFKA_RESULTS_TOPIC);
            List<FetchResult> results;
            try (TailCheckpoint tail = TailCheckpoint.start(lines, servers, kafkaProps, resultsTopic, flink, job)) {
                results = collector.collect(servers, kafkaProps, resultsTopic, flink, job);
            }
            step("all results committed");
            if (conf.get(JobOptions.RUN_MEMORY_REPORT)) {
                stdout.println(MemoryReport.take()); // while broker, cluster and job still hold their memory
            }
            boolean disposable = shared == null && exitFollows && services.embeddedBroker();
            if (deadLettersOutliveRun(shared != null, services.embeddedBroker(), disposable)) {
                // Every result is committed. One more completed checkpoint lets the dead-letter sink commit its
                // transaction of the same checkpoint too (its commit notification precedes this trigger).
                flink.triggerCheckpoint(job);
            }
            Path staging = Path.of(conf.get(FlowgetOptions.STORAGE_STAGING_DIR));
            awaitPublished(flink, job, staging);
            step("files published");
            if (beforeStop != null) {
                // A daemon's client gets its answer now; the job's cancel and the tidying follow, before the next run.
                state.markComplete();
                collector.writeCollected(req.results(), results);
                LOG.debug("Results file written");
                beforeStop.accept(RunSummary.of(
                        results, startedNanos, collector.runningNanos(), collector.doneNanos(), collector.firstNanos()));
                step("client answered");
            }
            if (disposable && exitByKill) {
                LOG.info("All files published; the job ends with the process");
            } else {
                LOG.info("All files published; cancelling the job");
                flink.cancel(job);
                jobEnded = true;
            }
            if (shared != null && services.embeddedBroker()) {
                // Complete: nothing resumes this run, so its topics go now, after the client's answer, instead of at
                // the start of the next run (0.2-0.3 s of it on two loaded cores).
                deleteTopics(servers, kafkaProps, state.names().topics());
            }
            if (beforeStop != null && jobEnded) {
                // Complete (marked before the answer) and its job ended: nothing resumes from its checkpoints, and the
                // next run in the state dir would delete them before it starts (issue 16: part of the 0.06-0.26 s from
                // a daemon run's start to its staged input).
                deleteCheckpoints(checkpoints);
            }
            if (beforeStop == null) {
                state.markComplete();
                collector.writeCollected(req.results(), results);
                LOG.debug("Results file written");
            }
            PublishAtCommit.deleteEmptyReadyDirs(staging);
            deleteIfEmpty(staging);
            if (disposable) {
                leftToExit = true;
                killable = exitByKill;
                LOG.info("Run complete; the embedded broker and cluster end with the process");
            }
            return RunSummary.of(
                    results, startedNanos, collector.runningNanos(), collector.doneNanos(), collector.firstNanos());
        } finally {
            abortJob = null;
            prep.awaitQuietly(); // topics/produce use the broker until they end
            if (shared != null) {
                if (job != null && !jobEnded) {
                    cancelQuietly(flink, job); // the daemon's cluster serves the next run; checkpoints stay
                }
            } else if (leftToExit) {
                services.leaveToExit(); // see exitFollows(): the process ends right after this returns
            } else {
                services.close(!jobEnded && flink != null); // a job may still run and use the broker: cluster first
            }
        }
    }

    /**
     * Whether anything can read the run's dead-letter topic after it, so that the run waits for one more checkpoint to
     * commit the dead-letter sink's last transaction before it answers. Not when the topic goes with the run: a
     * daemon's run on its embedded broker deletes its topics right after the client's answer, and a cold run on the
     * embedded broker whose process ends at once ({@link #exitFollows}) leaves them to the next run, which starts
     * afresh. Issue 16: that checkpoint was 0.06-0.34 s of a daemon run's tail, before the client's answer, for a
     * topic deleted 0.1 s later.
     */
    static boolean deadLettersOutliveRun(boolean sharedServices, boolean embeddedBroker, boolean disposable) {
        return !disposable && !(sharedServices && embeddedBroker);
    }

    /** Logs a step of the run with the time since it started (issue 16: where a run's fixed overhead goes). */
    private void step(String what) {
        if (LOG.isDebugEnabled()) {
            LOG.debug("Run step: {} at +{} ms", what, (System.nanoTime() - startedNanos) / 1_000_000);
        }
    }

    private static void cancelQuietly(EmbeddedFlink flink, JobID job) {
        try {
            if (!flink.status(job).isGloballyTerminalState()) {
                flink.cancel(job);
            }
        } catch (Exception e) {
            LOG.warn("Could not cancel job {}: {}", job, e.toString());
        }
    }

    /**
     * The run's side of the broker, on its own thread: waits for the broker, deletes a replaced run's topics (on a
     * daemon's broker), creates this run's topics ({@link #awaitTopics()}) and then produces the input to the requests
     * topic (once per run, see {@link RunState}; {@link #await()}).
     */
    private static final class InputPrep {
        private final CompletableFuture<String> topics = new CompletableFuture<>();
        private final CompletableFuture<String> ready = new CompletableFuture<>();

        static InputPrep begin(
                RunServices services,
                Properties kafkaProps,
                Configuration conf,
                RunState state,
                List<InputStaging.Line> lines) {
            InputPrep b = new InputPrep();
            Thread t = new Thread(() -> b.run(services, kafkaProps, conf, state, lines), "flowget-input");
            t.setDaemon(true);
            t.start();
            return b;
        }

        private void run(
                RunServices services, Properties kafkaProps, Configuration conf, RunState state,
                List<InputStaging.Line> lines) {
            try {
                String bootstrap = services.servers();
                if (state.staleNames().isPresent()) {
                    deleteTopics(bootstrap, kafkaProps, state.staleNames().get().topics());
                }
                long t0 = System.nanoTime();
                createTopics(bootstrap, kafkaProps, conf, services.parallelism());
                LOG.debug("Topics created in {} ms", (System.nanoTime() - t0) / 1_000_000);
                topics.complete(bootstrap);
                if (!state.produced()) {
                    long t1 = System.nanoTime();
                    InputStaging.produce(
                            bootstrap, kafkaProps, conf.get(JobOptions.KAFKA_REQUESTS_TOPIC), lines,
                            state.names().transactionalIdPrefix() + "-run-input-" + state.inputSha256().substring(0, 16));
                    state.markProduced();
                    LOG.debug("Input of {} requests produced in {} ms", lines.size(), (System.nanoTime() - t1) / 1_000_000);
                }
                ready.complete(bootstrap);
            } catch (Throwable e) {
                topics.completeExceptionally(e); // no-op once the topics are there
                ready.completeExceptionally(e);
            }
        }

        /** Waits for the broker and the run's topics; returns the bootstrap servers. */
        String awaitTopics() throws Exception {
            return get(topics);
        }

        /** Waits for the broker, its topics and the produced input; returns the bootstrap servers. */
        String await() throws Exception {
            return get(ready);
        }

        private static String get(CompletableFuture<String> f) throws Exception {
            try {
                return f.get();
            } catch (ExecutionException e) {
                Throwable cause = e.getCause();
                if (cause instanceof Exception ex) {
                    throw ex;
                }
                throw e;
            }
        }

        void awaitQuietly() {
            try {
                ready.handle((v, e) -> null).get();
            } catch (Exception ignored) {
                // only waiting for the end
            }
        }
    }

    /**
     * Files become visible when the fetch operator learns that the checkpoint committing their results completed
     * (issue 15), a notification that may come after the results are visible: before the job is cancelled, wait
     * (bounded) until no file waits for its checkpoint. The notification of the checkpoint that committed the last
     * results is normally on its way already, so this polls first and triggers one more checkpoint only when the
     * files are still waiting after {@link #NOTIFY_GRACE} (Flink does not guarantee a notification; the next
     * checkpoint's covers the earlier ones). Issue 16: the extra checkpoint each turn cost a checkpoint round
     * (0.1-0.6 s) of the tail on nearly every run.
     */
    private static void awaitPublished(EmbeddedFlink flink, JobID job, Path stagingDir) throws Exception {
        long now = System.nanoTime();
        long deadline = now + PUBLISH_WAIT.toNanos();
        long nextTrigger = now + NOTIFY_GRACE.toNanos();
        while (PublishAtCommit.anyReady(stagingDir)) {
            now = System.nanoTime();
            if (now > deadline) {
                LOG.warn("Files still wait for their checkpoint in {} after {}; stopping anyway", stagingDir,
                        PUBLISH_WAIT);
                return;
            }
            if (now >= nextTrigger) {
                LOG.debug("Files still wait for their commit notification; triggering one more checkpoint");
                flink.triggerCheckpoint(job);
                nextTrigger = System.nanoTime() + NOTIFY_GRACE.toNanos();
            } else {
                Thread.sleep(10);
            }
        }
    }

    /** True when {@code stateDir} lies inside {@code out}, where only finished files may go. */
    public static boolean stateDirInsideOut(Path stateDir, Path out) {
        return stateDir.toAbsolutePath().normalize().startsWith(out.toAbsolutePath().normalize());
    }

    /** Creates the requests, results and dead-letter topics that do not exist yet. */
    private static void createTopics(String servers, Properties kafkaProps, Configuration conf, int partitions)
            throws Exception {
        try (Admin admin = KafkaClients.admin(servers, kafkaProps)) {
            Set<String> existing = admin.listTopics().names().get();
            List<NewTopic> topics = new ArrayList<>();
            String requests = conf.get(JobOptions.KAFKA_REQUESTS_TOPIC);
            for (String t :
                    List.of(
                            requests,
                            conf.get(JobOptions.KAFKA_RESULTS_TOPIC),
                            conf.get(JobOptions.KAFKA_DEAD_LETTER_TOPIC))) {
                if (!existing.contains(t)) {
                    NewTopic topic = new NewTopic(t, partitions, (short) 1);
                    if (t.equals(requests)) { // every input line fits, however long (InputStaging.read bounds it)
                        topic.configs(Map.of(
                                TopicConfig.MAX_MESSAGE_BYTES_CONFIG, String.valueOf(InputStaging.MAX_RECORD_BYTES)));
                    }
                    topics.add(topic);
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

    /** Deletes a finished or replaced run's topics on a broker that keeps running; a failure only leaves them (logged). */
    private static void deleteTopics(String servers, Properties kafkaProps, List<String> topics) {
        try (Admin admin = KafkaClients.admin(servers, kafkaProps)) {
            Set<String> existing = admin.listTopics().names().get();
            List<String> gone = topics.stream().filter(existing::contains).toList();
            if (!gone.isEmpty()) {
                admin.deleteTopics(gone).all().get();
                LOG.info("Deleted the topics {}", gone);
            }
        } catch (Exception e) {
            LOG.warn("Could not delete the topics {}: {}", topics, e.toString());
        }
    }

    private static void deleteCheckpoints(Path dir) {
        try {
            FileTrees.delete(dir);
            LOG.debug("Deleted the completed run's checkpoints in {}", dir);
        } catch (IOException e) {
            LOG.info("Could not delete the completed run's checkpoints in {} (the next run does): {}", dir,
                    e.toString());
        }
    }

    private static void deleteQuietly(Path file) {
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            LOG.debug("Could not delete {}: {}", file, e.toString());
        }
    }

    private static void deleteIfEmpty(Path dir) {
        try {
            Files.deleteIfExists(dir);
        } catch (IOException notEmpty) {
            LOG.warn("Staging directory {} is not empty after the run", dir);
        }
    }
}
