package io.flowget.job.chaos;

import io.flowget.job.cli.FlowgetCli;
import io.flowget.job.embedded.EmbeddedKafka;
import io.flowget.job.chaos.FaultProxy.Faults;
import io.flowget.udf.json.Json;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.testing.TestOrigin;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Experiment (d), the whole process killed: {@code flowget run} runs in a child JVM (the test class path and
 * {@link FlowgetCli#main}, the code of the shaded jar), is killed with SIGKILL when part of the files are in
 * {@code --out}, and the same command is run again with the same {@code --state-dir} until it finishes. The rerun
 * must resume (issue 3): exit 0, one result line per request, byte-exact files, on the results topic itself
 * (read back from the run's own broker data) no request twice, and no request fetched again whose result was
 * committed before the kill (the results' record timestamps tell which ones).
 *
 * <p>Figure: bytes the origin served over all runs against the size of the data. A fresh start would serve
 * 1 + the fraction done at the kill; a resume serves again only the work after the last completed checkpoint
 * (chunks completed before it are kept) plus what was in flight.
 */
class ChaosProcessKillITCase {
    private static final Duration RUN_TIMEOUT = Duration.ofMinutes(5);

    @TempDir Path tmp;

    /** Bounded: 120 files (some up to 1 MiB), one SIGKILL at 50 %. */
    @Test
    void rerunAfterSigkillResumesByteExactWithOneResultPerRequest() throws Exception {
        run("proc", 120, new double[] {0.5}, Faults.none(), 1024 * 1024);
    }

    /**
     * Soak: 600 files (some up to 2 MiB, in 256 KiB chunks) through proxies with 1 % resets and 1 % loss stalls per
     * 16 KiB segment, SIGKILLs at 25, 50 and 75 %. A reset costs one chunk; before chunked downloads it cost the
     * whole file, and at this rate a 2 MiB file once exhausted its ten attempts.
     */
    @Test
    @Tag("slow")
    void soakRepeatedSigkills() throws Exception {
        run("proc-soak", 600, new double[] {0.25, 0.5, 0.75}, Faults.none().withResets(0.01).withLoss(0.01),
                2 * 1024 * 1024);
    }

    /** @param largeMax largest file; a tenth of the files lie between 256 KiB and this */
    private void run(String name, int files, double[] killAt, Faults faults, int largeMax) throws Exception {
        List<FaultProxy> proxies = new ArrayList<>();
        try (TestOrigin origin = TestOrigin.start("127.0.0.1")) {
            for (int h = 0; h < 2; h++) {
                // The bandwidth cap stretches the downloads so the kill lands mid-run.
                proxies.add(FaultProxy.start("127.0.0." + (41 + h), origin.host(), origin.port())
                        .faults(faults.withBandwidth(1_500_000)));
            }
            ChaosData data = ChaosData.create(name, origin, proxies, files,
                    new ChaosData.SizeMix(0.9, 24 * 1024, 256 * 1024, largeMax), 5);
            Path urls = tmp.resolve("urls.jsonl");
            Files.write(urls, data.requestLines());
            Path out = tmp.resolve("out");
            Path state = tmp.resolve("state");
            Path results = tmp.resolve("results.jsonl");
            List<String> args = new ArrayList<>(List.of("run", "--urls", urls.toString(), "--out", out.toString(),
                    "--state-dir", state.toString(), "--results", results.toString(), "--parallelism", "2",
                    "--quiet"));
            args.addAll(ChaosReport.fetchSettingsArgs());
            // Issue 16: each proxy host has files / 2 requests, so run spreads both over two shards (subtasks): the
            // resumed run must give every restored request its key again.
            args.addAll(List.of("--set", "flowget.run.spread-min-requests=" + Math.max(1, files / 4)));

            long t0 = System.nanoTime();
            List<Integer> filesAtKill = new ArrayList<>();
            List<Long> checkpointAtKill = new ArrayList<>();
            List<String> phases = new ArrayList<>(); // seconds since start at each kill and at the end
            List<Long> killWall = new ArrayList<>(); // epoch ms of each kill
            List<Map<String, Integer>> hitsAtKill = new ArrayList<>(); // origin hits per request id at each kill
            int attempt = 0;
            for (double at : killAt) {
                killWall.add(Long.MAX_VALUE); // set just before the kill
                Process child = start(args, tmp.resolve("run-" + ++attempt + ".log"));
                try {
                    int target = (int) Math.ceil(files * at);
                    long deadline = System.nanoTime() + RUN_TIMEOUT.toNanos();
                    while (countFiles(out) < target) {
                        assertThat(child.isAlive()).as("run %s ended before the kill, see its log", attempt).isTrue();
                        assertThat(System.nanoTime()).as("%s files not reached in time", target).isLessThan(deadline);
                        TimeUnit.MILLISECONDS.sleep(20);
                    }
                } finally {
                    killWall.set(killWall.size() - 1, System.currentTimeMillis());
                    child.destroyForcibly(); // SIGKILL: no shutdown hook, no clean close of broker or cluster
                    assertThat(child.waitFor(30, TimeUnit.SECONDS)).isTrue();
                }
                phases.add("kill@" + ChaosReport.seconds(System.nanoTime() - t0));
                filesAtKill.add(countFiles(out));
                checkpointAtKill.add(newestCheckpoint(state.resolve("checkpoints")));
                try (Stream<Path> s = Files.walk(out)) {
                    assertThat(s.filter(p -> p.toString().endsWith(".part")))
                            .as("no partial files in --out after a kill").isEmpty();
                }
                Map<String, Integer> hits = new HashMap<>();
                for (String id : data.expected().keySet()) {
                    hits.put(id, origin.hits(data.item(id).path()));
                }
                hitsAtKill.add(hits);
            }

            Process last = start(args, tmp.resolve("run-final.log"));
            assertThat(last.waitFor(RUN_TIMEOUT.toSeconds(), TimeUnit.SECONDS))
                    .as("the rerun finishes, see %s", tmp.resolve("run-final.log")).isTrue();
            long elapsed = System.nanoTime() - t0;
            phases.add("rerun@" + ChaosReport.seconds(elapsed));

            List<String> lines = Files.readAllLines(results);
            List<FetchResult> fromFile = new ArrayList<>();
            for (String l : lines) {
                fromFile.add(Json.resultFromJson(l));
            }
            ChaosVerdict verdict = ChaosVerdict.judge(data.expected(), out, fromFile).assertClean(true);
            assertThat(lines).hasSize(files);
            assertThat(last.exitValue()).as("exit status of the rerun, see its log").isZero();
            List<ResultsFollower.Committed> onTopic;
            try (EmbeddedKafka kafka = EmbeddedKafka.start(state.resolve("kafka"))) {
                // the run's own results topic (run.json records it: each run on the embedded broker has its own names)
                String topic = Json.readTree(Files.readString(state.resolve("run.json")))
                        .path("kafka").path("results_topic").asText();
                assertThat(topic).startsWith("flowget.results.");
                onTopic = ResultsFollower.readCommittedRecords(kafka.bootstrapServers(), topic);
            }
            ChaosVerdict.judge(data.expected(), out, onTopic.stream().map(ResultsFollower.Committed::result).toList())
                    .assertClean(true);

            // Resume, not restart. A committed result produced before kill k was part of a checkpoint completed
            // before that kill (an open transaction is aborted on restore, a pre-committed one is committed), so
            // its request was finished in the state every later run restored: its file must not be fetched again.
            List<Integer> committedAtKill = new ArrayList<>();
            for (int k = 0; k < killWall.size(); k++) {
                int n = 0;
                for (ResultsFollower.Committed c : onTopic) {
                    if (c.timestamp() < killWall.get(k)) {
                        n++;
                        String id = c.result().id;
                        assertThat(origin.hits(data.item(id).path()))
                                .as("requests for %s after its result was committed before kill %s", id, k + 1)
                                .isEqualTo(hitsAtKill.get(k).get(id));
                    }
                }
                committedAtKill.add(n);
            }
            assertThat(committedAtKill.get(committedAtKill.size() - 1))
                    .as("results committed before the last kill").isPositive();

            FaultProxy.Stats stats = FaultProxy.Stats.zero();
            for (FaultProxy p : proxies) {
                stats = stats.plus(p.stats());
            }
            double ratio = (double) stats.bytesFromOrigin() / data.totalBytes();
            new ChaosReport("process-kill " + name)
                    .verdict(verdict)
                    .put("sigkills", killAt.length)
                    .put("files_at_kill", filesAtKill)
                    .put("checkpoint_at_kill", checkpointAtKill)
                    .put("committed_at_kill", committedAtKill)
                    .put("served_mib", stats.bytesFromOrigin() / 1048576.0)
                    .put("data_mib", data.totalBytes() / 1048576.0)
                    .put("served_ratio", ratio)
                    .proxies(stats)
                    .put("seconds", ChaosReport.seconds(elapsed))
                    .put("phases_s", phases)
                    .write();
        } finally {
            for (FaultProxy p : proxies) {
                p.close();
            }
        }
    }

    /** Starts {@code flowget <args>} in a child JVM with this test's class path; output to {@code log}. */
    private Process start(List<String> args, Path log) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx768m",
                "-XX:TieredStopAtLevel=1", // C1 only: start-up dominates these short runs
                "-XX:+UseSerialGC",
                "-Djava.io.tmpdir=" + System.getProperty("java.io.tmpdir"),
                "-cp", System.getProperty("java.class.path"),
                FlowgetCli.class.getName()));
        cmd.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().remove("FLOWGET_HOME"); // no conf/config.yaml: only the --set values apply
        pb.directory(tmp.toFile()); // nothing may land in the working directory; keep it inside the temp dir
        return pb.start();
    }

    private static int countFiles(Path out) throws IOException {
        if (!Files.isDirectory(out)) {
            return 0;
        }
        try (Stream<Path> s = Files.walk(out)) {
            return (int) s.filter(Files::isRegularFile).count();
        }
    }

    /** Highest completed checkpoint id under the checkpoint dir (Flink retains only the newest ones). */
    private static long newestCheckpoint(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return 0;
        }
        try (Stream<Path> s = Files.walk(dir, 3)) {
            return s.filter(p -> p.getFileName().toString().equals("_metadata"))
                    .map(p -> p.getParent().getFileName().toString())
                    .filter(n -> n.startsWith("chk-"))
                    .mapToLong(n -> Long.parseLong(n.substring(4)))
                    .max()
                    .orElse(0);
        }
    }
}
