package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.RangeRoute;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.state.KeyGroupRange;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.streaming.util.AbstractStreamOperatorTestHarness;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 12, "staging files no restored download owns are removed at start": a restored subtask deletes the staging
 * files of its own key groups that none of its restored downloads refers to, keeps every file a restored download
 * owns (its chunks are not fetched again), never touches another subtask's key groups (also right after a
 * rescale, when both new subtasks start while the other's downloads are waiting), never follows a link, and
 * leaves names outside the namespaces alone. Real files, real origins, RocksDB harnesses.
 */
class StagingSweepTest {
    private static final int CHUNK = 256 * 1024;

    @TempDir Path tmp;

    @RegisterExtension final FetchHarnessExtension fetch = new FetchHarnessExtension();

    @Test
    void aRestoredSubtaskDeletesOrphansAndKeepsItsDownloadsFile() throws Exception {
        byte[] body = TestOrigin.content("A", 8 * CHUNK);
        RangeRoute route = RangeRoute.of(body, "\"a\"").holdRangesWhere(start -> start >= 4 * CHUNK);
        Configuration conf = chunked();
        OperatorSubtaskState snapshot = halfWayThenCrash(conf, route);
        Path owned = single(partFiles());
        long ownedSize = Files.size(owned);
        Path staging = owned.getParent();
        String tag = owned.getFileName().toString().split("-")[1];
        Path orphan = Files.writeString(staging.resolve("k0-" + tag + "-dabc-g0.part"), "left by a crash");
        Path outside = Files.writeString(tmp.resolve("outside.bin"), "not ours");
        Path link = Files.createSymbolicLink(staging.resolve("k0-" + tag + "-ddef-g1.part"), outside);
        Path legacy = Files.writeString(staging.resolve(tag + "-7-g0.part"), "named before key groups");
        Path other = Files.writeString(staging.resolve("notes.txt"), "not a staging name");
        int requestsBefore = route.requests.size();

        FetchHarness second = fetch.harness(conf, snapshot, FetchHarness.Clock.MANUAL);

        assertThat(orphan).as("an orphan in its own namespace").doesNotExist();
        assertThat(Files.isSymbolicLink(link)).as("a link is deleted as the entry it is").isFalse();
        assertThat(outside).as("the link's target is untouched").hasContent("not ours");
        assertThat(owned).as("the restored download's file").exists();
        assertThat(Files.size(owned)).isEqualTo(ownedSize);
        assertThat(legacy).as("names outside the namespaces").exists();
        assertThat(other).exists();
        route.release();
        FetchResult r = second.results(1).get(0);
        assertOk(second, r, body);
        assertOnlyHeldRangesFetched(route, requestsBefore);
    }

    /** A restored download's file still named as before the namespaces ({@code <tag>-d<id>-g<n>}) keeps its chunks. */
    @Test
    void aFileNamedBeforeTheNamespacesIsAdoptedOnRestore() throws Exception {
        byte[] body = TestOrigin.content("A", 8 * CHUNK);
        RangeRoute route = RangeRoute.of(body, "\"a\"").holdRangesWhere(start -> start >= 4 * CHUNK);
        Configuration conf = chunked();
        OperatorSubtaskState snapshot = halfWayThenCrash(conf, route);
        Path owned = single(partFiles());
        String name = owned.getFileName().toString();
        Path unprefixed = Files.move(owned, owned.resolveSibling(name.substring(name.indexOf('-') + 1)));
        int requestsBefore = route.requests.size();

        FetchHarness second = fetch.harness(conf, snapshot, FetchHarness.Clock.MANUAL);

        assertThat(owned).as("renamed into its namespace").exists();
        assertThat(unprefixed).doesNotExist();
        route.release();
        assertOk(second, second.results(1).get(0), body);
        assertOnlyHeldRangesFetched(route, requestsBefore);
    }

