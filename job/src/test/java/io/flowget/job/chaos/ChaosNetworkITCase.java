package io.flowget.job.chaos;

import io.flowget.job.cli.ExitCodes;
import io.flowget.job.embedded.EmbeddedKafka;
import io.flowget.job.run.LocalRun;
import io.flowget.job.run.RunSummary;
import io.flowget.job.chaos.FaultProxy.Faults;
import io.flowget.udf.json.Json;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.testing.TestOrigin;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Experiment (a), a slow and lossy network (chaos/README.md, "Local runner"): the {@code run} driver downloads a
 * marked batch through {@link FaultProxy}s with 100 ms ± 20 ms latency each way, 1.5 % loss stalls and 1.5 %
 * connection resets per segment, while a monkey blackholes one host at a time and flaps connections. The
 * retries must absorb all of it: every request ends OK, exactly once, byte-exact.
 *
 * <p>It also checks the precondition of every recovery in {@code flowget run}: checkpoints keep completing while
 * the batch downloads, so results are committed as they come and a crash loses only the work since the last
 * checkpoint. The check is an order of events, not a duration: the first result is visible before the last file
 * is published. This failed while the run driver used a bounded source: the requests topic was read to its end
 * within a second, the fetch operator's {@code finish()} then waited for the whole batch, and a task inside
 * {@code finish()} takes no checkpoint, so every result became visible only at the end, a SIGKILL lost all
 * progress ({@link ChaosProcessKillITCase}), and a drain longer than {@code flowget.kafka.transaction-timeout} had
 * its results transaction aborted by the broker (InvalidProducerEpochException, job restarts).
 */
class ChaosNetworkITCase {
    @TempDir Path tmp;

    /** The bounded version that runs in {@code mvn verify}: 300 files, one blackhole, one link flap. */
    @Test
    void latencyLossAndResetsCostRetriesButNoResults() throws Exception {
        run(new Plan("net", 300, 3, 0.015, 0.015, Duration.ofSeconds(2), 2, Duration.ofMinutes(4)));
    }

    /**
     * The soak: 3000 files on 4 hosts, 2 % resets and 3 % loss stalls per 16 KiB segment, a fault action every
     * second. A reset costs the chunk it cuts (256 KiB at most), and a file may fail ten chunk attempts in all.
     */
    @Test
    @Tag("slow")
    void soakNetworkFaults() throws Exception {
        run(new Plan("net-soak", 3000, 4, 0.02, 0.03, Duration.ofSeconds(1), 1000, Duration.ofMinutes(20)));
    }

    /**
     * @param period how often the monkey acts
     * @param actions most monkey actions (blackhole one host for 1.5 s, or reset all of a host's connections)
     */
    record Plan(String run, int files, int hosts, double resets, double loss, Duration period, int actions,
            Duration timeout) {}

