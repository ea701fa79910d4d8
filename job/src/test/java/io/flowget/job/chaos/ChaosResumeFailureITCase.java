package io.flowget.job.chaos;

import io.flowget.job.chaos.FaultProxy.Faults;
import io.flowget.job.embedded.EmbeddedKafka;
import io.flowget.job.run.LocalRun;
import io.flowget.job.run.RunSummary;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.junit.jupiter.api.Disabled;
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
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Known issue found by the process-kill soak: a file published after the last completed checkpoint outlives a
 * FAILED result of the same request.
 *
 * <p>Publishing (the rename into {@code --out}) is a side effect outside the checkpoint. When the run dies after
 * a request's file was published but before a checkpoint recorded the request as finished, the resumed run
 * fetches it again (right: no result was committed). If that fetch now fails (retry budget exhausted, the origin
 * answers 404, a checksum mismatch), the result is FAILED while the complete file of the earlier attempt stays at
 * the request's path: {@code --out} holds a file that no OK result names. In the soak it happened to a 2 MiB file
 * that exhausted its ten attempts against 1 % resets.
 *
 * <p>This test makes it deterministic: the first run has no checkpoint at all (interval 1 h) and ends by timeout
 * after request R was published (request B is blackholed to keep the run going); in the rerun the origin answers
 * 404 for R. It fails today, hence disabled so that {@code mvn verify} stays green; run it with
 * {@code -Djunit.jupiter.conditions.deactivate='org.junit.*DisabledCondition'}. Possible fixes: publish into
 * {@code --out} only when the checkpoint after the download completes ({@code notifyCheckpointComplete}, the
 * two-phase commit the results already get), or, on a FAILED result of a request restored as active, remove a
 * file at its path that this request published (which needs a per-run marker in the file's xattr, since ids and
 * URLs repeat across runs).
 */
@Disabled("known issue: a FAILED result after a resume leaves the file published before the crash in --out")
class ChaosResumeFailureITCase {
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
            origin.file("/orphan/b.bin", TestOrigin.content("b", 100));
            Path urls = tmp.resolve("urls.jsonl");
            Files.write(urls, List.of(
                    "{\"id\":\"R\",\"url\":\"" + fast.url("/orphan/r.bin") + "\"}",
                    "{\"id\":\"B\",\"url\":\"" + stuck.url("/orphan/b.bin") + "\"}"));
            Path out = tmp.resolve("out");

            stuck.faults(Faults.none().withBlackhole(true));
            Configuration noCheckpoints = ChaosReport.fetchSettings();
            noCheckpoints.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofHours(1));
            assertThatThrownBy(() -> run(urls, out, kafka, noCheckpoints, Duration.ofSeconds(8)))
                    .hasMessageContaining("timed out");
            assertThat(origin.hits("/orphan/r.bin")).as("R was fetched in the first run").isEqualTo(1);
            assertThat(filesNamed(out, "r.bin")).as("and published").hasSize(1);

            stuck.faults(Faults.none());
            RunSummary second = run(urls, out, kafka, ChaosReport.fetchSettings(), Duration.ofMinutes(2));
            assertThat(second.failed()).isEqualTo(1);
            List<FetchResult> results = ResultsFollower.readCommitted(kafka.bootstrapServers(), "flowget.results");
            FetchResult r = results.stream().filter(x -> "R".equals(x.id)).findFirst().orElseThrow();
            assertThat(r.status).isEqualTo(ResultStatus.FAILED);
            assertThat(r.error).isEqualTo("http 404");
            assertThat(filesNamed(out, "r.bin")).as("no file for a FAILED request").isEmpty();
        }
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
