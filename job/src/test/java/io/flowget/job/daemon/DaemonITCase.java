package io.flowget.job.daemon;

import io.flowget.job.cli.ExitCodes;
import io.flowget.job.cli.FlowgetCli;
import io.flowget.job.cli.LightClient;
import io.flowget.job.embedded.EmbeddedFlink;
import io.flowget.job.kafka.KafkaClients;
import io.flowget.udf.http.HttpClientHolder;
import io.flowget.udf.json.Json;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.Configuration;

import org.apache.kafka.clients.admin.Admin;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code flowget daemon} with real components: an in-process daemon (embedded KRaft broker, MiniCluster with RocksDB)
 * shared by the cases, Jetty origins on loopback, runs through {@link FlowgetCli#execute} as from a shell (they attach
 * to the daemon over its socket), and one daemon in a child JVM that is killed with SIGKILL.
 */
class DaemonITCase {
    private static final Duration WAIT = Duration.ofMinutes(3);

    @TempDir static Path shared;
    @TempDir Path tmp;

    private static TestOrigin origin;
    private static Daemon daemon;
    private static Thread serving;
    private static Path state;

    @BeforeAll
    static void startDaemon() throws Exception {
        origin = TestOrigin.start("127.0.0.1");
        state = shared.resolve("state");
        daemon = Daemon.start(state, new Configuration(), 1, Duration.ofMinutes(30));
        serving = new Thread(daemon::serve, "test-daemon");
        serving.start();
    }

    @AfterAll
    static void stopDaemon() throws Exception {
        if (daemon != null) {
            daemon.close();
            serving.join(TimeUnit.MINUTES.toMillis(1));
            assertThat(HttpClientHolder.liveClients()).as("the stopped daemon's kept HTTP clients are closed").isZero();
        }
        if (origin != null) {
            origin.close();
        }
    }

    /** Two runs through one daemon: both exact, on one broker and one cluster, the first run's topics gone. */
    @Test
    void twoRunsThroughOneDaemonAreExactOnServicesStartedOnce() throws Exception {
        EmbeddedFlink cluster = daemon.services().cluster();
        int servedBefore = daemon.runsServed();
        Map<String, byte[]> first = files("two-a", 12, 3000);
        Run a = run(first, tmp.resolve("a"));
        assertThat(a.code).as(a.err).isZero();
        assertThat(a.out).contains("flowget: 12 requests: 12 OK");
        assertExact(first, tmp.resolve("a"));
        String firstTopic = resultsTopic();

        Map<String, byte[]> second = files("two-b", 10, 5000);
        Run b = run(second, tmp.resolve("b"));
        assertThat(b.code).as(b.err).isZero();
        assertExact(second, tmp.resolve("b"));

        assertThat(daemon.runsServed()).isEqualTo(servedBefore + 2);
        assertThat(daemon.services().cluster()).as("one MiniCluster for both runs").isSameAs(cluster);
        assertThat(resultsTopic()).isNotEqualTo(firstTopic);
        try (Admin admin = KafkaClients.admin(daemon.services().servers())) {
            // deleted after the client's answer (the tidying before the next run): bounded wait
            long deadline = System.nanoTime() + WAIT.toNanos();
            Set<String> topics = admin.listTopics().names().get(30, TimeUnit.SECONDS);
            while (topics.contains(resultsTopic()) && System.nanoTime() < deadline) {
                TimeUnit.MILLISECONDS.sleep(100);
                topics = admin.listTopics().names().get(30, TimeUnit.SECONDS);
            }
            assertThat(topics).as("a completed run's topics are deleted once it has answered")
                    .doesNotContain(firstTopic, resultsTopic());
        }
        // and its checkpoints, which the next run would delete before it starts (off the next run's start)
        Path checkpoints = state.resolve("checkpoints");
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (hasFiles(checkpoints) && System.nanoTime() < deadline) {
            TimeUnit.MILLISECONDS.sleep(100);
        }
        assertThat(hasFiles(checkpoints)).as("a completed run's checkpoints are deleted once it has answered")
                .isFalse();
    }

