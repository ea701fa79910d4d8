package io.flowget.job.chaos;

import io.flowget.job.chaos.FaultProxy.Faults;

import org.apache.flink.runtime.checkpoint.RestoredCheckpointStats;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.LongSummaryStatistics;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Experiment (b), TaskManager loss (the local PodChaos {@code pod-kill-taskmanager}): the unbounded job runs on two
 * TaskManagers of one slot each, so each holds a subtask of every operator; mid-run one TaskManager is stopped and a
 * replacement started (what Kubernetes does for a killed pod). The job must fail over by itself, restore the
 * latest checkpoint, and finish the batch with every result exactly once and every file byte-exact.
 *
 * <p>Figures per kill: kill → checkpoint restored and job RUNNING, kill → first byte served on a new connection
 * (the restored job's first download), kill → first result committed after the restore.
 */
class ChaosTaskManagerKillITCase {
    @TempDir Path tmp;

    /** Bounded: 300 files, one kill at 30 %. */
    @Test
    void jobRecoversFromATaskManagerKillWithExactlyOnceResults() throws Exception {
        run("tm", 300, 3, new double[] {0.3}, Faults.none().withBandwidth(500_000));
    }

    /** Soak: 2000 files on 4 hosts with 1 % loss stalls and 0.5 % resets (retries in flight at the kills), six kills. */
    @Test
    @Tag("slow")
    void soakRepeatedTaskManagerKills() throws Exception {
        run("tm-soak", 2000, 4, new double[] {0.1, 0.25, 0.4, 0.55, 0.7, 0.85},
                Faults.none().withBandwidth(600_000).withLoss(0.01).withResets(0.005));
    }

    /** @param base faults of every proxy; a bandwidth cap in it stretches the run so kills hit downloads in flight */
    private void run(String name, int files, int hosts, double[] killAt, Faults base) throws Exception {
        Faults faults = base.withLatency(Duration.ofMillis(20), Duration.ofMillis(5));
        try (StreamingRig rig = StreamingRig.start(tmp, name, files, hosts, faults, 2)) {
            int nextIndex = 2; // TaskManagers 0 and 1 run; indices are never reused
            int oldest = 0;
            List<Long> restoreMs = new ArrayList<>();
            List<Long> firstByteMs = new ArrayList<>();
            List<Long> firstResultMs = new ArrayList<>();
            long t0 = System.nanoTime();
            for (double at : killAt) {
                rig.awaitResults((int) (files * at), Duration.ofMinutes(5));
                long killWall = System.currentTimeMillis();
                long killNanos = System.nanoTime();
                rig.markProxies();
                rig.flink.terminateTaskManager(oldest++);
                rig.flink.startTaskManager();
                nextIndex++;
                RestoredCheckpointStats restored = rig.awaitRestore(killWall, Duration.ofMinutes(2));
                long restoreNanos = killNanos + (restored.getRestoreTimestamp() - killWall) * 1_000_000;
                rig.follower.await(() -> rig.follower.firstResultAfter(restoreNanos).isPresent(),
                        Duration.ofMinutes(2), "a result after the restore");
                restoreMs.add((restored.getRestoreTimestamp() - killWall));
                firstResultMs.add((rig.follower.firstResultAfter(restoreNanos).getAsLong() - killNanos) / 1_000_000);
                rig.firstByteSinceMark().ifPresent(t -> firstByteMs.add((t - killNanos) / 1_000_000));
            }
            ChaosVerdict verdict = rig.finish(Duration.ofMinutes(10)).assertClean(true);
            long elapsed = System.nanoTime() - t0;
            assertThat(restoreMs).as("every kill led to a restore").hasSize(killAt.length);

            new ChaosReport("taskmanager-kill " + name)
                    .verdict(verdict)
                    .put("kills", killAt.length)
                    .put("taskmanagers_started", nextIndex)
                    .put("restore_ms", stats(restoreMs))
                    .put("first_byte_ms", stats(firstByteMs))
                    .put("first_result_ms", stats(firstResultMs))
                    .proxies(rig.proxyStats())
                    .put("mib", rig.data.totalBytes() / 1048576.0)
                    .put("seconds", ChaosReport.seconds(elapsed))
                    .write();
        }
    }

    /** "min/mean/max" of a list of milliseconds. */
    static String stats(List<Long> ms) {
        if (ms.isEmpty()) {
            return "n/a";
        }
        LongSummaryStatistics s = ms.stream().mapToLong(Long::longValue).summaryStatistics();
        return s.getMin() + "/" + Math.round(s.getAverage()) + "/" + s.getMax();
    }
}
