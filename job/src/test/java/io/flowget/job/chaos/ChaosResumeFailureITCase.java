package io.flowget.job.chaos;

import io.flowget.job.chaos.FaultProxy.Faults;
import io.flowget.job.embedded.EmbeddedFlink;
import io.flowget.job.embedded.EmbeddedKafka;
import io.flowget.job.run.LocalRun;
import io.flowget.job.run.RunSummary;
import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Files appear only with their result (issue 15; found by the process-kill soak as orphan files). A run that dies
 * after a request's file was complete but before a checkpoint committed its result must leave nothing at the
 * request's path: the rerun fetches the request again (no result was committed), and what that fetch gives decides.
 *
 * <p>Before issue 15 the rename into {@code --out} happened before the checkpoint: when the re-fetch then FAILed, the
 * earlier attempt's complete file stayed at the path, a file no OK result names (it also made another URL's request
 * for that path fail with {@code path conflict}); and when the re-fetch was answered {@code 304}, the result was
 * NOT_MODIFIED for a file that was never reported OK. Now the file is staged and renamed only when the checkpoint
 * that commits its result completes ({@code PublishAtCommit}).
 *
 * <p>Deterministic: the first run ends by timeout after request R was fetched (request B is blackholed to keep the run
 * going), and no checkpoint can complete before that, by construction rather than by odds (see
 * {@link #dieBeforeACheckpoint}); the test asserts it from the state dir, so a checkpoint from anywhere else would fail
 * the precondition by name instead of the assertions about R.
 */
class ChaosResumeFailureITCase {
    /**
     * How long the first run waits for results before it gives up, standing in for the crash: long enough for the
     * job to start and fetch R on a loaded machine (8 s was not, at load average 30).
     */
    private static final Duration FIRST_RUN = Duration.ofSeconds(20);
    /** The first run's checkpoint interval and min-pause: no periodic checkpoint comes before this. */
    private static final Duration NO_PERIODIC_CHECKPOINT_BEFORE = Duration.ofMinutes(20);
    @TempDir Path tmp;

    @Test
    void aRequestThatFailsAfterAResumeLeavesNoFileAtItsPath() throws Exception {
        byte[] body = TestOrigin.content("orphan", 5000);
        try (TestOrigin origin = TestOrigin.start("127.0.0.1");
                EmbeddedKafka kafka = EmbeddedKafka.start(tmp.resolve("kafka"));
                FaultProxy fast = FaultProxy.start("127.0.0.61", origin.host(), origin.port());
                FaultProxy stuck = FaultProxy.start("127.0.0.62", origin.host(), origin.port())) {
            // R: served once, then gone.
            origin.route("/orphan/r.bin", (req, resp, cb, n) -> {
                if (n == 1) {
                    TestOrigin.send(resp, cb, 200, body);
                } else {
                    TestOrigin.send(resp, cb, 404, new byte[0]);
                }
            });
            Path urls = urls(origin, fast, stuck, "/orphan");
            Path out = tmp.resolve("out");

            dieBeforeACheckpoint(urls, out, kafka, stuck);
            assertThat(origin.hits("/orphan/r.bin")).as("R was fetched in the first run").isEqualTo(1);
            assertThat(filesNamed(out, "r.bin")).as("but not published: no checkpoint committed its result").isEmpty();

            RunSummary second = run(urls, out, kafka, ChaosReport.fetchSettings(), Duration.ofMinutes(2));
            assertThat(second.failed()).isEqualTo(1);
            List<FetchResult> results = ResultsFollower.readCommitted(kafka.bootstrapServers(), "flowget.results");
            FetchResult r = results.stream().filter(x -> "R".equals(x.id)).findFirst().orElseThrow();
            assertThat(r.status).isEqualTo(ResultStatus.FAILED);
            assertThat(r.error).isEqualTo("http 404");
            assertThat(filesNamed(out, "r.bin")).as("no file for a FAILED request").isEmpty();
        }
    }

    @Test
    void aRefetchAnswered304AfterACrashIsNotReportedAsNotModified() throws Exception {
        byte[] body = TestOrigin.content("v1", 5000);
        AtomicInteger notModified = new AtomicInteger();
        try (TestOrigin origin = TestOrigin.start("127.0.0.1");
                EmbeddedKafka kafka = EmbeddedKafka.start(tmp.resolve("kafka"));
                FaultProxy fast = FaultProxy.start("127.0.0.63", origin.host(), origin.port());
                FaultProxy stuck = FaultProxy.start("127.0.0.64", origin.host(), origin.port())) {
            // R: an unchanging resource with an ETag; a conditional request gets 304.
            origin.route("/cond/r.bin", (req, resp, cb, n) -> {
                if ("\"v1\"".equals(req.getHeaders().get("If-None-Match"))) {
                    notModified.incrementAndGet();
                    resp.setStatus(304);
                    resp.getHeaders().put("ETag", "\"v1\"");
                    resp.write(true, ByteBuffer.allocate(0), cb);
                } else {
                    resp.getHeaders().put("ETag", "\"v1\"");
                    TestOrigin.send(resp, cb, 200, body);
                }
            });
            Path urls = urls(origin, fast, stuck, "/cond");
            Path out = tmp.resolve("out");

            dieBeforeACheckpoint(urls, out, kafka, stuck);
            assertThat(origin.hits("/cond/r.bin")).as("R was fetched in the first run").isEqualTo(1);
            assertThat(filesNamed(out, "r.bin")).as("but not published").isEmpty();

            RunSummary second = run(urls, out, kafka, ChaosReport.fetchSettings(), Duration.ofMinutes(2));
            assertThat(second.failed()).isZero();
            List<FetchResult> results = ResultsFollower.readCommitted(kafka.bootstrapServers(), "flowget.results");
            FetchResult r = results.stream().filter(x -> "R".equals(x.id)).findFirst().orElseThrow();
            assertThat(r.status).as("the file was never reported OK, so this is no NOT_MODIFIED")
                    .isEqualTo(ResultStatus.OK);
            assertThat(notModified).as("no conditional request: nothing was at the path").hasValue(0);
            assertThat(filesNamed(out, "r.bin")).singleElement()
                    .satisfies(f -> assertThat(Files.readAllBytes(f)).isEqualTo(body));
        }
    }

    /**
     * The first run: B, blackholed, keeps it going; no checkpoint completes before it ends by timeout, as a crash
     * would end it. Then B's proxy works again. Two ways a checkpoint could complete within the run, both closed:
     *
     * <ul>
     *   <li>the periodic one: Flink schedules the first at a random delay in [min-pause, interval], so an interval
     *       alone only makes it unlikely (with 45 min: about 1 run in 120; the results transactions' timeout, 1 h,
     *       caps the interval). With min-pause equal to the interval the first one cannot come before 20 min;
     *   <li>the tail's ({@code TailCheckpoint}, once every result is emitted): B's first attempt waits for its
     *       response for longer than the run, so B has no result in it. With the shared chaos settings (2 s idle
     *       and response timeouts, 10 attempts, backoff 0.1-2 s with jitter down to half) B makes 7-8 attempts in
     *       the 20 s and needs 25 s or more to fail, while the tail stops at the run's timeout: out of reach
     *       already, and now out by construction too.
     * </ul>
     */
    private void dieBeforeACheckpoint(Path urls, Path out, EmbeddedKafka kafka, FaultProxy stuck) throws Exception {
        stuck.faults(Faults.none().withBlackhole(true));
        Configuration noCheckpoints = ChaosReport.fetchSettings();
        noCheckpoints.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, NO_PERIODIC_CHECKPOINT_BEFORE);
        noCheckpoints.set(CheckpointingOptions.MIN_PAUSE_BETWEEN_CHECKPOINTS, NO_PERIODIC_CHECKPOINT_BEFORE);
        noCheckpoints.set(CheckpointingOptions.CHECKPOINTING_TIMEOUT, Duration.ofMinutes(1)); // transaction rule
        // B's one attempt outlasts the run: the client's response wait is the idle timeout, the sweeper's the
        // response timeout, and the no-progress budget would end the request as a whole
        noCheckpoints.set(FlowgetOptions.HTTP_IDLE_TIMEOUT, Duration.ofMinutes(10));
        noCheckpoints.set(FlowgetOptions.HTTP_RESPONSE_TIMEOUT, Duration.ofMinutes(10));
        noCheckpoints.set(FlowgetOptions.FETCH_NO_PROGRESS_BUDGET, Duration.ofMinutes(10));
        assertThatThrownBy(() -> run(urls, out, kafka, noCheckpoints, FIRST_RUN))
                .hasMessageContaining("timed out");
        assertThat(EmbeddedFlink.latestCheckpoint(tmp.resolve("state").resolve("checkpoints")))
                .as("precondition: no checkpoint completed in the first run")
                .isEmpty();
        stuck.faults(Faults.none());
    }

    /**
     * The input of both cases: R (served by the test's route at {@code dir/r.bin}) through the fast proxy, B (a small
     * file this adds at {@code dir/b.bin}) through the proxy the first run blackholes.
     */
    private Path urls(TestOrigin origin, FaultProxy fast, FaultProxy stuck, String dir) throws Exception {
        origin.file(dir + "/b.bin", TestOrigin.content("b", 100));
        Path urls = tmp.resolve("urls.jsonl");
        Files.write(urls, List.of(
                "{\"id\":\"R\",\"url\":\"" + fast.url(dir + "/r.bin") + "\"}",
                "{\"id\":\"B\",\"url\":\"" + stuck.url(dir + "/b.bin") + "\"}"));
        return urls;
    }

    private RunSummary run(Path urls, Path out, EmbeddedKafka kafka, Configuration settings, Duration timeout)
            throws Exception {
        return new LocalRun(
                        new LocalRun.Request(urls, null, out, null, tmp.resolve("state"), 1, kafka.bootstrapServers(),
                                settings, true, false, timeout),
                        new PrintStream(new ByteArrayOutputStream()))
                .execute();
    }

    private static List<Path> filesNamed(Path dir, String name) throws Exception {
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(p -> p.getFileName().toString().equals(name)).toList();
        }
    }
}
