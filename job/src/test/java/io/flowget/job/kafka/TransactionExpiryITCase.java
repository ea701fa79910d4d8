package io.flowget.job.kafka;

import io.flowget.job.embedded.EmbeddedFlink;
import io.flowget.job.embedded.EmbeddedKafka;

import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.serialization.SimpleStringSchema;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.sink.TransactionNamingStrategy;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.runtime.jobmaster.JobResult;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.util.ExceptionUtils;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
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

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A checkpoint stalled past the old margins loses nothing (issue 15). A map operator blocks the snapshot of the
 * first two checkpoints for longer than the checkpoint timeout, so both expire (two tolerated failures) and the
 * records written before them are committed only with the third checkpoint, about three checkpoint timeouts after
 * their transaction opened.
 *
 * <p>With a transaction timeout that the old rule accepted ("longer than the checkpoint timeout") the broker aborts
 * that transaction first: the commit fails and, through {@link CommitGuardedKafkaSink}, fails the job loudly
 * instead of being counted while the records are gone (which the connector's committer alone does). With the
 * timeout that {@link TransactionTimeouts} demands for the same settings, every record is committed exactly once,
 * through the POOLING transactional ids the job uses.
 */
class TransactionExpiryITCase {
    private static final int RECORDS = 200;
    private static final Duration CHECKPOINT_TIMEOUT = Duration.ofSeconds(3);
    private static final long STALL_MILLIS = 4_000;
    private static final int TOLERABLE = 2;

    @TempDir Path tmp;

    @Test
    void theStartUpCheckReadsTheBrokersMaximum() throws Exception {
        // A 5 s API timeout is below the admin client's 30 s default request timeout, which Kafka refuses at
        // creation: the check then logged a warning and compared against nothing.
        try (EmbeddedKafka kafka = EmbeddedKafka.start(tmp.resolve("kafka"))) {
            assertThat(TransactionTimeouts.brokerMaxTimeout(kafka.bootstrapServers(), Duration.ofSeconds(5)))
                    .contains(EmbeddedKafka.TRANSACTION_MAX_TIMEOUT);
        }
    }

    @Test
    void aStalledCheckpointUnderTheValidatedTimeoutLosesNothing() throws Exception {
        Configuration conf = checkpointing();
        Duration txTimeout = TransactionTimeouts.longestOpen(conf).plusSeconds(3);
        TransactionTimeouts.validate(conf, txTimeout, EmbeddedKafka.TRANSACTION_MAX_TIMEOUT);
        try (EmbeddedKafka kafka = EmbeddedKafka.start(tmp.resolve("kafka"))) {
            produceInput(kafka.bootstrapServers());
            try (EmbeddedFlink flink = EmbeddedFlink.start(conf, tmp.resolve("chk"), 1)) {
                JobID job = flink.submit(pipeline(flink, kafka.bootstrapServers(), txTimeout, "ok"));
                List<String> out = awaitCommitted(kafka.bootstrapServers(), RECORDS, Duration.ofMinutes(2));
                assertThat(flink.status(job)).isEqualTo(JobStatus.RUNNING);
                flink.cancel(job);
                assertThat(out).hasSize(RECORDS).doesNotHaveDuplicates();
                assertThat(flink.executionGraph(job).getCheckpointStatsSnapshot().getCounts().getNumberOfFailedCheckpoints())
                        .as("the stalled checkpoints expired").isGreaterThanOrEqualTo(TOLERABLE);
            }
        }
    }

    @Test
    void underTheOldMarginTheExpiredTransactionFailsTheJobLoudly() throws Exception {
        Configuration conf = checkpointing();
        Duration oldMargin = CHECKPOINT_TIMEOUT.plusMillis(500); // what ConfigYamlTest used to accept
        assertThat(TransactionTimeouts.problems(conf, oldMargin, null)).hasSize(1);
        try (EmbeddedKafka kafka = EmbeddedKafka.start(tmp.resolve("kafka"))) {
            produceInput(kafka.bootstrapServers());
            try (EmbeddedFlink flink = EmbeddedFlink.start(conf, tmp.resolve("chk"), 1)) {
                JobID job = flink.submit(pipeline(flink, kafka.bootstrapServers(), oldMargin, "old"));
                JobResult result = flink.await(job, Duration.ofMinutes(2));
                assertThat(result.getApplicationStatus().name()).isEqualTo("FAILED");
                Throwable cause = result.getSerializedThrowable().orElseThrow()
                        .deserializeError(getClass().getClassLoader());
                assertThat(ExceptionUtils.findThrowableWithMessage(cause, "could not be committed"))
                        .as("the job failed on the lost transaction: %s", ExceptionUtils.stringifyException(cause))
                        .isPresent();
                assertThat(readCommitted(kafka.bootstrapServers(), Duration.ofSeconds(2)))
                        .as("the broker aborted the records' transaction").hasSizeLessThan(RECORDS);
            }
        }
    }

    private static Configuration checkpointing() {
        Configuration c = new Configuration();
        c.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofMillis(300));
        c.set(CheckpointingOptions.CHECKPOINTING_TIMEOUT, CHECKPOINT_TIMEOUT);
        c.set(CheckpointingOptions.TOLERABLE_FAILURE_NUMBER, TOLERABLE);
        c.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        return c;
    }

    private static StreamExecutionEnvironment pipeline(
            EmbeddedFlink flink, String servers, Duration txTimeout, String prefix) {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(flink.configuration());
        env.setParallelism(1);
        KafkaSource<String> source = KafkaSource.<String>builder()
                .setBootstrapServers(servers)
                .setTopics("in")
                .setGroupId(prefix)
                .setStartingOffsets(OffsetsInitializer.earliest())
                .setValueOnlyDeserializer(new SimpleStringSchema())
                .build();
        KafkaSink<String> sink = KafkaSink.<String>builder()
                .setBootstrapServers(servers)
                .setRecordSerializer(KafkaRecordSerializationSchema.<String>builder()
                        .setTopic("out")
                        .setValueSerializationSchema(new SimpleStringSchema())
                        .build())
                .setDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE)
                .setTransactionalIdPrefix(prefix)
                .setTransactionNamingStrategy(TransactionNamingStrategy.POOLING)
                .setProperty("transaction.timeout.ms", String.valueOf(txTimeout.toMillis()))
                .build();
        env.fromSource(source, WatermarkStrategy.noWatermarks(), "in").uid("in")
                .map(new StallingMap()).uid("stall")
                .sinkTo(new CommitGuardedKafkaSink<>(sink)).uid("out");
        return env;
    }

    /** Passes records through; blocks the snapshot of the first {@link #TOLERABLE} checkpoints past their timeout. */
    private static final class StallingMap implements MapFunction<String, String>, CheckpointedFunction {
        @Override
        public String map(String value) {
            return value;
        }

        @Override
        public void snapshotState(FunctionSnapshotContext context) throws Exception {
            if (context.getCheckpointId() <= TOLERABLE) {
                Thread.sleep(STALL_MILLIS);
            }
        }

        @Override
        public void initializeState(FunctionInitializationContext context) {}
    }

    private static void produceInput(String servers) throws Exception {
        try (Admin admin = KafkaClients.admin(servers)) {
            admin.createTopics(List.of(new NewTopic("in", 1, (short) 1), new NewTopic("out", 1, (short) 1)))
                    .all().get();
        }
        try (KafkaProducer<String, String> p = KafkaClients.producer(servers).build()) {
            for (int i = 0; i < RECORDS; i++) {
                p.send(new ProducerRecord<>("in", "r" + i));
            }
            p.flush();
        }
    }

    private static List<String> awaitCommitted(String servers, int n, Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        List<String> out = List.of();
        while (System.nanoTime() < deadline) {
            out = readCommitted(servers, Duration.ofMillis(500));
            if (out.size() >= n) {
                Thread.sleep(1_000); // a duplicate committed later would show up here
                return readCommitted(servers, Duration.ofMillis(500));
            }
            Thread.sleep(200);
        }
        return out;
    }

    private static List<String> readCommitted(String servers, Duration poll) {
        List<String> values = new ArrayList<>();
        try (KafkaConsumer<String, String> c = KafkaClients.committedConsumer(servers).build()) {
            KafkaClients.assignFromBeginning(c, "out", Duration.ofSeconds(10));
            for (int empty = 0; empty < 2; ) {
                var records = c.poll(poll);
                if (records.isEmpty()) {
                    empty++;
                }
                for (ConsumerRecord<String, String> r : records) {
                    values.add(r.value());
                }
            }
        }
        return values;
    }
}
