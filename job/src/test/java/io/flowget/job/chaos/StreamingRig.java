package io.flowget.job.chaos;

import io.flowget.job.FlowgetJob;
import io.flowget.job.JobOptions;
import io.flowget.job.chaos.FaultProxy.Faults;
import io.flowget.job.embedded.EmbeddedFlink;
import io.flowget.job.embedded.EmbeddedKafka;
import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.runtime.checkpoint.RestoredCheckpointStats;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.TimeUnit;

/**
 * The production shape on one machine, for the failure experiments (b) and (c): the unbounded job
 * ({@code FlowgetJob.kafka(conf, false)}, what {@code flowget job} runs) on a MiniCluster with RocksDB and 1 s
 * checkpoints, over an embedded broker, fetching a marked batch through {@link FaultProxy}s, with a
 * {@link ResultsFollower} reading the results topic as a consumer would. Restart strategy: fixed-delay, 500 ms,
 * 100 attempts, so every injected failure is recovered from the latest checkpoint without help.
 *
 * <p>Owned by one test thread. {@link #close()} cancels the job and stops everything, also after a failure.
 */
final class StreamingRig implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(StreamingRig.class);
    static final String REQUESTS = "flowget.requests";
    static final String RESULTS = "flowget.results";
    static final String DEAD_LETTERS = "flowget.dead-letter";
    static final int PARALLELISM = 2;

    final Path dir;
    final TestOrigin origin;
    final List<FaultProxy> proxies = new ArrayList<>();
    ChaosData data;
    EmbeddedKafka kafka;
    EmbeddedFlink flink;
    JobID job;
    ResultsFollower follower;
    final Path out;
    private Configuration conf;
    private String run;

    private StreamingRig(Path dir) throws Exception {
        this.dir = dir;
        this.out = dir.resolve("out");
        this.origin = TestOrigin.start("127.0.0.1");
    }

    /**
     * Starts origin, proxies ({@code hosts} of them, from 127.0.0.31, with {@code faults}), broker, topics and the
     * batch of {@code files} requests, then a cluster of {@code taskManagers} TaskManagers running the job.
     */
    static StreamingRig start(Path dir, String run, int files, int hosts, Faults faults, int taskManagers)
            throws Exception {
        return start(dir, run, files, hosts, faults, taskManagers, ChaosData.SizeMix.BOUNDED);
    }

    /** As {@link #start(Path, String, int, int, Faults, int)}, with file sizes drawn from {@code mix}. */
    static StreamingRig start(
            Path dir, String run, int files, int hosts, Faults faults, int taskManagers, ChaosData.SizeMix mix)
            throws Exception {
        StreamingRig rig = new StreamingRig(dir);
        try {
            for (int h = 0; h < hosts; h++) {
                rig.proxies.add(FaultProxy.start("127.0.0." + (31 + h), rig.origin.host(), rig.origin.port())
                        .faults(faults));
            }
            rig.data = ChaosData.create(run, rig.origin, rig.proxies, files, mix, 11);
            rig.kafka = EmbeddedKafka.start(dir.resolve("kafka"));
            rig.kafka.createTopics(PARALLELISM, REQUESTS, RESULTS, DEAD_LETTERS);
            ResultsFollower.produce(rig.kafka.bootstrapServers(), REQUESTS, rig.data.requestLines());
            rig.follower = ResultsFollower.start(rig.kafka.bootstrapServers(), RESULTS);

            Configuration conf = ChaosReport.fetchSettings();
            conf.set(FlowgetOptions.STORAGE_OUT_DIR, rig.out.toString());
            conf.set(FlowgetOptions.STORAGE_STAGING_DIR, dir.resolve("partial").toString());
            conf.set(JobOptions.KAFKA_BOOTSTRAP_SERVERS, rig.kafka.bootstrapServers());
            conf.set(JobOptions.KAFKA_GROUP_ID, "flowget-chaos");
            conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
            conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, 100);
            conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofMillis(500));
            rig.conf = conf;
            rig.run = run;
            rig.flink = EmbeddedFlink.start(conf, dir.resolve("checkpoints"), dir.resolve("flink-tmp"), PARALLELISM,
                    taskManagers);
            rig.submit(null);
            return rig;
        } catch (Exception | Error e) {
            try {
                rig.close();
            } catch (Exception suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    private void submit(String restorePath) throws Exception {
        Configuration jobConf = flink.configuration();
        jobConf.set(PipelineOptions.NAME, "flowget chaos " + run);
        if (restorePath != null) {
            jobConf.set(StateRecoveryOptions.SAVEPOINT_PATH, restorePath);
        }
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(jobConf);
        FlowgetJob.kafka(jobConf, false).build(env);
        job = flink.submit(env);
    }

    /**
     * Rescale: closes the cluster (whose job has ended) and runs the job again on a new cluster of
     * {@code parallelism} slots, restored from {@code restorePath} (a savepoint or a retained checkpoint).
     */
    void resume(int parallelism, String restorePath) throws Exception {
        flink.close();
        flink = EmbeddedFlink.start(conf, dir.resolve("checkpoints"), dir.resolve("flink-tmp"), parallelism, 1);
        submit(restorePath);
    }

    /** Waits until at least {@code n} distinct results are visible. */
    void awaitResults(int n, Duration timeout) throws InterruptedException {
        follower.await(() -> follower.distinctIds() >= n, timeout, n + " results");
    }

    /**
     * Waits until the job runs again on a checkpoint restored after {@code sinceMillis} (epoch ms), and returns
     * that restore.
     */
    RestoredCheckpointStats awaitRestore(long sinceMillis, Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            var graph = flink.executionGraph(job);
            RestoredCheckpointStats r = graph.getCheckpointStatsSnapshot().getLatestRestoredCheckpoint();
            if (r != null && r.getRestoreTimestamp() >= sinceMillis && graph.getState() == JobStatus.RUNNING) {
                return r;
            }
            if (graph.getState().isGloballyTerminalState()) {
                throw new AssertionError("the job ended " + graph.getState() + ": " + graph.getFailureInfo());
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("no restore within " + timeout + " (job " + graph.getState() + ")");
            }
            TimeUnit.MILLISECONDS.sleep(20);
        }
    }

    /** Marks every proxy (see {@link FaultProxy#mark()}). */
    void markProxies() {
        proxies.forEach(FaultProxy::mark);
    }

    /** The earliest first byte on a new connection since the marks, over all proxies. */
    OptionalLong firstByteSinceMark() {
        return proxies.stream()
                .map(FaultProxy::firstByteSinceMark)
                .filter(OptionalLong::isPresent)
                .mapToLong(OptionalLong::getAsLong)
                .min();
    }

    FaultProxy.Stats proxyStats() {
        FaultProxy.Stats s = FaultProxy.Stats.zero();
        for (FaultProxy p : proxies) {
            s = s.plus(p.stats());
        }
        return s;
    }

    /**
     * Waits for every request's result, lets two more checkpoints complete (any transaction still pending
     * commits, any duplicate would show), then judges the committed results topic, read while the job still
     * runs.
     */
    ChaosVerdict finish(Duration timeout) throws Exception {
        awaitResults(data.size(), timeout);
        flink.triggerCheckpoint(job);
        flink.triggerCheckpoint(job);
        List<FetchResult> committed = ResultsFollower.readCommitted(kafka.bootstrapServers(), RESULTS);
        ChaosVerdict v = ChaosVerdict.judge(data.expected(), out, committed);
        List<FetchResult> followed = follower.results();
        if (followed.size() != committed.size()) {
            LOG.warn("The follower saw {} results, a fresh read {}", followed.size(), committed.size());
        }
        return v;
    }

    @Override
    public void close() throws Exception {
        Exception first = null;
        for (AutoCloseable c : new AutoCloseable[] {
            () -> {
                if (flink != null && job != null && !flink.status(job).isGloballyTerminalState()) {
                    flink.cancel(job);
                }
            },
            () -> {
                if (flink != null) {
                    flink.close();
                }
            },
            () -> {
                if (follower != null) {
                    follower.close();
                }
            },
            () -> {
                if (kafka != null) {
                    kafka.close();
                }
            },
            () -> {
                for (FaultProxy p : proxies) {
                    p.close();
                }
            },
            origin
        }) {
            try {
                c.close();
            } catch (Exception e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
