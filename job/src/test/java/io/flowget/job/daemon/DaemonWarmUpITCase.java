package io.flowget.job.daemon;

import io.flowget.job.cli.ExitCodes;
import io.flowget.job.cli.FlowgetCli;
import io.flowget.job.kafka.KafkaClients;
import io.flowget.udf.json.Json;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.Configuration;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListTopicsOptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The daemon's warm-up ({@link DaemonWarmUp}) with real components: a daemon (embedded KRaft broker, MiniCluster with
 * RocksDB) whose warm-up fetches from its loopback origin through the run's pipeline, and a user's run through
 * {@link FlowgetCli#execute} (over the daemon's socket, as from a shell) from a Jetty origin on loopback that arrives
 * while a warm-up round is fetching.
 */
class DaemonWarmUpITCase {
    private static final Duration WAIT = Duration.ofMinutes(3);

    @TempDir Path tmp;

    /**
     * A run that arrives mid-round is served at once (the round gives way within {@link DaemonWarmUp#YIELD_WAIT}) and
     * exact; the warm-up resumes when the daemon is idle, completes its rounds through the production path (every
     * file fetched from its origin, OK), and leaves nothing a user's run could see: no scratch dir, no topics, no
     * checkpoints under the state dir's, and the state dir's {@code run.json} is the user's run's.
     */
    @Test
    void aRunDuringTheWarmUpIsServedAtOnceAndTheWarmUpEndsLaterLeavingNothingBehind() throws Exception {
        Path state = tmp.resolve("state");
        DaemonWarmUp.Plan plan = new DaemonWarmUp.Plan(WAIT, 2, 1500, 20 << 20, 2);
        Daemon daemon = Daemon.start(state, new Configuration(), 1, Duration.ofMinutes(30), plan);
        Thread serving = new Thread(daemon::serve, "test-daemon");
        serving.start();
        try (TestOrigin origin = TestOrigin.start("127.0.0.1")) {
            DaemonWarmUp warmUp = daemon.warmUp();
            // mid-round: the warm-up's job is fetching from its origin
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (warmUp.originResponses() < 100) {
                assertThat(System.nanoTime()).as("the warm-up fetches within %s", WAIT).isLessThan(deadline);
                assertThat(warmUp.ended()).as(warmUp.status()).isFalse();
                TimeUnit.MILLISECONDS.sleep(20);
            }
            assertThat(Files.isDirectory(state.resolve(DaemonWarmUp.DIR))).isTrue();

            Map<String, byte[]> data = new HashMap<>();
            List<String> urls = new ArrayList<>();
            for (int i = 0; i < 12; i++) {
                byte[] body = TestOrigin.content("user" + i, 2000 + i);
                origin.file("/user/f" + i + ".bin", body);
                data.put("/user/f" + i + ".bin", body);
                urls.add(origin.url("/user/f" + i + ".bin"));
            }
            Path dir = tmp.resolve("user");
            Files.createDirectories(dir);
            Path list = Files.write(dir.resolve("urls.txt"), urls);
            long t0 = System.nanoTime();
            int code = run(state, list, dir);
            Duration took = Duration.ofNanos(System.nanoTime() - t0);

            assertThat(code).isEqualTo(ExitCodes.OK);
            System.out.printf("DaemonWarmUpITCase: the run waited %d ms for the warm-up round to give way; whole run %d ms%n",
                    warmUp.lastYield().toMillis(), took.toMillis());
            assertThat(warmUp.yields()).as("the run arrived during a round").isEqualTo(1);
            assertThat(warmUp.lastYield()).as("the run's wait for the round to give way")
                    .isLessThanOrEqualTo(DaemonWarmUp.YIELD_WAIT);
            assertThat(took).as("the whole run").isLessThan(WAIT);
            assertExact(data, dir);

            assertThat(warmUp.awaitEnd(WAIT)).as(warmUp.status()).isTrue();
            assertThat(warmUp.status()).startsWith("warm-up done (2 of 2 rounds");
            // it ended on an idle daemon: the heap it grew was given back (HeapTrimTest: how far)
            assertThat(warmUp.trimmed()).as(warmUp.status()).isPresent();
            assertThat(warmUp.status()).contains("; heap committed ");
            assertThat(warmUp.roundsDone()).isEqualTo(2);
            assertThat(warmUp.okResults()).as("every warm-up file fetched OK").isEqualTo(2 * 1501);
            assertThat(warmUp.originResponses()).as("real requests to its origin")
                    .isGreaterThanOrEqualTo(2 * 1501 + 100);

            // nothing left behind where a user's run looks
            assertThat(state.resolve(DaemonWarmUp.DIR)).doesNotExist();
            // a daemon's completed run deletes its own checkpoints after the answer (5bc8f40): the dir may be gone
            if (Files.exists(state.resolve("checkpoints"))) {
                try (Stream<Path> s = Files.list(state.resolve("checkpoints"))) {
                    List<Path> jobs = s.toList();
                    assertThat(jobs).as("only the user's job checkpoints under the state dir")
                            .hasSizeLessThanOrEqualTo(1);
                }
            }
            String userInput = Json.readTree(Files.readString(state.resolve("run.json"))).path("input_sha256").asText();
            assertThat(userInput).as("run.json is the user's run's")
                    .isEqualTo(io.flowget.udf.body.Digests.sha256Hex(Files.readAllBytes(list)));
            try (Admin admin = KafkaClients.admin(daemon.services().servers())) {
                long until = System.nanoTime() + WAIT.toNanos();
                Set<String> topics = admin.listTopics(new ListTopicsOptions().listInternal(false)).names()
                        .get(30, TimeUnit.SECONDS);
                while (!topics.isEmpty() && System.nanoTime() < until) { // the user's run deletes its own after it
                    TimeUnit.MILLISECONDS.sleep(100);
                    topics = admin.listTopics(new ListTopicsOptions().listInternal(false)).names()
                            .get(30, TimeUnit.SECONDS);
                }
                assertThat(topics).as("no warm-up topics remain").isEmpty();
            }
        } finally {
            daemon.close();
            serving.join(TimeUnit.MINUTES.toMillis(1));
        }
        assertThat(state.resolve(DaemonWarmUp.DIR)).doesNotExist();
    }

    /**
     * A round the warm-up's time budget cuts off ends the warm-up "out of time", not "failed" (the budget's watchdog
     * aborts the round's job, which then fails as an aborted run does), and leaves nothing behind.
     */
    @Test
    void aWarmUpCutOffByItsBudgetSaysOutOfTimeNotFailed() throws Exception {
        Path state = tmp.resolve("state");
        // a round of 50,000 files does not end within a 3 s budget
        DaemonWarmUp.Plan plan = new DaemonWarmUp.Plan(Duration.ofSeconds(3), 2, 50_000, 1 << 20, 2);
        Daemon daemon = Daemon.start(state, new Configuration(), 1, Duration.ofMinutes(30), plan);
        Thread serving = new Thread(daemon::serve, "test-daemon");
        serving.start();
        try {
            DaemonWarmUp warmUp = daemon.warmUp();
            assertThat(warmUp.awaitEnd(WAIT)).as(warmUp.status()).isTrue();
            assertThat(warmUp.status()).startsWith("warm-up out of time (0 of 2 rounds");
            assertThat(state.resolve(DaemonWarmUp.DIR)).doesNotExist();
        } finally {
            daemon.close();
            serving.join(TimeUnit.MINUTES.toMillis(1));
        }
    }

    /** {@code --warm-up} refuses a negative duration; {@code PT0S} is off. */
    @Test
    void aNegativeWarmUpIsRefusedAndZeroIsOff() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = FlowgetCli.execute(new String[] {"daemon", "serve", "--state-dir", tmp.resolve("s").toString(),
                "--warm-up=-PT1S"}, new PrintStream(new ByteArrayOutputStream()),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        assertThat(code).isEqualTo(ExitCodes.USAGE);
        assertThat(err.toString(StandardCharsets.UTF_8)).contains("--warm-up must not be negative");
        assertThat(tmp.resolve("s").resolve("daemon.json")).doesNotExist();
        assertThat(DaemonWarmUp.Plan.of(Duration.ZERO).off()).isTrue();
        assertThat(DaemonWarmUp.Plan.of(Duration.ofSeconds(1)).off()).isFalse();
    }

    private static int run(Path state, Path urls, Path dir) {
        List<String> a = List.of("run", "--urls", urls.toString(), "--out", dir.resolve("out").toString(),
                "--results", dir.resolve("results.jsonl").toString(), "--state-dir", state.toString(), "--quiet");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = FlowgetCli.execute(a.toArray(String[]::new), new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        if (code != 0) {
            System.err.println(err.toString(StandardCharsets.UTF_8));
        }
        return code;
    }

    private static void assertExact(Map<String, byte[]> data, Path dir) throws IOException {
        List<String> lines = Files.readAllLines(dir.resolve("results.jsonl"));
        assertThat(lines).hasSize(data.size());
        for (String l : lines) {
            FetchResult r = Json.resultFromJson(l);
            assertThat(r.status).as(l).isEqualTo(ResultStatus.OK);
            String urlPath = r.url.substring(r.url.indexOf('/', "http://".length()));
            assertThat(Files.readAllBytes(dir.resolve("out").resolve(r.path))).isEqualTo(data.get(urlPath));
        }
    }
}
