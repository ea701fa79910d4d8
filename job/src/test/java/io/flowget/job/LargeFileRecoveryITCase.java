package io.flowget.job;

import io.flowget.job.diff.Topics;
import io.flowget.job.embedded.EmbeddedFlink;
import io.flowget.job.embedded.EmbeddedKafka;
import io.flowget.job.kafka.KafkaClients;
import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.json.Json;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.RangeRoute;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A large file over Range chunks survives a job failure: the job is checkpointed mid-download and then dies
 * (cancelled without a further checkpoint); a new job restored from that checkpoint continues, fetches only
 * what was not recorded as done, and delivers one byte-exact file and exactly one result.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class LargeFileRecoveryITCase {
    private static final int SIZE = 96 * 1024 * 1024;
    private static final int CHUNK = 1024 * 1024;
    private static final int HOST_LIMIT = 4;

    @TempDir Path tmp;

    @Test
    void resumesALargeDownloadFromItsCheckpointAfterAFailure() throws Exception {
        byte[] body = TestOrigin.content("big", SIZE);
        String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(body));
        RangeRoute route = RangeRoute.of(body, "\"big-1\"").delayPerRange(Duration.ofMillis(40));
        try (TestOrigin origin = TestOrigin.start("127.0.0.1");
                EmbeddedKafka kafka = EmbeddedKafka.start(tmp.resolve("kafka"))) {
            origin.route("/big.bin", route);
            kafka.createTopics(2, "flowget.requests", "flowget.results", "flowget.dead-letter");
            produce(kafka.bootstrapServers(), "{\"id\":\"big\",\"url\":\"" + origin.url("/big.bin") + "\",\"sha256\":\"" + sha + "\"}");

            Configuration conf = new Configuration();
            conf.set(JobOptions.KAFKA_BOOTSTRAP_SERVERS, kafka.bootstrapServers());
            conf.set(FlowgetOptions.STORAGE_OUT_DIR, tmp.resolve("out").toString());
            conf.set(FlowgetOptions.STORAGE_STAGING_DIR, tmp.resolve("partial").toString());
            conf.set(FlowgetOptions.NET_POSTURE, FlowgetOptions.NetPosture.LOCAL); // the origin is on loopback
            conf.set(FlowgetOptions.CHUNK_SIZE, MemorySize.parse("1mb"));
            conf.set(FlowgetOptions.HOST_MAX_CONCURRENCY, HOST_LIMIT);
            // No slow-tail splitting here: a split range is counted whole by the origin, which would blur the
            // re-fetch accounting this test is about (splits have their own harness tests).
            conf.set(FlowgetOptions.CHUNK_MIN_SPLIT, MemorySize.parse("1gb"));
            Path checkpoints = tmp.resolve("checkpoints");

            // First job: checkpoints only when the test asks for one.
            // Checkpoints are triggered by hand; 30 min keeps the periodic one out of the test and the results
            // transactions' worst case (interval + timeout + restart delay) within the 1 h transaction timeout.
            conf.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofMinutes(30));
            String checkpoint;
            long servedAtCheckpoint;
            long servedAtFailure;
            long checkpointMillis;
            long checkpointBytes;
            try (EmbeddedFlink flink = EmbeddedFlink.start(conf, checkpoints, 2)) {
                JobID job = submit(flink, null);
                waitFor(() -> route.bytesServed() >= SIZE / 2, "half of the file served");
                // Everything the origin counted before the trigger was handed over before the barrier, except the
                // chunks still on the wire (at most one per connection).
                servedAtCheckpoint = route.bytesServed();
                long t0 = System.nanoTime();
                checkpoint = flink.triggerCheckpoint(job);
                checkpointMillis = (System.nanoTime() - t0) / 1_000_000;
                checkpointBytes = sizeOf(checkpoints);
                flink.cancel(job); // the failure: everything after the checkpoint is lost
                servedAtFailure = route.bytesServed();
            }
            assertThat(Files.exists(tmp.resolve("out").resolve("127.0.0.1_" + origin.port() + "/big.bin")))
                    .as("nothing at the final path before the download is complete")
                    .isFalse();

            // Second job: restored from the checkpoint, with regular checkpoints so its result commits.
            conf.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofMillis(500));
            try (EmbeddedFlink flink = EmbeddedFlink.start(conf, checkpoints, 2)) {
                JobID job = submit(flink, checkpoint);
                List<String> results = waitForResults(kafka.bootstrapServers(), 1);
                flink.cancel(job);
                FetchResult r = Json.resultFromJson(results.get(0));
                assertThat(r.status).as("%s", results).isEqualTo(ResultStatus.OK);
                assertThat(r.sha256).isEqualTo(sha);
                assertThat(Files.readAllBytes(tmp.resolve("out").resolve(r.path))).isEqualTo(body);
                // Allow a second for late results, then check there is still exactly one.
                Thread.sleep(1000);
                assertThat(Topics.readAll(kafka.bootstrapServers(), "flowget.results")).hasSize(1);
            }
            long served = route.bytesServed();
            // Fetched twice at most: what the origin sent after the checkpoint was triggered, plus the chunks in
            // flight at the barrier (one per connection) and those counted by the origin but not yet received
            // (one per connection). Chunks recorded in the checkpoint are never fetched again.
            long refetchBound =
                    (long) SIZE + (servedAtFailure - servedAtCheckpoint) + 2L * HOST_LIMIT * CHUNK;
            System.out.printf(
                    "large-file recovery: served %d bytes for a %d-byte file (%.3fx); %d at the checkpoint, %d at the"
                            + " failure%n",
                    served, SIZE, served / (double) SIZE, servedAtCheckpoint, servedAtFailure);
            System.out.printf(
                    "checkpoint while downloading: %d ms from trigger to completion, %d bytes on disk for the job%n",
                    checkpointMillis, checkpointBytes);
            assertThat(served)
                    .as("origin served at most size + chunks in flight at the checkpoint + bytes after it")
                    .isLessThanOrEqualTo(refetchBound);
        }
    }

    private static long sizeOf(Path dir) throws Exception {
        try (var files = Files.walk(dir)) {
            return files.filter(Files::isRegularFile).mapToLong(f -> f.toFile().length()).sum();
        }
    }

    private static JobID submit(EmbeddedFlink flink, String restoreFrom) throws Exception {
        Configuration jobConf = flink.configuration();
        if (restoreFrom != null) {
            jobConf.set(StateRecoveryOptions.SAVEPOINT_PATH, restoreFrom);
        }
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(jobConf);
        FlowgetJob.kafka(jobConf, false).build(env);
        return flink.submit(env);
    }

    private static void produce(String servers, String value) {
        try (KafkaProducer<String, String> producer = KafkaClients.producer(servers).build()) {
            producer.send(new ProducerRecord<>("flowget.requests", "big", value));
        }
    }

    private static List<String> waitForResults(String servers, int n) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
        while (System.nanoTime() < deadline) {
            List<String> r = Topics.readAll(servers, "flowget.results");
            if (r.size() >= n) {
                return r;
            }
            Thread.sleep(200);
        }
        throw new AssertionError("no result within 120 s");
    }

    private static void waitFor(java.util.function.BooleanSupplier c, String what) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (!c.getAsBoolean()) {
            assertThat(System.nanoTime()).as(what).isLessThan(deadline);
            Thread.sleep(20);
        }
    }
}
