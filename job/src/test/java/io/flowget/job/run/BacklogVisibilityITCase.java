package io.flowget.job.run;

import io.flowget.job.FlowgetJob;
import io.flowget.job.JobOptions;
import io.flowget.job.embedded.EmbeddedFlink;
import io.flowget.job.embedded.EmbeddedKafka;
import io.flowget.job.kafka.KafkaClients;
import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.json.Json;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 16, "the first results are visible within a couple of checkpoint intervals even with a large backlog", end to
 * end: the unbounded job of {@code flowget run} (unaligned checkpoints every 1 s, as {@code run} sets them, RocksDB)
 * on a MiniCluster with parallelism 2 over the embedded broker, with {@link #REQUESTS} requests produced before it
 * starts, so the source hands the whole backlog to the Fetch operator at once. The origin answers the first
 * {@link #ANSWERED} requests and holds every later one, so the backlog cannot drain while the test looks.
 *
 * <p>What it proves, by counting completed checkpoints (no wall-clock assertion): the first result is committed (read
 * {@code read_committed}) by at most {@link #CHECKPOINTS_TO_COMMIT} checkpoints completing after it was emitted (seen
 * by a {@code read_uncommitted} reader), and it is committed while at least {@code REQUESTS - ANSWERED} requests still
 * wait — so checkpoint barriers pass the backlog instead of queueing behind it (before unaligned checkpoints and
 * non-blocking admission, the first checkpoint of a 20,000-request run took 3-13 s). A stuck barrier fails the test by
 * its bound (3 minutes without a committed result); the job never restarts.
 */
class BacklogVisibilityITCase {
    static final int REQUESTS = 20_000;
    static final int ANSWERED = 50;
    /** The checkpoint in flight when a result is emitted may not hold it; the next one does. One more for slack. */
    static final long CHECKPOINTS_TO_COMMIT = 3;

    @TempDir Path tmp;

    @Test
    void theFirstResultsCommitWithinACoupleOfCheckpointsWhileTheBacklogWaits() throws Exception {
        AtomicInteger asked = new AtomicInteger();
        byte[] body = TestOrigin.content("b", 512);
        try (TestOrigin origin = TestOrigin.start("127.0.0.1");
                EmbeddedKafka kafka = EmbeddedKafka.start(tmp.resolve("kafka"))) {
            origin.route("/r", (req, resp, cb, n) -> {
                if (asked.incrementAndGet() <= ANSWERED) {
                    TestOrigin.send(resp, cb, 200, body);
                } // else held: the callback completes when the origin stops
            });
            kafka.createTopics(2, "flowget.requests", "flowget.results", "flowget.dead-letter");
            try (KafkaProducer<String, String> producer = KafkaClients.producer(kafka.bootstrapServers()).build()) {
                for (int i = 0; i < REQUESTS; i++) {
                    String id = "r-" + i;
                    producer.send(new ProducerRecord<>("flowget.requests", id,
                            "{\"id\":\"" + id + "\",\"url\":\"" + origin.url("/r?i=" + i) + "\"}"));
                }
                producer.flush();
            }

            Configuration conf = new Configuration();
            conf.set(FlowgetOptions.STORAGE_OUT_DIR, tmp.resolve("out").toString());
            conf.set(FlowgetOptions.STORAGE_STAGING_DIR, tmp.resolve("partial").toString());
            conf.set(FlowgetOptions.FETCH_MAX_BACKLOG, REQUESTS); // as run sets them: a batch is never refused
            conf.set(FlowgetOptions.FETCH_MAX_HOST_BACKLOG, REQUESTS);
            conf.set(FlowgetOptions.NET_POSTURE, FlowgetOptions.NetPosture.LOCAL);
            conf.set(CheckpointingOptions.ENABLE_UNALIGNED, true); // run's default (LocalRun)
            conf.set(JobOptions.KAFKA_BOOTSTRAP_SERVERS, kafka.bootstrapServers());
            try (EmbeddedFlink flink =
                            EmbeddedFlink.start(conf, tmp.resolve("checkpoints"), tmp.resolve("flink-tmp"), 2, 1);
                    KafkaConsumer<String, String> emitted =
                            KafkaClients.uncommittedConsumer(kafka.bootstrapServers()).build();
                    KafkaConsumer<String, String> committed = KafkaClients.committedConsumer(kafka.bootstrapServers())
                            .fetchMaxWait(Duration.ofMillis(20)).build()) {
                Configuration jobConf = flink.configuration();
                jobConf.set(PipelineOptions.NAME, "flowget backlog visibility");
                StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(jobConf);
                FlowgetJob.kafka(jobConf, false).build(env);
                JobID job = flink.submit(env);
                KafkaClients.assignFromBeginning(emitted, "flowget.results");
                KafkaClients.assignFromBeginning(committed, "flowget.results");

                long checkpointsAtFirstEmit = -1;
                int emittedCount = 0;
                List<FetchResult> firstCommitted = new ArrayList<>();
                long deadline = System.nanoTime() + Duration.ofMinutes(3).toNanos();
                while (firstCommitted.isEmpty()) {
                    assertThat(System.nanoTime()).as("a committed result within 3 minutes (a stuck barrier never"
                            + " commits one)").isLessThan(deadline);
                    assertThat(flink.status(job).isGloballyTerminalState()).as("job ended early").isFalse();
                    for (ConsumerRecord<String, String> r : emitted.poll(Duration.ofMillis(50))) {
                        emittedCount++;
                        if (checkpointsAtFirstEmit < 0) {
                            checkpointsAtFirstEmit = flink.completedCheckpoints(job);
                        }
                    }
                    for (ConsumerRecord<String, String> r : committed.poll(Duration.ofMillis(50))) {
                        firstCommitted.add(Json.resultFromJson(r.value()));
                    }
                }
                long checkpointsAtFirstCommit = flink.completedCheckpoints(job);
                System.out.printf("BacklogVisibilityITCase: first result emitted after %d completed checkpoints,"
                                + " committed after %d; %d of %d requests answered, %d results emitted, %d committed"
                                + " in the first read%n",
                        checkpointsAtFirstEmit, checkpointsAtFirstCommit, Math.min(asked.get(), ANSWERED), REQUESTS,
                        emittedCount, firstCommitted.size());

                assertThat(checkpointsAtFirstEmit).as("the uncommitted reader saw the result first").isNotNegative();
                assertThat(checkpointsAtFirstCommit - checkpointsAtFirstEmit)
                        .as("checkpoints completed between the first result's emission and its commit")
                        .isLessThanOrEqualTo(CHECKPOINTS_TO_COMMIT);
                assertThat(firstCommitted).as("only answered requests have results; the backlog still waits")
                        .hasSizeLessThanOrEqualTo(ANSWERED)
                        .allSatisfy(r -> assertThat(r.status).as("%s", r.id).isEqualTo(ResultStatus.OK));
                assertThat(asked.get()).as("requests the origin was asked: the rest wait in the job")
                        .isLessThan(REQUESTS);
                assertThat(flink.executionGraph(job).getStatusTimestamp(JobStatus.RESTARTING))
                        .as("never restarted")
                        .isZero();
                flink.cancel(job);
            }
        }
    }
}
