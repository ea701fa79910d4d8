package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.storage.PublishAtCommit;
import io.flowget.udf.testing.RangeRoute;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.util.OperatorSnapshotUtil;

import org.eclipse.jetty.http.HttpHeader;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static io.flowget.udf.fetch.StateCompatScenario.A;
import static io.flowget.udf.fetch.StateCompatScenario.B;
import static io.flowget.udf.fetch.StateCompatScenario.C;
import static io.flowget.udf.fetch.StateCompatScenario.D;
import static io.flowget.udf.fetch.StateCompatScenario.body;
import static io.flowget.udf.fetch.StateCompatScenario.sha256;
import static io.flowget.udf.fetch.StateCompatScenario.urlPath;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * State compatibility of {@link FetchOperator}: each committed snapshot ({@link StateCompatScenario.Fixture}: v1
 * written before the fetch-core split, commit 433aa05; v2 by issue 15 with a file waiting for its checkpoint in
 * {@code pending-publishes}; see {@code src/test/resources/state/README.md}) is restored into today's operator,
 * which must finish exactly the work the snapshot holds. This is what a job upgraded from a savepoint of that version does;
 * it fails when a persistent identifier changed: a keyed state name ({@code queue}, {@code queue-cursor},
 * {@code active}, {@code host-state}), the timer service {@code fetch-retries}, a state class or one of its
 * fields, or the staging file name a chunked download resumes from.
 *
 * <p>The snapshot ({@link StateCompatScenario}) holds four hosts: queued requests, downloads in flight, a
 * chunked download with two chunks done and a download waiting for a Retry-After retry behind a host-wide pause.
 * The origins serve the same URLs again on their fixed loopback addresses, and the harness clock is
 * {@link FetchHarness.Clock#MANUAL}, starting at 0: the retry and pause, at processing time
 * {@link StateCompatScenario#D0_RETRY_AT}, come due only when the test says so.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class FetchOperatorStateCompatibilityTest {
    /** Bound of each wait for results (they take about a second); both fit the class timeout. */
    private static final Duration RESULTS_WAIT = Duration.ofSeconds(20);

    @TempDir Path tmp;

    @RegisterExtension final FetchHarnessExtension fetch = new FetchHarnessExtension();

    @ParameterizedTest
    @EnumSource(StateCompatScenario.Fixture.class)
    void finishesTheWorkOfASnapshotExactlyOnce(StateCompatScenario.Fixture fixture) throws Exception {
        // Arrange: the origins of the snapshot's URLs, on the same addresses, now answering every request.
        Restore restore = arrange(fixture);
        long restoredAt = System.currentTimeMillis();

        // Act 1: restore; everything but host D, which is paused until D0_RETRY_AT, finishes.
        FetchHarness h = fetch.harness(StateCompatScenario.config(tmp), restore.snapshot(), FetchHarness.Clock.MANUAL);
        assertThat(h.hostsWithState()).as("hosts with queue, cursor or active state restored").isEqualTo(4);
        assertThat(h.numProcessingTimeTimers()).as("d0's retry timer restored in 'fetch-retries'").isEqualTo(1);
        awaitResults(h, 8);
        h.drainFor(Duration.ofMillis(300)); // a few sweeps: nothing may go to D before its time
        h.setProcessingTime(StateCompatScenario.D0_RETRY_AT - 1);
        h.drainFor(Duration.ofMillis(300));
        assertThat(restore.d().totalRequests()).as("requests to host D, paused and its retry due at %s",
                StateCompatScenario.D0_RETRY_AT).isZero();
        assertThat(h.extractOutputValues()).extracting(r -> r.id).hasSize(8);

        // Act 2: the retry and the pause come due; d0 and d1 finish.
        h.setProcessingTime(StateCompatScenario.D0_RETRY_AT);
        awaitResults(h, 10);
        h.drainFor(Duration.ofMillis(300)); // room for a duplicate to show up

        // Assert: one result for every request in the snapshot, none for a0 (emitted before it).
        List<FetchResult> results = h.extractOutputValues();
        assertThat(results).extracting(r -> r.id).doesNotHaveDuplicates()
                .containsExactlyInAnyOrderElementsOf(snapshotIds());
        assertSnapshotWorkDone(fixture, restore, h, results, restoredAt);
    }

    /**
     * Issue 16: the same snapshot restored into an operator that spreads hosts A and D over two shards
     * ({@code flowget.host.spread}). The snapshot's keys are the hosts themselves, which are the keys of shard 0, so
     * its work continues there exactly as without spreading: D's restored pause holds for D's shard 0 (its restored
     * requests and a new one that falls into shard 0), while a new request that falls into D's shard 1 goes at once —
     * a pause reaches another shard only through that shard's own answers (README "Politeness").
     */
    @ParameterizedTest
    @EnumSource(StateCompatScenario.Fixture.class)
    void aSnapshotFromBeforeSpreadingContinuesInShardZeroBesideTheNewShards(StateCompatScenario.Fixture fixture)
            throws Exception {
        Restore restore = arrange(fixture);
        long restoredAt = System.currentTimeMillis();
        Configuration conf = StateCompatScenario.config(tmp);
        conf.set(FlowgetOptions.HOST_SPREAD, A.address() + "=2," + D.address() + "=2");
        KeySelector<FetchRequest, String> keys = FetchHarness.keys(conf, 1);
        FetchRequest a0New = newRequest(keys, A, restore.a(), true);
        FetchRequest a1New = newRequest(keys, A, restore.a(), false);
        FetchRequest d0New = newRequest(keys, D, restore.d(), true);
        FetchRequest d1New = newRequest(keys, D, restore.d(), false);

        FetchHarness h = fetch.harness(conf, restore.snapshot(), FetchHarness.Clock.MANUAL);
        assertThat(h.hostsWithState()).as("the snapshot's hosts, under their own keys").isEqualTo(4);
        h.submit(a0New, a1New, d0New, d1New);
        awaitResults(h, 8 + 3);
        h.drainFor(Duration.ofMillis(300));
        h.setProcessingTime(StateCompatScenario.D0_RETRY_AT - 1);
        h.drainFor(Duration.ofMillis(300));
        assertThat(restore.d().totalRequests())
                .as("requests to host D before its restored pause ends: only the one of the new shard")
                .isEqualTo(1);
        assertThat(restore.d().hits(urlPath(d1New.id))).isEqualTo(1);

        h.setProcessingTime(StateCompatScenario.D0_RETRY_AT);
        awaitResults(h, 10 + 4);
        h.drainFor(Duration.ofMillis(300));

        List<FetchResult> results = h.extractOutputValues();
        List<String> ids = new java.util.ArrayList<>(snapshotIds());
        ids.addAll(List.of(a0New.id, a1New.id, d0New.id, d1New.id));
        assertThat(results).extracting(r -> r.id).doesNotHaveDuplicates().containsExactlyInAnyOrderElementsOf(ids);
        assertThat(results).filteredOn(r -> r.id.startsWith("n")).allSatisfy(r ->
                assertThat(r.status).as("%s", r).isEqualTo(ResultStatus.OK));
        assertSnapshotWorkDone(fixture, restore, h,
                results.stream().filter(r -> !r.id.startsWith("n")).toList(), restoredAt);
    }

    /** The origins serving the snapshot's URLs again, the staging directory as it was, and the snapshot. */
    private record Restore(TestOrigin a, TestOrigin b, TestOrigin c, TestOrigin d, RangeRoute c0,
            List<String> ifRange, OperatorSubtaskState snapshot) {}

    private Restore arrange(StateCompatScenario.Fixture fixture) throws Exception {
        TestOrigin a = fetch.track(A.start());
        TestOrigin b = fetch.track(B.start());
        TestOrigin c = fetch.track(C.start());
        TestOrigin d = fetch.track(D.start());
        for (String id : List.of("a0", "a2", "a3")) {
            a.file(urlPath(id), body(id));
        }
        for (String id : List.of("a1", "a4")) {
            a.route(urlPath(id), requiringHeader(id)); // the request's headers come from the snapshot
        }
        for (String id : List.of("b0", "b1", "b2")) {
            b.file(urlPath(id), body(id));
        }
        RangeRoute c0 = RangeRoute.of(body("c0"), StateCompatScenario.C0_ETAG);
        List<String> ifRange = new CopyOnWriteArrayList<>();
        c.route(urlPath("c0"), (req, resp, cb, n) -> {
            ifRange.add(String.valueOf(req.getHeaders().get(HttpHeader.IF_RANGE)));
            c0.handle(req, resp, cb, n);
        });
        for (String id : List.of("d0", "d1")) {
            d.file(urlPath(id), body(id));
        }
        // The staging directory belongs to the checkpoint: c0's partial file, as the old operator left it.
        Path staging = Files.createDirectories(tmp.resolve("staging"));
        Files.write(staging.resolve(StateCompatScenario.C0_STAGING_FILE), StateCompatScenario.c0Partial());
        if (fixture.a0Ready != null) { // and a0's finished file, waiting for the checkpoint the snapshot belongs to
            Path ready = staging.resolve(fixture.a0Ready);
            Files.createDirectories(ready.getParent());
            Files.write(ready, body("a0"));
        }
        return new Restore(a, b, c, d, c0, ifRange,
                OperatorSnapshotUtil.readStateHandle(snapshotFile(fixture.resource)));
    }

    /** The snapshot's requests that have no result yet: all but a0, emitted before it. */
    private static List<String> snapshotIds() {
        return StateCompatScenario.IDS.stream().filter(id -> !id.equals("a0")).toList();
    }

    /** Each of the snapshot's requests ended as the snapshot says it should, with its file in place. */
    private void assertSnapshotWorkDone(StateCompatScenario.Fixture fixture, Restore restore, FetchHarness h,
            List<FetchResult> results, long restoredAt) throws Exception {
        Map<String, FetchResult> byId = results.stream().collect(Collectors.toMap(r -> r.id, r -> r));
        assertThat(restore.a().hits("/a0.bin")).as("a0 finished before the snapshot").isZero();
        for (String id : List.of("a1", "a2", "a4", "b0", "b1", "b2", "c0", "d0", "d1")) {
            FetchResult r = byId.get(id);
            assertThat(r.status).as("%s", r).isEqualTo(ResultStatus.OK);
            assertThat(r.sha256).as(id).isEqualTo(sha256(id));
            assertThat(r.bytes).as(id).isEqualTo(body(id).length);
            assertThat(Files.readAllBytes(h.out().resolve(r.path))).as(id).isEqualTo(body(id));
        }
        FetchResult a3 = byId.get("a3");
        assertThat(a3.status).as("a3's max_bytes from the queue").isEqualTo(ResultStatus.FAILED);
        assertThat(a3.error).contains("max_bytes exceeded (limit " + StateCompatScenario.A3_MAX_BYTES + " bytes)");
        // c0 resumes: only what was not done, each chunk under the snapshot's validator, into the same file.
        assertThat(restore.c0().requests).as("c0's chunks after the restore").containsExactlyInAnyOrder(
                "32768-49151", "49152-65535", "65536-81919", "81920-82042");
        assertThat(restore.ifRange()).containsOnly(StateCompatScenario.C0_ETAG);
        assertThat(byId.get("c0").restarts).isNull();
        // attempts continue from the snapshot's count: 1 for the requests in flight, 4 (probe + 3 chunks) for c0
        assertThat(results.stream().collect(Collectors.toMap(r -> r.id, r -> r.attempts))).isEqualTo(Map.of(
                "a1", 2, "a2", 2, "a3", 1, "a4", 1, "b0", 2, "b1", 2, "b2", 1, "c0", 8, "d0", 2, "d1", 1));
        for (String id : List.of("a1", "a2", "b0", "b1", "c0", "d0")) {
            assertThat(byId.get(id).elapsedMs).as("%s counts from its first attempt in the snapshot", id)
                    .isGreaterThanOrEqualTo(restoredAt - fixture.writtenAt);
        }
        if (fixture.a0Ready != null) {
            assertThat(Files.readAllBytes(h.out().resolve("statecompat/a0.bin")))
                    .as("a0's file, published on restore: its checkpoint had completed").isEqualTo(body("a0"));
        }
        Path staging = tmp.resolve("staging");
        PublishAtCommit.deleteEmptyReadyDirs(staging);
        assertThat(h.stagingFiles()).isEmpty();
    }

    /**
     * A new request of {@code origin}'s host ({@code served} serves it) whose key is the host's own (shard 0) or,
     * when {@code shardZero} is false, another shard's.
     */
    private static FetchRequest newRequest(KeySelector<FetchRequest, String> keys, StateCompatScenario.Origin origin,
            TestOrigin served, boolean shardZero) throws Exception {
        for (int i = 0; i < 1000; i++) {
            String id = "n" + origin.address().substring(origin.address().lastIndexOf('.') + 1) + "-" + i;
            FetchRequest r = new FetchRequest(id, origin.url(urlPath(id)), origin.address(), "spread/" + id + ".bin");
            if (keys.getKey(r).equals(origin.address()) == shardZero) {
                served.file(urlPath(id), TestOrigin.content(id, 3000));
                return r;
            }
        }
        throw new AssertionError("no path of " + origin + " falls into the shard asked for");
    }

    /** Runs the harness until {@code n} results are out; after {@link #RESULTS_WAIT} fails naming those that are. */
    private static void awaitResults(FetchHarness h, int n) throws Exception {
        FetchHarness.drain(h.harness, h.clock, () -> h.extractOutputValues().size() >= n, RESULTS_WAIT, false);
        assertThat(h.extractOutputValues()).extracting(r -> r.id + " " + r.status)
                .as("results within %s of restoring the snapshot", RESULTS_WAIT).hasSize(n);
    }

    /** Serves {@code id} only to a request carrying the snapshot's header for it; 400 otherwise. */
    private static TestOrigin.Route requiringHeader(String id) {
        return (req, resp, cb, n) -> {
            boolean ok = id.equals(req.getHeaders().get(StateCompatScenario.HEADER));
            TestOrigin.send(resp, cb, ok ? 200 : 400, ok ? body(id) : "header missing".getBytes());
        };
    }

    private static String snapshotFile(String resource) throws Exception {
        URL url = FetchOperatorStateCompatibilityTest.class.getClassLoader().getResource(resource);
        assertThat(url).as("class-path resource %s", resource).isNotNull();
        return Path.of(url.toURI()).toString();
    }
}