    /**
     * Rescale 1 → 2 (128 key groups): each new subtask sweeps only its half, so neither deletes the other's
     * restored download file, though both start before either download goes on.
     */
    @Test
    void afterARescaleEachSubtaskSweepsOnlyItsKeyGroups() throws Exception {
        int maxParallelism = 128;
        KeyGroupRange lower = KeyGroupRangeAssignment.computeKeyGroupRangeForOperatorIndex(maxParallelism, 2, 0);
        String hostA = loopbackIn(lower, maxParallelism, true);
        String hostB = loopbackIn(lower, maxParallelism, false);
        TestOrigin originA = fetch.track(TestOrigin.start(hostA));
        TestOrigin originB = fetch.track(TestOrigin.start(hostB));
        byte[] a = TestOrigin.content("A", 8 * CHUNK);
        byte[] b = TestOrigin.content("B", 8 * CHUNK);
        RangeRoute routeA = RangeRoute.of(a, "\"a\"").holdRangesWhere(start -> start >= 4 * CHUNK);
        RangeRoute routeB = RangeRoute.of(b, "\"b\"").holdRangesWhere(start -> start >= 4 * CHUNK);
        originA.route("/a.bin", routeA);
        originB.route("/b.bin", routeB);
        Configuration conf = chunked();
        FetchHarness one = fetch.harness(conf, null, FetchHarness.Clock.MANUAL, maxParallelism, 1, 0);
        one.submit(FetchOperatorTest.request("A", originA, "/a.bin"),
                FetchOperatorTest.request("B", originB, "/b.bin"));
        one.drainUntil(() -> routeA.requests.size() >= 6 && routeB.requests.size() >= 6
                && one.getOperator().forTests().inFlightCount() == 4);
        OperatorSubtaskState snapshot = one.snapshot(1L, 1L);
        one.crash("rescaled to two subtasks below");
        int groupA = KeyGroupRangeAssignment.assignToKeyGroup(hostA, maxParallelism);
        int groupB = KeyGroupRangeAssignment.assignToKeyGroup(hostB, maxParallelism);
        Path fileA = single(partFiles("k" + groupA + "-"));
        Path fileB = single(partFiles("k" + groupB + "-"));
        Path staging = fileA.getParent();
        Path orphanA = Files.writeString(staging.resolve("k" + groupA + "-0123456789abcdef-d1234-g0.part"), "x");
        Path orphanB = Files.writeString(staging.resolve("k" + groupB + "-0123456789abcdef-d5678-g0.part"), "y");

        FetchHarness lowerHalf = fetch.harness(conf,
                AbstractStreamOperatorTestHarness.repartitionOperatorState(snapshot, maxParallelism, 1, 2, 0),
                FetchHarness.Clock.MANUAL, maxParallelism, 2, 0);

        assertThat(orphanA).as("an orphan of the subtask's own key group").doesNotExist();
        assertThat(orphanB).as("another subtask's key group is not touched").exists();
        assertThat(fileA).exists();
        assertThat(fileB).as("the other subtask's restored download").exists();

        FetchHarness upperHalf = fetch.harness(conf,
                AbstractStreamOperatorTestHarness.repartitionOperatorState(snapshot, maxParallelism, 1, 2, 1),
                FetchHarness.Clock.MANUAL, maxParallelism, 2, 1);

        assertThat(orphanB).doesNotExist();
        assertThat(fileA).as("the first subtask's live download").exists();
        assertThat(fileB).exists();
        routeA.release();
        routeB.release();
        FetchResult ra = lowerHalf.results(1).get(0);
        FetchResult rb = upperHalf.results(1).get(0);
        assertThat(ra.id).isEqualTo("A");
        assertOk(lowerHalf, ra, a);
        assertThat(rb.id).isEqualTo("B");
        assertOk(upperHalf, rb, b);
    }

    // ------------------------------------------------------------------------------------------------

    /** Fetches {@code route} at "/a.bin" until its held half is in flight, snapshots, and crashes the operator. */
    private OperatorSubtaskState halfWayThenCrash(Configuration conf, RangeRoute route) throws Exception {
        TestOrigin origin = fetch.track(TestOrigin.start());
        origin.route("/a.bin", route);
        FetchHarness first = fetch.harness(conf, FetchHarness.Clock.MANUAL);
        first.submit(FetchOperatorTest.request("A", origin, "/a.bin"));
        first.drainUntil(() -> route.requests.size() >= 6 && first.getOperator().forTests().inFlightCount() == 2);
        OperatorSubtaskState snapshot = first.snapshot(1L, 1L);
        first.crash("restored by the test");
        return snapshot;
    }

    /** Since request {@code from}, only the held ranges (from chunk 4 on) were asked for: the kept chunks were not. */
    private static void assertOnlyHeldRangesFetched(RangeRoute route, int from) {
        assertThat(route.requests.subList(from, route.requests.size()))
                .as("the kept chunks are not fetched again")
                .allSatisfy(range ->
                        assertThat(Long.parseLong(range.split("-")[0])).isGreaterThanOrEqualTo(4L * CHUNK));
    }

    private Configuration chunked() {
        Configuration c = FetchHarness.config(tmp);
        c.set(FlowgetOptions.CHUNK_SIZE, MemorySize.parse("256kb"));
        c.set(FlowgetOptions.HOST_MAX_CONCURRENCY, 2);
        return c;
    }

    /** The namespaced staging files (optionally of one key group: {@code prefix} "k<n>-"). */
    private List<Path> partFiles(String... prefix) throws Exception {
        try (var s = Files.list(tmp.resolve("staging"))) {
            return s.filter(p -> p.getFileName().toString().matches("k\\d+-.*\\.part"))
                    .filter(p -> prefix.length == 0 || p.getFileName().toString().startsWith(prefix[0]))
                    .toList();
        }
    }

    private static Path single(List<Path> files) {
        assertThat(files).hasSize(1);
        return files.get(0);
    }

    /** A loopback address whose key group is inside {@code range} ({@code inside}) or outside it. */
    private static String loopbackIn(KeyGroupRange range, int maxParallelism, boolean inside) {
        for (int i = 1; i < 255; i++) {
            String host = "127.0.0." + i;
            if (range.contains(KeyGroupRangeAssignment.assignToKeyGroup(host, maxParallelism)) == inside) {
                return host;
            }
        }
        throw new AssertionError("no loopback address in the wanted half");
    }

    private static void assertOk(FetchHarness h, FetchResult r, byte[] expected) throws Exception {
        assertThat(r.status).as("%s", r).isEqualTo(ResultStatus.OK);
        assertThat(r.sha256).isEqualTo(FetchOperatorTest.sha256(expected));
        assertThat(Files.readAllBytes(h.out().resolve(r.path))).isEqualTo(expected);
    }
}
