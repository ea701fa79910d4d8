package io.flowget.job.run;

import io.flowget.job.embedded.EmbeddedFlink;
import io.flowget.job.kafka.KafkaClients;

import org.apache.flink.api.common.JobID;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.errors.WakeupException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

/**
 * The tail of a run: triggers the committing checkpoint as soon as the last result is <em>emitted</em>, instead of
 * waiting for the next periodic one. Results reach {@code --results} only when a checkpoint commits the results
 * sink's transaction. The sink writes each result into the open transaction as it comes, but its producer batches
 * (up to {@code FlowgetJob.SINK_LINGER}, 100 ms), so a {@code read_uncommitted} reader of the results topic sees a
 * result once its batch is sent: at once under a steady stream of results (the batch fills or lingers while more
 * come), and for the last ones of a run when the sink's writer flushes after a pause without a record ({@code
 * IdleFlushingWriter}; {@code FlowgetJob.sinkIdleFlush}, 25 ms for a run's job). This trigger depends on that
 * flush: without it the last results waited in the producer for the whole linger, and so did the run's tail (issue
 * 16: 0.35 -> 0.50 s). When the reader has seen a result for every expected request, one checkpoint is triggered;
 * its barrier follows every emitted result through the job, and its commit makes them all visible to the {@code
 * read_committed} {@link ResultCollector}. It counts results by their record key (the result's id, as the results
 * sink writes it) and never parses their JSON.
 *
 * <p>Only a shortcut: a result it counts may belong to an aborted transaction of an earlier attempt (a resumed
 * run), which at worst triggers a checkpoint too early; the collector still waits for every committed result, and
 * the periodic checkpoints keep committing either way.
 *
 * <p>Runs on its own daemon thread, owning its consumer; {@link #close()} (from the run's thread) stops it and
 * waits at most 5 s for it to end.
 */
final class TailCheckpoint implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(TailCheckpoint.class);
    private static final Duration POLL = Duration.ofMillis(100);
    private static final long JOIN_MILLIS = 5_000;

    private final Map<String, Integer> expected = new HashMap<>();
    private final int total;
    private final KafkaConsumer<String, String> consumer;
    private final Thread thread;
    private volatile boolean stopped;
    /** {@link System#nanoTime()} when the last expected result was seen emitted; 0 before. */
    private volatile long emittedNanos;

    private TailCheckpoint(
            List<InputStaging.Line> lines,
            String servers,
            Properties kafkaProps,
            String topic,
            EmbeddedFlink flink,
            JobID job) {
        for (InputStaging.Line l : lines) {
            expected.merge(l.expectedId(), 1, Integer::sum);
        }
        this.total = lines.size();
        this.consumer =
                KafkaClients.uncommittedConsumer(servers).properties(kafkaProps).maxPollRecords(5000).build();
        this.thread = new Thread(() -> watch(topic, flink, job), "flowget-tail-checkpoint");
        thread.setDaemon(true);
    }

    /** Starts watching the results topic (from its beginning) for the last emitted result of {@code lines}. */
    static TailCheckpoint start(
            List<InputStaging.Line> lines,
            String servers,
            Properties kafkaProps,
            String topic,
            EmbeddedFlink flink,
            JobID job) {
        TailCheckpoint t = new TailCheckpoint(lines, servers, kafkaProps, topic, flink, job);
        t.thread.start();
        return t;
    }

    /** When the last expected result was seen emitted ({@link System#nanoTime()}), 0 if not (yet). */
    long emittedNanos() {
        return emittedNanos;
    }

    private void watch(String topic, EmbeddedFlink flink, JobID job) {
        Map<String, Integer> seen = new HashMap<>();
        int count = 0;
        try {
            KafkaClients.assignFromBeginning(consumer, topic);
            while (!stopped && count < total) {
                for (ConsumerRecord<String, String> rec : consumer.poll(POLL)) {
                    // The results sink keys each record by its result's id (FlowgetJob): no JSON to parse here.
                    String id = rec.key();
                    Integer want = id == null ? null : expected.get(id);
                    if (want != null && seen.merge(id, 1, Integer::sum) <= want) {
                        count++;
                    }
                }
            }
            if (count >= total && !stopped) {
                emittedNanos = System.nanoTime();
                LOG.info("All {} results emitted; triggering the checkpoint that commits them", total);
                flink.triggerCheckpointAsync(job).whenComplete((chk, e) -> {
                    if (e != null) {
                        LOG.info("Tail checkpoint failed (a periodic one commits instead): {}", e.toString());
                    }
                });
            }
        } catch (WakeupException stopping) {
            // close()
        } catch (Exception e) {
            // Only a shortcut: the periodic checkpoints commit the results anyway.
            if (!stopped) {
                LOG.info("Tail checkpoint not triggered: {}", e.toString());
            }
        } finally {
            consumer.close(Duration.ZERO);
        }
    }

    @Override
    public void close() throws InterruptedException {
        stopped = true;
        consumer.wakeup();
        thread.join(JOIN_MILLIS);
    }
}
