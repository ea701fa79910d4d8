package io.flowget.job.chaos;

import io.flowget.job.chaos.FaultProxy.Faults;
import io.flowget.job.embedded.EmbeddedKafka;
import io.flowget.job.run.LocalRun;
import io.flowget.udf.testing.TestOrigin;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The precondition of every recovery in {@code flowget run}: checkpoints keep completing while the batch downloads,
 * so results are committed (and visible) as they come, and a crash loses only the work since the last checkpoint.
 *
 * <p>This failed before the run driver switched to an unbounded source: with a bounded source the requests
 * topic is read to its end within the first second, the fetch operator's {@code finish()} then waits for the whole
 * batch, and no checkpoint can complete while a task is in {@code finish()}. Every result became visible only at
 * the end, a SIGKILL lost all progress (the rerun fetched everything again, {@link ChaosProcessKillTest}), and a
 * drain longer than {@code flowget.kafka.transaction-timeout} had its results transaction aborted by the broker
 * (InvalidProducerEpochException, job restarts).
 *
 * <p>The check is an order of events, not a duration: the first result must be visible before the last file is
 * published. The bandwidth cap makes the downloads last about six checkpoint intervals.
 */
class ChaosRunCheckpointsTest {
    @TempDir Path tmp;

    @Test
    void resultsAreCommittedWhileTheBatchIsStillDownloading() throws Exception {
        try (TestOrigin origin = TestOrigin.start("127.0.0.1");
                EmbeddedKafka kafka = EmbeddedKafka.start(tmp.resolve("kafka"));
                FaultProxy proxy = FaultProxy.start("127.0.0.51", origin.host(), origin.port())) {
            proxy.faults(Faults.none().withBandwidth(1_000_000));
            ChaosData data = ChaosData.create("drain", origin, List.of(proxy), 60,
                    new ChaosData.SizeMix(0, 1024, 100_000, 100_000), 3);
            Path urls = tmp.resolve("urls.jsonl");
            Files.write(urls, data.requestLines());
            kafka.createTopics(2, "flowget.requests", "flowget.results", "flowget.dead-letter");
            Path out = tmp.resolve("out");
            try (ResultsFollower follower = ResultsFollower.start(kafka.bootstrapServers(), "flowget.results")) {
                LocalRun.Summary summary = new LocalRun(
                                new LocalRun.Request(urls, null, out, null, tmp.resolve("state"), 2,
                                        kafka.bootstrapServers(), ChaosReport.fetchSettings(), true, false,
                                        Duration.ofMinutes(3)),
                                new PrintStream(new ByteArrayOutputStream()))
                        .execute();
                assertThat(summary.ok()).isEqualTo(60);

                long lastPublished;
                try (Stream<Path> files = Files.walk(out)) {
                    lastPublished = files.filter(Files::isRegularFile)
                            .mapToLong(f -> f.toFile().lastModified())
                            .max()
                            .orElseThrow();
                }
                follower.await(() -> follower.distinctIds() >= 60, Duration.ofSeconds(30), "all results");
                assertThat(follower.firstResultMillis().orElseThrow())
                        .as("the first result is committed before the last file is published")
                        .isLessThan(lastPublished);
            }
            ChaosVerdict.judge(data.expected(), out,
                            ResultsFollower.readCommitted(kafka.bootstrapServers(), "flowget.results"))
                    .assertClean(true);
        }
    }
}
