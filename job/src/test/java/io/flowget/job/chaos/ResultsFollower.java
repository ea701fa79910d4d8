package io.flowget.job.chaos;

import io.flowget.job.kafka.KafkaClients;
import io.flowget.udf.json.Json;
import io.flowget.udf.model.FetchResult;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * Follows the results topic with {@code read_committed} from the beginning on a background thread, as a
 * downstream consumer would, and remembers when each result became visible. Survives a broker restart on the
 * same address (the consumer reconnects by itself). Also holds the Kafka helpers of the experiments.
 *
 * <p>Thread-safe reads; one owner starts and closes it.
 */
final class ResultsFollower implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ResultsFollower.class);

    /** A result and when it was polled ({@link System#nanoTime()} and wall clock). */
    record Seen(FetchResult result, long atNanos, long atMillis) {}

    private final KafkaConsumer<String, String> consumer;
    private final Thread thread;
    private final List<Seen> seen = new CopyOnWriteArrayList<>();
    private final Set<String> distinct = ConcurrentHashMap.newKeySet();
    private volatile boolean running = true;
    private volatile Throwable failure;

    private ResultsFollower(String servers, String topic) {
        consumer = newConsumer(servers);
        KafkaClients.assignFromBeginning(consumer, topic);
        thread = new Thread(this::loop, "results-follower");
        thread.setDaemon(true);
    }

    static ResultsFollower start(String servers, String topic) {
        ResultsFollower f = new ResultsFollower(servers, topic);
        f.thread.start();
        return f;
    }

    private void loop() {
        try {
            while (running) {
                for (ConsumerRecord<String, String> rec : consumer.poll(Duration.ofMillis(100))) {
                    FetchResult r = Json.resultFromJson(rec.value());
                    seen.add(new Seen(r, System.nanoTime(), System.currentTimeMillis()));
                    distinct.add(String.valueOf(r.id));
                }
            }
        } catch (WakeupException closing) {
            // close() asked us to stop
        } catch (Throwable t) {
            failure = t;
            LOG.error("Results follower failed", t);
        } finally {
            consumer.close(Duration.ofSeconds(5));
        }
    }

    /** Distinct ids seen so far. */
    int distinctIds() {
        return distinct.size();
    }

    /** Every result seen so far, duplicates included. */
    List<FetchResult> results() {
        List<FetchResult> out = new ArrayList<>(seen.size());
        seen.forEach(s -> out.add(s.result()));
        return out;
    }

    /** Wall-clock time (epoch ms) when the first result became visible. */
    OptionalLong firstResultMillis() {
        return seen.stream().mapToLong(Seen::atMillis).min();
    }

    /** When the first result became visible after {@code nanos}. */
    OptionalLong firstResultAfter(long nanos) {
        return seen.stream().mapToLong(Seen::atNanos).filter(t -> t > nanos).min();
    }

    /**
     * Waits until {@code condition} holds, failing after {@code timeout} with {@code what} and the progress.
     * Polls every 50 ms.
     */
    void await(BooleanSupplier condition, Duration timeout, String what) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (failure != null) {
                throw new IllegalStateException("results follower failed", failure);
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after " + timeout + " waiting for " + what + " ("
                        + distinctIds() + " distinct results so far)");
            }
            TimeUnit.MILLISECONDS.sleep(50);
        }
    }

    @Override
    public void close() throws InterruptedException {
        running = false;
        consumer.wakeup();
        thread.join(TimeUnit.SECONDS.toMillis(10));
    }

    // ---- Kafka helpers -------------------------------------------------------------------------

    /** A committed result and its record's timestamp (producer time, epoch ms). */
    record Committed(FetchResult result, long timestamp) {}

    /** Every committed record of {@code topic} up to its current end, as results. */
    static List<FetchResult> readCommitted(String servers, String topic) throws Exception {
        List<FetchResult> out = new ArrayList<>();
        readCommittedRecords(servers, topic).forEach(c -> out.add(c.result()));
        return out;
    }

    /** Every committed record of {@code topic} up to its current end, with timestamps. */
    static List<Committed> readCommittedRecords(String servers, String topic) throws Exception {
        List<Committed> out = new ArrayList<>();
        try (KafkaConsumer<String, String> c = newConsumer(servers)) {
            List<TopicPartition> parts = KafkaClients.assignFromBeginning(c, topic);
            Map<TopicPartition, Long> end = c.endOffsets(parts); // the last stable offset under read_committed
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (parts.stream().anyMatch(tp -> c.position(tp) < end.get(tp))) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("could not read " + topic + " to its end " + end + " in 60 s");
                }
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                    out.add(new Committed(Json.resultFromJson(r.value()), r.timestamp()));
                }
            }
        }
        return out;
    }

    /** Produces the lines as request events (key {@code line-N}) in one transaction. */
    static void produce(String servers, String topic, List<String> lines) {
        try (KafkaProducer<String, String> producer =
                KafkaClients.producer(servers).transactionalId("chaos-requests").build()) {
            producer.initTransactions();
            producer.beginTransaction();
            int n = 0;
            for (String l : lines) {
                producer.send(new ProducerRecord<>(topic, "line-" + ++n, l));
            }
            producer.commitTransaction();
        }
    }

    private static KafkaConsumer<String, String> newConsumer(String servers) {
        // reconnect quickly after a broker restart
        return KafkaClients.committedConsumer(servers).reconnectBackoffMax(Duration.ofSeconds(1)).build();
    }
}
