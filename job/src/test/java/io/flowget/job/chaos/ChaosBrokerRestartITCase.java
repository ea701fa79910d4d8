package io.flowget.job.chaos;

import io.flowget.job.chaos.FaultProxy.Faults;
import io.flowget.job.embedded.EmbeddedKafka;

import org.apache.flink.runtime.checkpoint.RestoredCheckpointStats;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Experiment (c), broker restart: mid-run the embedded Kafka broker (requests, results and the transaction
 * coordinator) is shut down for a few seconds and started again on the same data directory and address. The
 * source, the transactional results sink and the checkpoints all lose their broker at once; the job must come
 * through, by itself, with every result exactly once and every file byte-exact.
 *
 * <p>Figures: outage length, broker back → first result committed, and whether the job failed over (a
 * restored checkpoint after the outage) or rode it out.
 */
class ChaosBrokerRestartITCase {
    @TempDir Path tmp;

    /** Bounded: 300 files, one 3 s outage at 30 %. */
    @Test
    void jobSurvivesABrokerRestartWithExactlyOnceResults() throws Exception {
        run("broker", 300, 3, new double[] {0.3}, Duration.ofSeconds(3), Faults.none());
    }

    /** Soak: 2000 files with 1 % loss stalls and 0.5 % resets, three 5 s outages. */
    @Test
    @Tag("slow")
    void soakRepeatedBrokerRestarts() throws Exception {
        run("broker-soak", 2000, 4, new double[] {0.2, 0.45, 0.7}, Duration.ofSeconds(5),
                Faults.none().withLoss(0.01).withResets(0.005));
    }

    private void run(String name, int files, int hosts, double[] restartAt, Duration outage, Faults base)
            throws Exception {
        Faults faults = base.withLatency(Duration.ofMillis(20), Duration.ofMillis(5)).withBandwidth(600_000);
        try (StreamingRig rig = StreamingRig.start(tmp, name, files, hosts, faults, 1)) {
            List<Long> backToResultMs = new ArrayList<>();
            int failovers = 0;
            long t0 = System.nanoTime();
            for (double at : restartAt) {
                rig.awaitResults((int) (files * at), Duration.ofMinutes(5));
                String address = rig.kafka.bootstrapServers();
                long downWall = System.currentTimeMillis();
                rig.kafka.close();
                rig.kafka = null;
                TimeUnit.MILLISECONDS.sleep(outage.toMillis()); // the outage itself
                rig.kafka = EmbeddedKafka.start(tmp.resolve("kafka"));
                long backNanos = System.nanoTime();
                assertThat(rig.kafka.bootstrapServers())
                        .as("the restarted broker keeps its address (sticky ports)")
                        .isEqualTo(address);
                rig.follower.await(() -> rig.follower.firstResultAfter(backNanos).isPresent(), Duration.ofMinutes(3),
                        "a result after the broker came back");
                backToResultMs.add((rig.follower.firstResultAfter(backNanos).getAsLong() - backNanos) / 1_000_000);
                RestoredCheckpointStats restored =
                        rig.flink.executionGraph(rig.job).getCheckpointStatsSnapshot().getLatestRestoredCheckpoint();
                if (restored != null && restored.getRestoreTimestamp() >= downWall) {
                    failovers++;
                }
            }
            ChaosVerdict verdict = rig.finish(Duration.ofMinutes(10)).assertClean(true);
            new ChaosReport("broker-restart " + name)
                    .verdict(verdict)
                    .put("restarts", restartAt.length)
                    .put("outage_s", outage.toSeconds())
                    .put("job_failovers", failovers)
                    .put("back_to_first_result_ms", ChaosTaskManagerKillITCase.stats(backToResultMs))
                    .proxies(rig.proxyStats())
                    .put("mib", rig.data.totalBytes() / 1048576.0)
                    .put("seconds", ChaosReport.seconds(System.nanoTime() - t0))
                    .write();
        }
    }
}
