package io.flowget.job.run;

import io.flowget.job.embedded.EmbeddedKafka;
import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The tail's checkpoint ({@link TailCheckpoint}) is what commits a run's results when no periodic checkpoint comes:
 * with the periodic ones 20 minutes away (interval and min-pause), a run of a few files must still complete within
 * its 2-minute timeout, so the tail must have counted every result as emitted. It counts them by their record key
 * (the result's id, as the results sink writes it), without parsing the JSON; a sink that stopped keying by id, or a
 * count that missed a result, makes the run time out here.
 *
 * <p>The same with the results producer lingering for 10 minutes: the tail must not depend on the producer's
 * batching, so the sink's writer has to flush its last results when they stop coming ({@code IdleFlushingWriter}).
 */
class TailCheckpointITCase {
    private static final Duration NO_PERIODIC_CHECKPOINT_BEFORE = Duration.ofMinutes(20);

    @TempDir Path tmp;

    @Test
    void theTailCommitsTheResultsWhenNoPeriodicCheckpointComes() throws Exception {
        runFiveFiles(new Configuration());
    }

    @Test
    void theTailDoesNotWaitForTheResultsProducersLinger() throws Exception {
        Configuration settings = new Configuration();
        // Far beyond the run's 2-minute timeout: a result held by the producer until its batch lingers out is seen
        // by neither the tail's reader nor, without a checkpoint, the collector.
        settings.setString("flowget.kafka.properties.linger.ms", String.valueOf(Duration.ofMinutes(10).toMillis()));
        runFiveFiles(settings);
    }

    private void runFiveFiles(Configuration settings) throws Exception {
        try (TestOrigin origin = TestOrigin.start("127.0.0.1");
                EmbeddedKafka kafka = EmbeddedKafka.start(tmp.resolve("kafka"))) {
            List<String> lines = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                origin.file("/tail/f" + i + ".bin", TestOrigin.content("tail" + i, 2000));
                lines.add("{\"id\":\"F" + i + "\",\"url\":\"" + origin.url("/tail/f" + i + ".bin") + "\"}");
            }
            Path urls = tmp.resolve("urls.jsonl");
            Files.write(urls, lines);

            settings.set(FlowgetOptions.NET_POSTURE, FlowgetOptions.NetPosture.LOCAL);
            settings.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, NO_PERIODIC_CHECKPOINT_BEFORE);
            settings.set(CheckpointingOptions.MIN_PAUSE_BETWEEN_CHECKPOINTS, NO_PERIODIC_CHECKPOINT_BEFORE);
            settings.set(CheckpointingOptions.CHECKPOINTING_TIMEOUT, Duration.ofMinutes(1)); // transaction rule
            RunSummary summary =
                    new LocalRun(
                                    new LocalRun.Request(urls, null, tmp.resolve("out"), tmp.resolve("results.jsonl"),
                                            tmp.resolve("state"), 1, kafka.bootstrapServers(), settings, true, false,
                                            Duration.ofMinutes(2)),
                                    new PrintStream(new ByteArrayOutputStream()))
                            .execute();

            assertThat(summary.ok()).isEqualTo(5);
            assertThat(Files.readAllLines(tmp.resolve("results.jsonl"))).hasSize(5);
            for (int i = 0; i < 5; i++) {
                assertThat(origin.hits("/tail/f" + i + ".bin")).isEqualTo(1);
            }
        }
    }
}