    /**
     * Issue 16: a daemon's run keeps its HTTP client and idle connections for the next run (a 5,000-file run opened
     * ~600), and a run whose HTTP settings differ gets a client of its own. One request per run to an origin of its
     * own (within a run, the next request may be sent before the last one's connection is back in the pool, and
     * open one more): the second run opens no connection, the third (another User-Agent) one, and sends the new
     * User-Agent; the stop closes every kept client ({@link #stopDaemon}).
     */
    @Test
    void theNextRunReusesTheKeptClientsConnectionsAndOtherHttpSettingsGetTheirOwn() throws Exception {
        try (TestOrigin own = TestOrigin.start("127.0.0.3")) {
            Queue<String> agents = new ConcurrentLinkedQueue<>();
            List<Path> urls = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                byte[] body = TestOrigin.content("keep" + i, 1000 + i);
                own.route("/keep/f" + i + ".bin", (req, resp, cb, hit) -> {
                    agents.add(String.valueOf(req.getHeaders().get("User-Agent")));
                    TestOrigin.send(resp, cb, 200, body);
                });
                Path dir = Files.createDirectories(tmp.resolve("keep" + i));
                urls.add(Files.write(dir.resolve("urls.txt"), List.of(own.url("/keep/f" + i + ".bin"))));
            }
            Run first = run(runArgs(urls.get(0), tmp.resolve("keep0")));
            assertThat(first.code).as(first.err).isZero();
            assertThat(own.connectionsOpened()).as("the first run's connection").isEqualTo(1);

            Run second = run(runArgs(urls.get(1), tmp.resolve("keep1")));
            assertThat(second.code).as(second.err).isZero();
            assertThat(second.out).contains("flowget: 1 requests: 1 OK");
            assertThat(own.connectionsOpened()).as("the second run reused the first run's connection").isEqualTo(1);

            Run other = run(runArgs(urls.get(2), tmp.resolve("keep2"), "--set",
                    "flowget.http.user-agent=flowget-keep-test/3"));
            assertThat(other.code).as(other.err).isZero();
            assertThat(own.connectionsOpened()).as("another User-Agent: a client and a connection of its own")
                    .isEqualTo(2);
            assertThat(agents).hasSize(3).endsWith("flowget-keep-test/3").first().asString().startsWith("flowget/");
            // the first client kept, the third run's kept or still held (its answer comes before its job's end)
            assertThat(HttpClientHolder.liveClients()).isGreaterThanOrEqualTo(2);
            assertThat(HttpClientHolder.keptClients()).isPositive();
        }
    }

    /**
     * The launcher's client entry point ({@link LightClient}, no command-line parser) finds the daemon by a state dir
     * relative to its working directory and streams a run whose URLs come from stdin: exact files and results.
     */
    @Test
    void theLightClientStreamsARunFromStdinThroughTheDaemon() throws Exception {
        int servedBefore = daemon.runsServed();
        Map<String, byte[]> data = files("light", 7, 2000);
        Path dir = Files.createDirectories(tmp.resolve("light"));
        byte[] urls = Files.readAllBytes(urls(data, dir));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = LightClient.run(
                List.of("run", "--urls", "-", "--out", dir.resolve("out").toString(), "--results",
                        dir.resolve("results.jsonl").toString(), "--state-dir", shared.relativize(state).toString(),
                        "--quiet"),
                shared, null, new ByteArrayInputStream(urls), new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8), false);
        assertThat(code).as(err.toString(StandardCharsets.UTF_8)).isZero();
        assertThat(out.toString(StandardCharsets.UTF_8)).contains("flowget: 7 requests: 7 OK");
        assertThat(daemon.runsServed()).as("served by the daemon").isEqualTo(servedBefore + 1);
        assertExact(data, dir);
    }

    /** A daemon started without a warm-up (the API's default; the command line's {@code --warm-up PT0S}) starts none. */
    @Test
    void aDaemonWithoutWarmUpStartsNoneAndSaysSo() throws Exception {
        assertThat(daemon.warmUp().ended()).isTrue();
        assertThat(daemon.warmUp().status()).isEqualTo("warm-up off");
        assertThat(daemon.warmUp().originResponses()).isZero();
        assertThat(state.resolve(DaemonWarmUp.DIR)).doesNotExist();
        assertThat(Thread.getAllStackTraces().keySet()).noneMatch(t -> t.getName().startsWith("flowget-daemon-warm-up"));
    }

    /** A run that asks for another cluster is refused by the daemon; a cold run on its state dir by the lock. */
    @Test
    void runsThatDoNotFitTheDaemonAreRefusedWithWhatToDo() throws Exception {
        Map<String, byte[]> data = files("refused", 2, 100);
        Path dir = tmp.resolve("r");
        Run netMemory = run(data, dir, "--set", "taskmanager.memory.network.max=32mb");
        assertThat(netMemory.code).isEqualTo(ExitCodes.USAGE);
        assertThat(netMemory.err).contains("this run asks for another cluster than the daemon serving " + state)
                .contains("taskmanager.memory.network.max=32mb (daemon: not set)")
                .contains("flowget daemon stop --state-dir " + state);
        Run slots = run(data, dir, "--parallelism", "3");
        assertThat(slots.code).isEqualTo(ExitCodes.USAGE);
        assertThat(slots.err).contains("--parallelism 3 (daemon: 1)");
        Run cold = run(data, dir, "--bootstrap-servers", "127.0.0.1:9"); // never attaches: its own Kafka
        assertThat(cold.code).isEqualTo(ExitCodes.USAGE);
        assertThat(cold.err).contains("state dir " + state + " is in use by a flowget daemon (pid "
                + ProcessHandle.current().pid() + ")");
        assertThat(Files.exists(dir.resolve("out"))).as("nothing downloaded").isFalse();
    }

    /**
     * The client goes away mid-run: the daemon cancels the job, and the rerun through it resumes: one result line per
     * request, and no file whose result was committed before the disconnect is fetched again.
     */
    @Test
    void aClientThatLeavesMidRunLeavesAResumableRun() throws Exception {
        Map<String, byte[]> data = slowFiles("leave", 40, 2000);
        Path dir = tmp.resolve("l");
        Files.createDirectories(dir);
        Path urls = urls(data, dir);
        List<String> args = runArgs(urls, dir, "--set", "flowget.host.max-concurrency=2");
        DaemonClient client = DaemonClient.connect(state).orElseThrow();
        CompletableFuture<Integer> first = CompletableFuture.supplyAsync(() -> {
            try {
                return client.run(args, dir, null, false, null, new ByteArrayOutputStream(),
                        new ByteArrayOutputStream());
            } catch (IOException closed) {
                return -1;
            }
        });
        awaitFiles(dir.resolve("out"), 8);
        client.close(); // as a Ctrl-C would: the connection ends
        first.get(1, TimeUnit.MINUTES);
        Map<String, Integer> hitsAtLeave = hits(data);
        Set<Path> publishedAtLeave = listFiles(dir.resolve("out"));
        assertThat(publishedAtLeave.size()).isLessThan(data.size());

        Run rerun = run(args);
        assertThat(rerun.code).as(rerun.err).isZero();
        assertExact(data, dir);
        for (Path p : publishedAtLeave) {
            String path = "/" + dir.resolve("out").relativize(p).toString().replaceFirst("^[^/]+/", "");
            assertThat(origin.hits(path)).as("%s was published (committed) before the client left", path)
                    .isEqualTo(hitsAtLeave.get(path));
        }
    }

    /**
     * A client that finds the daemon busy is told so once and waits at most its {@code --wait-for-daemon}: past it, it
     * is refused as a cold run is on a state dir in use (64, nothing started); a client with a longer bound is served
     * when the current run ends. Real clients over the daemon's socket; the current run is held by its origin.
     */
    @Test
    void aClientWaitsForABusyDaemonAtMostItsBoundThenIsRefusedAsAColdRunIs() throws Exception {
        HeldFile held = hold("busy");
        CountDownLatch fetching = held.fetching();
        CountDownLatch release = held.release();
        Path a = tmp.resolve("busy-a");
        Files.createDirectories(a);
        List<String> heldArgs = runArgs(urls(held.data(), a), a);
        CompletableFuture<Run> first = CompletableFuture.supplyAsync(() -> run(heldArgs));
        try {
            assertThat(fetching.await(2, TimeUnit.MINUTES)).as("the first run is under way").isTrue();

            Path b = tmp.resolve("busy-b");
            Run refused = run(files("busy-b", 2, 100), b, "--wait-for-daemon", "PT1S");
            assertThat(refused.code).as(refused.err).isEqualTo(ExitCodes.USAGE);
            assertThat(refused.err)
                    .containsOnlyOnce("flowget: the daemon (pid " + ProcessHandle.current().pid()
                            + ") is serving another run in " + state + "; this one waits up to PT1S for it to end")
                    .contains("flowget: state dir " + state + " is in use by another flowget run (served by the"
                            + " daemon, pid " + ProcessHandle.current().pid() + ", still running after PT1S)");
            assertThat(Files.exists(b.resolve("out"))).as("nothing started").isFalse();
            assertThat(first).as("the current run goes on").isNotDone();

            Path c = tmp.resolve("busy-c");
            Files.createDirectories(c);
            Map<String, byte[]> later = files("busy-c", 3, 200);
            List<String> laterArgs = runArgs(urls(later, c), c, "--wait-for-daemon", "PT2M");
            CompletableFuture<Run> waiting = CompletableFuture.supplyAsync(() -> run(laterArgs));
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (daemon.clientsWaiting() == 0 && System.nanoTime() < deadline) {
                TimeUnit.MILLISECONDS.sleep(20);
            }
            assertThat(daemon.clientsWaiting()).as("the second client waits for its turn").isEqualTo(1);
            release.countDown();
            Run done = first.get(2, TimeUnit.MINUTES);
            assertThat(done.code).as(done.err).isZero();
            Run served = waiting.get(2, TimeUnit.MINUTES);
            assertThat(served.code).as(served.err).isZero();
            assertThat(served.err).containsOnlyOnce("this one waits up to PT2M for it to end");
            assertExact(later, c);
        } finally {
            release.countDown();
        }
    }

    /**
     * {@code flowget daemon stop} waits at most its {@code --wait-for-run} for the current run: past it the stop is
     * withdrawn (75, and the message says what to do) while the run goes on to its exact end; a stop with a longer
     * bound is told it waits, and stops the daemon once the run has ended; a negative bound is a usage error. Its own
     * in-process daemon (the shared one must keep serving), real clients through the CLI, the run held by its origin.
     */
    @Test
    void aStopWaitsAtMostItsBoundForTheCurrentRunThenIsWithdrawn() throws Exception {
        Path stopState = tmp.resolve("stop-state");
        Daemon own = Daemon.start(stopState, new Configuration(), 1, Duration.ofMinutes(30));
        Thread ownServing = new Thread(own::serve, "test-daemon-stop");
        ownServing.start();
        HeldFile heldFile = hold("stop");
        CountDownLatch fetching = heldFile.fetching();
        CountDownLatch release = heldFile.release();
        try {
            Map<String, byte[]> held = heldFile.data();
            Path a = tmp.resolve("stop-a");
            Files.createDirectories(a);
            List<String> heldArgs = new ArrayList<>(runArgs(urls(held, a), a));
            heldArgs.set(heldArgs.indexOf("--state-dir") + 1, stopState.toString());
            CompletableFuture<Run> first = CompletableFuture.supplyAsync(() -> run(heldArgs));
            assertThat(fetching.await(2, TimeUnit.MINUTES)).as("the run is under way").isTrue();
            String pid = "the daemon (pid " + ProcessHandle.current().pid() + ")";

            Run negative = run(List.of("daemon", "stop", "--state-dir", stopState.toString(), "--wait-for-run", "-PT1S"));
            assertThat(negative.code).as(negative.err).isEqualTo(ExitCodes.USAGE);
            assertThat(negative.err).contains("flowget: --wait-for-run must not be negative: PT-1S");

            Run withdrawn = run(List.of("daemon", "stop", "--state-dir", stopState.toString(), "--wait-for-run", "PT1S"));
            assertThat(withdrawn.code).as(withdrawn.err).isEqualTo(ExitCodes.DAEMON_BUSY).isEqualTo(75);
            assertThat(withdrawn.err)
                    .containsOnlyOnce("flowget: " + pid + " is serving a run in " + stopState
                            + "; it stops when that run ends, if within PT1S (--wait-for-run)")
                    .contains("flowget: " + pid + " is still serving a run in " + stopState + " after PT1S; it was not"
                            + " stopped: let the run end (or give a longer --wait-for-run) and stop it again");
            assertThat(first).as("the run goes on").isNotDone();
            assertThat(ownServing.isAlive()).as("the daemon serves on").isTrue();

            ByteArrayOutputStream stopOut = new ByteArrayOutputStream();
            ByteArrayOutputStream stopErr = new ByteArrayOutputStream();
            CompletableFuture<Integer> stop = CompletableFuture.supplyAsync(() -> FlowgetCli.execute(
                    new String[] {"daemon", "stop", "--state-dir", stopState.toString(), "--wait-for-run", "PT2M"},
                    new PrintStream(stopOut, true, StandardCharsets.UTF_8),
                    new PrintStream(stopErr, true, StandardCharsets.UTF_8)));
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (!stopErr.toString(StandardCharsets.UTF_8).contains("if within PT2M")) {
                assertThat(System.nanoTime()).as("the stop says it waits, in time: %s", stopErr).isLessThan(deadline);
                TimeUnit.MILLISECONDS.sleep(20);
            }
            assertThat(stop).as("the stop waits for the run").isNotDone();
            release.countDown();
            Run done = first.get(2, TimeUnit.MINUTES);
            assertThat(done.code).as(done.err).isZero();
            assertExact(held, a);
            assertThat(stop.get(2, TimeUnit.MINUTES)).as(stopErr.toString(StandardCharsets.UTF_8)).isZero();
            assertThat(stopOut.toString(StandardCharsets.UTF_8)).contains("flowget daemon: stopping (pid ");
            ownServing.join(TimeUnit.MINUTES.toMillis(1));
            assertThat(ownServing.isAlive()).as("the daemon stopped serving").isFalse();
        } finally {
            release.countDown();
            own.close();
            ownServing.join(TimeUnit.MINUTES.toMillis(1));
        }
        assertThat(stopState.resolve(DaemonFiles.POINTER)).as("the stopped daemon's pointer is gone").doesNotExist();
    }

    /** A daemon killed with SIGKILL mid-run: its socket refuses, so the next run runs cold and resumes. */
    @Test
    void aKilledDaemonsRunIsResumedByTheNextColdRun() throws Exception {
        Path killedState = tmp.resolve("kstate");
        Process child = startChildDaemon(killedState);
        try {
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (DaemonClient.connect(killedState).isEmpty()) {
                assertThat(child.isAlive()).as("the child daemon runs, see its log").isTrue();
                assertThat(System.nanoTime()).as("the child daemon answers in time").isLessThan(deadline);
                TimeUnit.MILLISECONDS.sleep(100);
            }
            Map<String, byte[]> data = slowFiles("kill", 30, 2000);
            Path dir = tmp.resolve("k");
            Files.createDirectories(dir);
            Path urls = urls(data, dir);
            List<String> args = new ArrayList<>(runArgs(urls, dir, "--set", "flowget.host.max-concurrency=2"));
            args.set(args.indexOf("--state-dir") + 1, killedState.toString());
            DaemonClient client = DaemonClient.connect(killedState).orElseThrow();
            ByteArrayOutputStream clientErr = new ByteArrayOutputStream();
            CompletableFuture<Integer> first = CompletableFuture.supplyAsync(() -> {
                try {
                    return client.run(args, dir, null, false, null, new ByteArrayOutputStream(), clientErr);
                } catch (IOException e) {
                    return -1;
                }
            });
            awaitFiles(dir.resolve("out"), 6);
            child.destroyForcibly();
            assertThat(child.waitFor(30, TimeUnit.SECONDS)).isTrue();
            assertThat(first.get(1, TimeUnit.MINUTES)).isEqualTo(DaemonClient.LOST);
            assertThat(clientErr.toString(StandardCharsets.UTF_8)).contains("rerun the same command to resume");
            Map<String, Integer> hitsAtKill = hits(data);
            Set<Path> publishedAtKill = listFiles(dir.resolve("out"));

            Run cold = run(args);
            assertThat(cold.code).as(cold.err).isZero();
            assertExact(data, dir);
            assertThat(killedState.resolve(DaemonFiles.POINTER)).as("the dead daemon's pointer is gone").doesNotExist();
            assertThat(DaemonFiles.socketPath(killedState)).as("and its socket").doesNotExist();
            for (Path p : publishedAtKill) {
                String path = "/" + dir.resolve("out").relativize(p).toString().replaceFirst("^[^/]+/", "");
                assertThat(origin.hits(path)).as("%s was committed before the kill", path)
                        .isEqualTo(hitsAtKill.get(path));
            }
        } finally {
            child.destroyForcibly();
        }
    }

    // ---- helpers -----------------------------------------------------------------------------

    private record Run(int code, String out, String err) {}

    /** One file ({@code /<name>/held.bin}) the origin answers only once released (at most 2 min later). */
    private record HeldFile(Map<String, byte[]> data, CountDownLatch fetching, CountDownLatch release) {}

    private static HeldFile hold(String name) {
        HeldFile h = new HeldFile(Map.of("/" + name + "/held.bin", TestOrigin.content(name + "-held", 1000)),
                new CountDownLatch(1), new CountDownLatch(1));
        byte[] body = h.data().values().iterator().next();
        origin.route("/" + name + "/held.bin", (req, resp, cb, hit) -> {
            h.fetching().countDown();
            h.release().await(2, TimeUnit.MINUTES);
            TestOrigin.send(resp, cb, 200, body);
        });
        return h;
    }

    private Run run(Map<String, byte[]> data, Path dir, String... extra) throws Exception {
        Files.createDirectories(dir);
        return run(runArgs(urls(data, dir), dir, extra));
    }

    private static Run run(List<String> args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = FlowgetCli.execute(args.toArray(String[]::new), new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    private static List<String> runArgs(Path urls, Path dir, String... extra) {
        List<String> a = new ArrayList<>(List.of("run", "--urls", urls.toString(), "--out", dir.resolve("out").toString(),
                "--results", dir.resolve("results.jsonl").toString(), "--state-dir", state.toString(), "--quiet"));
        a.addAll(List.of(extra));
        return a;
    }

    private static Map<String, byte[]> files(String name, int n, int size) {
        return files(name, n, size, false);
    }

    /** Files the origin answers after 150 ms each, so that a run lasts a few seconds. */
    private static Map<String, byte[]> slowFiles(String name, int n, int size) {
        return files(name, n, size, true);
    }

    private static Map<String, byte[]> files(String name, int n, int size, boolean slow) {
        Map<String, byte[]> m = new HashMap<>();
        for (int i = 0; i < n; i++) {
            String path = "/" + name + "/f" + i + ".bin";
            byte[] body = TestOrigin.content(name + i, size + i);
            if (slow) {
                origin.route(path, (req, resp, cb, hit) -> {
                    Thread.sleep(150);
                    TestOrigin.send(resp, cb, 200, body);
                });
            } else {
                origin.file(path, body);
            }
            m.put(path, body);
        }
        return m;
    }

    private static Path urls(Map<String, byte[]> data, Path dir) throws IOException {
        List<String> lines = new ArrayList<>();
        for (String p : data.keySet().stream().sorted().toList()) {
            lines.add(origin.url(p));
        }
        return Files.write(dir.resolve("urls.txt"), lines);
    }

    private static boolean hasFiles(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return false;
        }
        try (Stream<Path> all = Files.walk(dir)) {
            return all.anyMatch(Files::isRegularFile);
        } catch (java.io.UncheckedIOException | java.nio.file.NoSuchFileException beingDeleted) {
            return true; // ask again
        }
    }

        private static void assertExact(Map<String, byte[]> data, Path dir) throws IOException {
        List<String> lines = Files.readAllLines(dir.resolve("results.jsonl"));
        assertThat(lines).hasSize(data.size());
        Set<String> ids = new HashSet<>();
        for (String l : lines) {
            FetchResult r = Json.resultFromJson(l);
            assertThat(ids.add(r.id)).as("one line for %s", r.id).isTrue();
            assertThat(r.status).as(l).isEqualTo(ResultStatus.OK);
            String urlPath = r.url.substring(r.url.indexOf('/', "http://".length()));
            assertThat(Files.readAllBytes(dir.resolve("out").resolve(r.path))).isEqualTo(data.get(urlPath));
        }
    }

    private static Map<String, Integer> hits(Map<String, byte[]> data) {
        Map<String, Integer> m = new HashMap<>();
        for (String p : data.keySet()) {
            m.put(p, origin.hits(p));
        }
        return m;
    }

    private static String resultsTopic() throws IOException {
        return Json.readTree(Files.readString(state.resolve("run.json"))).path("kafka").path("results_topic").asText();
    }

    private static void awaitFiles(Path out, int n) throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (listFiles(out).size() < n) {
            assertThat(System.nanoTime()).as("%s files in %s in time", n, out).isLessThan(deadline);
            TimeUnit.MILLISECONDS.sleep(20);
        }
    }

    private static Set<Path> listFiles(Path out) throws IOException {
        if (!Files.isDirectory(out)) {
            return Set.of();
        }
        try (Stream<Path> s = Files.walk(out)) {
            return new HashSet<>(s.filter(Files::isRegularFile).toList());
        }
    }

    private Process startChildDaemon(Path stateDir) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx768m",
                "-XX:TieredStopAtLevel=1",
                "-XX:+UseSerialGC",
                "-Djava.io.tmpdir=" + System.getProperty("java.io.tmpdir"),
                "-cp", System.getProperty("java.class.path"),
                FlowgetCli.class.getName(),
                "daemon", "serve", "--state-dir", stateDir.toString(), "--parallelism", "1"));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(tmp.resolve("child-daemon.log").toFile());
        pb.environment().remove("FLOWGET_HOME");
        pb.directory(tmp.toFile());
        return pb.start();
    }
}
