package io.flowget.job.run;

import io.flowget.job.FlowgetJob;
import io.flowget.job.JobOptions;
import io.flowget.job.embedded.EmbeddedFlink;
import io.flowget.job.embedded.EmbeddedKafka;
import io.flowget.job.kafka.KafkaClients;
import io.flowget.job.kafka.KafkaProperties;
import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.storage.PublishAtCommit;

import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
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
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

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
 * <p>Not thread-safe: one instance per run, executed once on the caller's thread. The embedded broker and cluster
 * it starts are owned by that call and closed before it returns.
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

    /** How long files may wait for a commit notification before one more checkpoint is triggered for them. */
    private static final Duration NOTIFY_GRACE = Duration.ofMillis(500);

    private final Request req;
    private final PrintStream stdout;
    private final long startedNanos = System.nanoTime();
    private boolean exitFollows;
    private boolean exitByKill;
    private boolean killable;

    public LocalRun(Request req, PrintStream stdout) {
        this.req = req;
        this.stdout = stdout;
    }

    /**
     * The caller ends the JVM as soon as {@link #execute()} returns (the command line's {@code main}). A run that
     * completed on the embedded broker then skips what only a later reader of the broker would need: the extra
     * checkpoint that commits the dead-letter sink's last transaction, and the orderly stop of the broker and the
     * MiniCluster (the job is still cancelled, which closes RocksDB and the Kafka clients). Nothing in them can be
     * read afterwards anyway: the next run in the state dir starts afresh and deletes the broker's data and the
     * checkpoints, and the MiniCluster's temp dir is deleted by the next start. With {@code --bootstrap-servers},
     * or when the run did not complete, the full shutdown runs as before.
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
     * Runs to the end: every request has its result in the results topic and in {@code --results}.
     *
     * @throws IllegalArgumentException if the state dir lies inside the output dir, or the input is a directory
     * @throws IllegalStateException if the job failed, or the results did not all arrive in time (rerun to resume)
     */
    public RunSummary execute() throws Exception {
        Path stateDir = req.stateDir().toAbsolutePath().normalize();
        Path out = req.out().toAbsolutePath().normalize();
        Files.createDirectories(stateDir);
        Files.createDirectories(out);
        if (stateDirInsideOut(stateDir, out)) {
            throw new IllegalArgumentException(STATE_DIR_INSIDE_OUT);
        }

        RunState state = RunState.open(stateDir, InputStaging.stage(req.urls(), req.stdin(), stateDir));
        List<InputStaging.Line> lines = InputStaging.read(state.input());
        state.begin(lines.size());

        Configuration conf = new Configuration(req.settings());
        conf.set(FlowgetOptions.STORAGE_OUT_DIR, out.toString());
        if (!conf.contains(FlowgetOptions.STORAGE_STAGING_DIR)) {
            conf.set(FlowgetOptions.STORAGE_STAGING_DIR, RunState.stagingDir(stateDir, out).toString());
        }
        conf.set(JobOptions.KAFKA_GROUP_ID, conf.get(JobOptions.KAFKA_GROUP_ID) + "-run");
        if (!conf.contains(CheckpointingOptions.ENABLE_UNALIGNED)) {
            // Results become visible only when a checkpoint commits them. The source reads the whole input at once,
            // so an aligned barrier waits behind every request buffered in front of the fetch operator, each one
            // written into RocksDB state before the next (~20 us; before issue 12's non-blocking admission the
            // first checkpoint of a 20k run took 3-13 s). An unaligned barrier overtakes them; the buffered requests
            // go into the checkpoint and are replayed on restore. first_result_s in the summary line shows the
            // effect per run.
            conf.set(CheckpointingOptions.ENABLE_UNALIGNED, true);
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
                conf.set(bound, Math.max(conf.get(bound), lines.size()));
            }
        }
        BusyHosts.spread(conf, lines, req.parallelism()); // busy hosts over several subtasks, unless set

        if (req.bootstrapServers() == null) {
            conf = KafkaProperties.without(conf); // the embedded broker is plain text on loopback
        }
        Properties kafkaProps = KafkaProperties.of(conf);

        // Start-up overlap: the broker starts, gets its topics and the input on its own thread while this thread
        // starts the MiniCluster; both are mostly class loading and waiting on their own threads.
        BrokerStart broker = BrokerStart.begin(
                req.bootstrapServers(), kafkaProps, stateDir, conf, req.parallelism(), state, lines);
        EmbeddedFlink flink = null;
        FetchGauges gauges = null;
        boolean jobEnded = false;
        boolean leftToExit = false;
        try {
            if (lines.isEmpty()) {
                broker.await();
                state.markComplete();
                ResultCollector.writeResultsFile(req.results(), List.of());
                return RunSummary.of(List.of(), startedNanos, 0, 0, 0);
            }

            Path checkpoints = stateDir.resolve("checkpoints");
            gauges = FetchGauges.register(conf); // the progress line's in flight, waiting, hosts paused...
            flink = EmbeddedFlink.start(conf, checkpoints, req.parallelism());
            if (conf.get(JobOptions.RUN_WEB_UI)) {
                stdout.println("flowget: Flink Web UI at " + flink.restAddress() + "/ (while the run lasts)");
            }
            Configuration jobConf = flink.configuration();
            Optional<Path> restore =
                    state.resumed() ? EmbeddedFlink.latestCheckpoint(checkpoints) : Optional.empty();
            restore.ifPresent(chk -> {
                jobConf.set(StateRecoveryOptions.SAVEPOINT_PATH, chk.toUri().toString());
                LOG.info("Restoring from checkpoint {}", chk);
            });
            jobConf.set(PipelineOptions.NAME, "flowget run");
            String servers = broker.await();
            jobConf.set(JobOptions.KAFKA_BOOTSTRAP_SERVERS, servers);
            StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(jobConf);
            // Unbounded: see the class comment. A checkpoint restored here was written by an unbounded job too.
            FlowgetJob.kafka(jobConf, false).build(env);
            JobID job = flink.submit(env);

            Progress.Mode mode = req.quiet()
                    ? Progress.Mode.OFF
                    : req.interactive() ? Progress.Mode.LIVE : Progress.Mode.PERIODIC;
            ResultCollector collector = new ResultCollector(lines, mode, stdout, req.timeout(), gauges::totals);
            collector.appendTo(req.results(), state.resumed());
            String resultsTopic = conf.get(JobOptions.KAFKA_RESULTS_TOPIC);
            List<FetchResult> results;
            try (TailCheckpoint tail = TailCheckpoint.start(lines, servers, kafkaProps, resultsTopic, flink, job)) {
                results = collector.collect(servers, kafkaProps, resultsTopic, flink, job);
            }
            if (conf.get(JobOptions.RUN_MEMORY_REPORT)) {
                stdout.println(MemoryReport.take()); // while broker, cluster and job still hold their memory
            }
            boolean disposable = exitFollows && req.bootstrapServers() == null;
            if (!disposable) {
                // Every result is committed. One more completed checkpoint lets the dead-letter sink commit its
                // transaction of the same checkpoint too (its commit notification precedes this trigger).
                flink.triggerCheckpoint(job);
            }
            awaitPublished(flink, job, Path.of(conf.get(FlowgetOptions.STORAGE_STAGING_DIR)));
            if (disposable && exitByKill) {
                LOG.info("All files published; the job ends with the process");
            } else {
                LOG.info("All files published; cancelling the job");
                flink.cancel(job);
                jobEnded = true;
            }
            state.markComplete();
            collector.writeCollected(req.results(), results);
            LOG.debug("Results file written");
            PublishAtCommit.deleteEmptyReadyDirs(Path.of(conf.get(FlowgetOptions.STORAGE_STAGING_DIR)));
            deleteIfEmpty(Path.of(conf.get(FlowgetOptions.STORAGE_STAGING_DIR)));
            if (disposable) {
                leftToExit = true;
                killable = exitByKill;
                LOG.info("Run complete; the embedded broker and cluster end with the process");
            }
            return RunSummary.of(
                    results, startedNanos, collector.runningNanos(), collector.doneNanos(), collector.firstNanos());
        } finally {
            if (gauges != null) {
                gauges.close();
            }
            if (leftToExit) {
                // see exitFollows(): the process ends right after this returns
            } else if (jobEnded || flink == null) {
                closeBoth(flink, broker);
            } else { // a job may still run and use the broker while it stops: the cluster first
                try {
                    flink.close();
                } finally {
                    broker.close();
                }
            }
        }
    }

    /**
     * Stops the MiniCluster and the broker at once: the job is cancelled (or never ran), so neither needs the other,
     * and each spends most of its shutdown waiting on its own threads.
     */
    private static void closeBoth(EmbeddedFlink flink, BrokerStart broker) throws Exception {
        CompletableFuture<Void> brokerClosed = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                broker.close();
                brokerClosed.complete(null);
            } catch (Throwable e) {
                brokerClosed.completeExceptionally(e);
            }
        }, "flowget-broker-stop");
        t.setDaemon(true);
        t.start();
        Exception failure = null;
        try {
            if (flink != null) {
                flink.close();
            }
        } catch (Exception e) {
            failure = e;
        }
        try {
            brokerClosed.get();
        } catch (ExecutionException e) {
            Exception cause = e.getCause() instanceof Exception ex ? ex : e;
            if (failure == null) {
                failure = cause;
            } else {
                failure.addSuppressed(cause);
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    /**
     * The broker side of the start-up, on its own thread: the embedded broker (unless {@code servers} names one),
     * the topics, and the input produced to the requests topic (once per run, see {@link RunState}).
     * {@link #await()} hands over the bootstrap servers; {@link #close()} stops an embedded broker, waiting for
     * its start to end first, so none is left running when the run fails half-way.
     */
    private static final class BrokerStart {
        private final CompletableFuture<EmbeddedKafka> started =
                new CompletableFuture<>();
        private final CompletableFuture<String> ready =
                new CompletableFuture<>();

        static BrokerStart begin(
                String servers,
                Properties kafkaProps,
                Path stateDir,
                Configuration conf,
                int partitions,
                RunState state,
                List<InputStaging.Line> lines) {
            BrokerStart b = new BrokerStart();
            Thread t = new Thread(
                    () -> b.run(servers, kafkaProps, stateDir, conf, partitions, state, lines),
                    "flowget-broker-start");
            t.setDaemon(true);
            t.start();
            return b;
        }

        private void run(
                String servers, Properties kafkaProps, Path stateDir, Configuration conf, int partitions,
                RunState state, List<InputStaging.Line> lines) {
            try {
                String bootstrap = servers;
                if (bootstrap == null) {
                    EmbeddedKafka kafka = EmbeddedKafka.start(stateDir.resolve("kafka"));
                    started.complete(kafka);
                    bootstrap = kafka.bootstrapServers();
                } else {
                    started.complete(null);
                }
                createTopics(bootstrap, kafkaProps, conf, partitions);
                if (!state.produced()) {
                    InputStaging.produce(
                            bootstrap, kafkaProps, conf.get(JobOptions.KAFKA_REQUESTS_TOPIC), lines,
                            state.inputSha256());
                    state.markProduced();
                }
                ready.complete(bootstrap);
            } catch (Throwable e) {
                started.complete(null); // no-op when the broker had started: close() still stops it
                ready.completeExceptionally(e);
            }
        }

        /** Waits for the broker, its topics and the produced input; returns the bootstrap servers. */
        String await() throws Exception {
            try {
                return ready.get();
            } catch (ExecutionException e) {
                Throwable cause = e.getCause();
                if (cause instanceof Exception ex) {
                    throw ex;
                }
                throw e;
            }
        }

        /** Stops the embedded broker, if one started (after its start has ended either way). */
        void close() throws Exception {
            EmbeddedKafka kafka;
            try {
                kafka = started.get();
            } catch (ExecutionException e) {
                return;
            }
            if (kafka != null) {
                try {
                    ready.handle((v, e) -> null).get(); // topics/produce use it until they end
                } finally {
                    kafka.close();
                }
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

    private static void deleteIfEmpty(Path dir) {
        try {
            Files.deleteIfExists(dir);
        } catch (IOException notEmpty) {
            LOG.warn("Staging directory {} is not empty after the run", dir);
        }
    }
}
