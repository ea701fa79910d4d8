package io.flowget.job.run;

import io.flowget.job.embedded.EmbeddedKafka;
import io.flowget.job.kafka.KafkaClients;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The input's transactional produce ({@link InputStaging#produce}) on one long-lived broker, as a daemon runs one input
 * again and again, each run on topics of its own (per-run names): with the same transactional id every time (the
 * scheme before per-run ids: the input's digest only) and with one id per run (the scheme since). A daemon run once
 * had its produce fail with {@code OutOfOrderSequenceException} on a topic created that run (end sequence 2453) and
 * time out; this asks whether reusing the id across topics can do that.
 *
 * <p>It cannot, and this checks it on the real broker: {@code initTransactions} of a reused id fences the old
 * producer and bumps its epoch, the broker checks sequences per producer and partition, a new epoch (and a partition
 * the producer never wrote, which every per-run topic is) starts at sequence 0, and each produce is a new client whose
 * sequences start at 0. Every round below writes several batches per partition (end sequences in the thousands, as in
 * the incident), after the previous run's topic was deleted (a completed run's, at its answer) or while it still
 * exists (an unfinished run a fresh one replaces), and reads back exactly its lines, committed. The per-run id stays
 * (two runs never share a producer id, so nothing about one run's producer can reach another's); the incident's
 * cause is not found here.
 */
class InputProduceTransactionalIdITCase {
    private static final int LINES = 20_000;
    private static final int PARTITIONS = 2;
    @TempDir Path tmp;

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void oneTransactionalIdAcrossPerRunTopicsProducesEveryRunExactly() throws Exception {
        List<InputStaging.Line> lines = lines();
        try (EmbeddedKafka kafka = EmbeddedKafka.start(tmp.resolve("kafka"))) {
            String servers = kafka.bootstrapServers();
            String sameId = "flowget-run-input-0123456789abcdef"; // the digest-only id: one input, every run
            String previous = null;
            for (int run = 1; run <= 4; run++) {
                String topic = "flowget.requests.run" + run;
                if (previous != null && run % 2 == 0) {
                    deleteTopic(servers, previous); // a completed run's topics go before the next run
                }
                kafka.createTopics(PARTITIONS, topic);
                InputStaging.produce(servers, new Properties(), topic, lines, sameId);
                assertThat(committedKeys(servers, topic)).as("run %d on %s, id %s", run, topic, sameId)
                        .hasSize(LINES);
                previous = topic;
            }
            for (int run = 5; run <= 6; run++) { // per-run ids, as since fc486ec
                String topic = "flowget.requests.run" + run;
                kafka.createTopics(PARTITIONS, topic);
                InputStaging.produce(servers, new Properties(), topic, lines, "flowget-run" + run + "-run-input-0123");
                assertThat(committedKeys(servers, topic)).as("run %d", run).hasSize(LINES);
            }
        }
    }

    /** Lines of about 200 bytes: 4 MB, several 256 KiB batches per partition. */
    private static List<InputStaging.Line> lines() {
        List<InputStaging.Line> lines = new ArrayList<>();
        String pad = "x".repeat(150);
        for (int i = 1; i <= LINES; i++) {
            lines.add(new InputStaging.Line("line-" + i, "http://127.0.0.1:9/" + i + "/" + pad));
        }
        return lines;
    }

    private static void deleteTopic(String servers, String topic) throws Exception {
        try (Admin admin = KafkaClients.admin(servers)) {
            admin.deleteTopics(List.of(topic)).all().get(1, TimeUnit.MINUTES);
        }
    }

    /** The distinct keys committed to {@code topic} (read_committed, to its end). */
    private static Set<String> committedKeys(String servers, String topic) {
        Set<String> keys = new HashSet<>();
        int records = 0;
        try (KafkaConsumer<String, String> consumer = KafkaClients.committedConsumer(servers).build()) {
            KafkaClients.assignFromBeginning(consumer, topic, Duration.ofMinutes(1));
            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
            while (records < LINES && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                    keys.add(r.key());
                    records++;
                }
            }
            for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) { // nothing more
                keys.add(r.key());
                records++;
            }
        }
        assertThat(records).as("records committed to %s (no duplicates)", topic).isEqualTo(LINES);
        return keys;
    }
}