    private void run(Plan plan) throws Exception {
        List<FaultProxy> proxies = new ArrayList<>();
        ScheduledExecutorService monkey = Executors.newSingleThreadScheduledExecutor();
        AtomicInteger blackholes = new AtomicInteger();
        AtomicInteger flaps = new AtomicInteger();
        try (TestOrigin origin = TestOrigin.start("127.0.0.1");
                EmbeddedKafka kafka = EmbeddedKafka.start(tmp.resolve("kafka"))) {
            Faults faults = Faults.none()
                    .withLatency(Duration.ofMillis(100), Duration.ofMillis(20))
                    .withLoss(plan.loss())
                    .withResets(plan.resets());
            for (int h = 0; h < plan.hosts(); h++) {
                proxies.add(FaultProxy.start("127.0.0." + (21 + h), origin.host(), origin.port()).faults(faults));
            }
            ChaosData data = ChaosData.create(plan.run(), origin, proxies, plan.files(), ChaosData.SizeMix.BOUNDED, 8);
            Path urls = tmp.resolve("urls.jsonl");
            Files.write(urls, data.requestLines());

            // The monkey: every period, blackhole one host for 1.5 s or flap all of its connections.
            SplittableRandom random = new SplittableRandom(42);
            AtomicInteger acted = new AtomicInteger();
            monkey.scheduleWithFixedDelay(() -> {
                if (acted.incrementAndGet() > plan.actions()) {
                    return;
                }
                FaultProxy p = proxies.get(random.nextInt(proxies.size()));
                if (acted.get() % 2 == 1) {
                    blackholes.incrementAndGet();
                    p.update(f -> f.withBlackhole(true));
                    monkey.schedule(() -> p.update(f -> f.withBlackhole(false)), 1500, TimeUnit.MILLISECONDS);
                } else {
                    flaps.incrementAndGet();
                    p.resetAll();
                }
            }, 2000, plan.period().toMillis(), TimeUnit.MILLISECONDS);

            Path out = tmp.resolve("out");
            Path resultsFile = tmp.resolve("results.jsonl");
            kafka.createTopics(2, "flowget.requests", "flowget.results", "flowget.dead-letter");
            long t0 = System.nanoTime();
            RunSummary summary;
            long firstVisible;
            try (ResultsFollower follower = ResultsFollower.start(kafka.bootstrapServers(), "flowget.results")) {
                summary = new LocalRun(
                                new LocalRun.Request(urls, null, out, resultsFile, tmp.resolve("state"), 2,
                                        kafka.bootstrapServers(), ChaosReport.fetchSettings(), true, false,
                                        plan.timeout()),
                                new PrintStream(new ByteArrayOutputStream()))
                        .execute();
                follower.await(() -> follower.distinctIds() >= plan.files(), Duration.ofSeconds(30), "all results");
                firstVisible = follower.firstResultMillis().orElseThrow();
            }
            long elapsed = System.nanoTime() - t0;
            monkey.shutdownNow();
            proxies.forEach(p -> p.faults(Faults.none()));
            try (Stream<Path> files = Files.walk(out)) {
                long lastPublished = files.filter(Files::isRegularFile)
                        .mapToLong(f -> f.toFile().lastModified())
                        .max()
                        .orElseThrow();
                assertThat(firstVisible)
                        .as("results are committed while the batch downloads: the first before the last file")
                        .isLessThan(lastPublished);
            }

            ChaosVerdict verdict = ChaosVerdict.judge(
                            data.expected(), out, ResultsFollower.readCommitted(kafka.bootstrapServers(), "flowget.results"))
                    .assertClean(true);
            List<String> lines = Files.readAllLines(resultsFile);
            assertThat(lines).as("--results: one line per request").hasSize(plan.files());
            List<FetchResult> fromFile = new ArrayList<>();
            for (String l : lines) {
                fromFile.add(Json.resultFromJson(l));
            }
            ChaosVerdict.judge(data.expected(), out, fromFile).assertClean(true);
            assertThat(ExitCodes.of(summary)).isEqualTo(ExitCodes.OK);

            FaultProxy.Stats stats = FaultProxy.Stats.zero();
            for (FaultProxy p : proxies) {
                stats = stats.plus(p.stats());
            }
            int attempts = fromFile.stream().mapToInt(r -> r.attempts == null ? 0 : r.attempts).sum();
            assertThat(stats.resets()).as("the experiment injected resets").isPositive();
            assertThat(attempts).as("resets cost retries").isGreaterThan(plan.files());
            new ChaosReport("network " + plan.run())
                    .verdict(verdict)
                    .proxies(stats)
                    .put("blackhole_windows", blackholes.get())
                    .put("link_flaps", flaps.get())
                    .put("attempts", attempts)
                    .put("mib", data.totalBytes() / 1048576.0)
                    .put("seconds", ChaosReport.seconds(elapsed))
                    .write();
        } finally {
            monkey.shutdownNow();
            for (FaultProxy p : proxies) {
                p.close();
            }
        }
    }
}
