package io.flowget.job.embedded;

import io.flowget.job.JobOptions;
import io.flowget.job.kafka.KafkaClients;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.FinalizedVersionRange;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Real broker, real clients: transactional writes are visible to read_committed readers (aborted ones are not),
 * the sink's default transaction timeout is accepted, topics and records survive a restart on the same data dir
 * (also when the old ports are taken, and after the broker's process was killed), and close() leaves no
 * non-daemon thread behind.
 */
class EmbeddedKafkaITCase {
    private static final String TOPIC = "flowget.test";
    private static final Duration READ_DEADLINE = Duration.ofSeconds(30);

    @TempDir Path tmp;

    @Test
    void transactionalRecordsSurviveRestartsWithSameAndNewPorts() throws Exception {
        Set<Thread> threadsBefore = nonDaemonThreads();
        Path dataDir = tmp.resolve("kafka");
        List<String> committed = IntStream.range(0, 100).mapToObj(i -> "record-" + i).collect(Collectors.toList());

        String firstBootstrap;
        try (EmbeddedKafka kafka = EmbeddedKafka.start(dataDir)) {
            firstBootstrap = kafka.bootstrapServers();
            assertThat(firstBootstrap).startsWith("127.0.0.1:");
            assertThat(LoopbackCheck.nonLoopbackListeners()).as("listening sockets not on loopback").isEmpty();
            kafka.createTopics(2, TOPIC, "flowget.other");
            kafka.createTopics(2, TOPIC); // idempotent

            assertThat(transactionVersion(kafka)).isEqualTo((short) 1);
            produceTransactionally(kafka, "tx-1", committed, true);
            produceTransactionally(kafka, "tx-1", List.of("aborted-1", "aborted-2"), false);

            assertThat(readCommitted(kafka, committed.size())).containsExactlyInAnyOrderElementsOf(committed);
            assertThat(partitionCount(kafka, TOPIC)).isEqualTo(2);

            // The JobOptions default for the sink; InitProducerId fails if it exceeds transaction.max.timeout.ms.
            try (KafkaProducer<String, String> producer =
                    KafkaClients.producer(kafka.bootstrapServers())
                            .transactionalId("tx-timeout")
                            .transactionTimeout(JobOptions.KAFKA_TRANSACTION_TIMEOUT.defaultValue())
                            .build()) {
                producer.initTransactions();
            }
            kafka.close(); // and once more by try-with-resources: close is idempotent
        }

        // Same data dir, old ports free: the broker comes back on them, with its topics and records.
        try (EmbeddedKafka kafka = EmbeddedKafka.start(dataDir)) {
            assertThat(kafka.bootstrapServers()).isEqualTo(firstBootstrap);
            assertThat(readCommitted(kafka, committed.size())).containsExactlyInAnyOrderElementsOf(committed);
        }

        // Same data dir, old broker port taken: new ports, same data, transactions still work.
        int oldPort = Integer.parseInt(firstBootstrap.substring(firstBootstrap.indexOf(':') + 1));
        try (ServerSocket squatter = new ServerSocket(oldPort, 1, InetAddress.getByName("127.0.0.1"));
                EmbeddedKafka kafka = EmbeddedKafka.start(dataDir)) {
            assertThat(kafka.bootstrapServers()).isNotEqualTo(firstBootstrap);
            kafka.createTopics(2, TOPIC, "flowget.other");
            assertThat(readCommitted(kafka, committed.size())).containsExactlyInAnyOrderElementsOf(committed);

            produceTransactionally(kafka, "tx-1", List.of("after-restart"), true);
            List<String> all = new ArrayList<>(committed);
            all.add("after-restart");
            assertThat(readCommitted(kafka, all.size())).containsExactlyInAnyOrderElementsOf(all);
        }

        assertNoNewNonDaemonThreads(threadsBefore);
    }

    /**
     * A SIGKILLed broker (as when {@code flowget run} is killed) leaves an unclean log, its lock file and an open
     * transaction behind; the next start on the same dir recovers: committed records are readable, and a producer
     * with the same transactional id (what the Flink sink does on restore) aborts the open transaction, which
     * unblocks read_committed readers.
     */
    @Test
    void brokerRecoversAfterTheProcessIsKilled() throws Exception {
        Path dataDir = tmp.resolve("kafka");
        Path ready = tmp.resolve("child-ready");
        Path childLog = tmp.resolve("child.log");
        String javaBin = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process child = new ProcessBuilder(
                        javaBin,
                        "-Xmx256m",
                        "-XX:TieredStopAtLevel=1", // C1 only: the child lives for seconds, start-up dominates
                        "-Djava.io.tmpdir=" + System.getProperty("java.io.tmpdir"),
                        "-cp",
                        System.getProperty("java.class.path"),
                        KafkaCrashChild.class.getName(),
                        dataDir.toString(),
                        TOPIC,
                        "50",
                        ready.toString())
                .redirectErrorStream(true)
                .redirectOutput(childLog.toFile())
                .start();
        try {
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (!Files.exists(ready)) {
                assertThat(child.isAlive()).as("child exited early, see %s", childLog).isTrue();
                assertThat(System.nanoTime()).as("child not ready in 60 s").isLessThan(deadline);
                Thread.sleep(50); // poll interval, bounded by the deadline
            }
        } finally {
            child.destroyForcibly(); // SIGKILL: no shutdown hook, no clean log close
            assertThat(child.waitFor(30, TimeUnit.SECONDS)).isTrue();
        }

        List<String> committed = IntStream.range(0, 50).mapToObj(i -> "committed-" + i).collect(Collectors.toList());
        try (EmbeddedKafka kafka = EmbeddedKafka.start(dataDir)) {
            assertThat(readCommitted(kafka, committed.size())).containsExactlyInAnyOrderElementsOf(committed);
            try (KafkaProducer<String, String> producer = transactionalProducer(kafka, "crash-tx")) {
                producer.initTransactions(); // fences the dead producer and aborts its open transaction
                producer.beginTransaction();
                producer.send(new ProducerRecord<>(TOPIC, "after-crash"));
                producer.commitTransaction();
            }
            List<String> all = new ArrayList<>(committed);
            all.add("after-crash");
            assertThat(readCommitted(kafka, all.size())).containsExactlyInAnyOrderElementsOf(all);
        }
    }

    // ---- helpers ---------------------------------------------------------------------------------

    private static short transactionVersion(EmbeddedKafka kafka) throws Exception {
        try (Admin admin = KafkaClients.admin(kafka.bootstrapServers())) {
            FinalizedVersionRange range =
                    admin.describeFeatures().featureMetadata().get().finalizedFeatures().get("transaction.version");
            return range.maxVersionLevel();
        }
    }

    private static void produceTransactionally(
            EmbeddedKafka kafka, String transactionalId, List<String> values, boolean commit) {
        try (KafkaProducer<String, String> producer = transactionalProducer(kafka, transactionalId)) {
            producer.initTransactions();
            producer.beginTransaction();
            for (String v : values) {
                producer.send(new ProducerRecord<>(TOPIC, v, v));
            }
            if (commit) {
                producer.commitTransaction();
            } else {
                producer.flush();
                producer.abortTransaction();
            }
        }
    }

    private static KafkaProducer<String, String> transactionalProducer(EmbeddedKafka kafka, String transactionalId) {
        return KafkaClients.producer(kafka.bootstrapServers())
                .transactionalId(transactionalId)
                .transactionTimeout(Duration.ofMinutes(1))
                .build();
    }

    /**
     * Reads the topic from the beginning with read_committed until the end offsets (which, for read_committed, stop
     * at the last stable offset) are reached; fails if fewer than {@code expected} values arrive before the deadline.
     */
    private static List<String> readCommitted(EmbeddedKafka kafka, int expected) {
        List<String> values = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = KafkaClients.committedConsumer(kafka.bootstrapServers()).build()) {
            KafkaClients.assignFromBeginning(consumer, TOPIC);
            long deadline = System.nanoTime() + READ_DEADLINE.toNanos();
            while (values.size() < expected && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                    values.add(r.value());
                }
            }
            // One more short poll: anything beyond the expected count (e.g. aborted records) would show up here.
            consumer.poll(Duration.ofMillis(200)).forEach(r -> values.add(r.value()));
        }
        return values;
    }

    private static int partitionCount(EmbeddedKafka kafka, String topic) throws Exception {
        try (Admin admin = KafkaClients.admin(kafka.bootstrapServers())) {
            return admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic).partitions().size();
        }
    }

    static Set<Thread> nonDaemonThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> !t.isDaemon() && t.isAlive())
                .collect(Collectors.toSet());
    }

    /** Waits (bounded) for threads started since {@code before} to end; some stop just after close() returns. */
    static void assertNoNewNonDaemonThreads(Set<Thread> before) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        Set<Thread> leaked;
        do {
            leaked = nonDaemonThreads();
            leaked.removeAll(before);
            if (leaked.isEmpty()) {
                return;
            }
            leaked.iterator().next().join(100);
        } while (System.nanoTime() < deadline);
        assertThat(leaked.stream().map(Thread::getName).collect(Collectors.toList())).isEmpty();
    }
}
