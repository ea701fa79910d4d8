package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.streaming.util.AbstractStreamOperatorTestHarness;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 16, "busy hosts use more than one thread": a host spread by {@code flowget.host.spread} runs on two Fetch
 * subtasks (two operators on RocksDB, fed as the job's keyBy feeds them) while its concurrency limit holds for the
 * host as a whole at a real origin; and a dead host's open circuit, restored from state written before the host was
 * spread, still holds in shard 0 (the host's own key) while the new shard learns it on its own.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class SpreadHostTest {
    private static final int MAX_PARALLELISM = 128;
    private static final long OPEN_MILLIS = 3_600_000;

    @TempDir Path tmp;

    @RegisterExtension final FetchHarnessExtension fetch = new FetchHarnessExtension();

    @Test
    void aBusyHostRunsOnTwoSubtasksWhileItsLimitHoldsAsAWhole() throws Exception {
        int files = 120;
        int hostLimit = 6;
        TestOrigin origin = fetch.track(TestOrigin.start("127.0.0.1"));
        TestOrigin.Route slow = (req, resp, cb, n) -> {
            Thread.sleep(20); // long enough for both shards' requests to overlap at the origin
            TestOrigin.send(resp, cb, 200, new byte[1000]);
        };
        for (int i = 0; i < files; i++) {
            origin.route("/f" + i, slow);
        }
        Configuration conf = FetchHarness.config(tmp, 64, hostLimit);
        conf.set(FlowgetOptions.HOST_SPREAD, origin.host() + "=2");
        List<FetchHarness> subtasks = subtasks(conf, null, FetchHarness.Clock.WALL);
        KeySelector<FetchRequest, String> keys = FetchHarness.keys(conf, MAX_PARALLELISM);

        int[] submitted = new int[2];
        for (int i = 0; i < files; i++) {
            submitted[submit(subtasks, keys, FetchOperatorTest.request("f" + i, origin, "/f" + i))]++;
        }
        drain(subtasks, () -> results(subtasks).size() >= files);

        List<FetchResult> results = results(subtasks);
        assertThat(results).extracting(r -> r.id).doesNotHaveDuplicates().hasSize(files);
        assertThat(results).allSatisfy(r -> assertThat(r.status).as("%s", r).isEqualTo(ResultStatus.OK));
        for (int s = 0; s < 2; s++) {
            assertThat(submitted[s]).as("requests of the host's shard on subtask %d", s).isBetween(30, 90);
            assertThat(subtasks.get(s).extractOutputValues()).as("results of subtask %d", s).hasSize(submitted[s]);
        }
        assertThat(origin.maxConcurrent())
                .as("requests in flight at the origin: the host's limit as a whole, each shard holding its half")
                .isLessThanOrEqualTo(hostLimit)
                .isGreaterThan(hostLimit / 2);
    }

    @Test
    void aDeadHostsRestoredOpenCircuitHoldsInShardZeroAndTheNewShardOpensItsOwn() throws Exception {
        String address = "127.0.0.43";
        int port;
        try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getByName(address))) {
            port = probe.getLocalPort(); // closed again: every connect is refused
        }
        Configuration conf = FetchHarness.config(tmp, 16, 8);
        conf.set(FlowgetOptions.HOST_BREAKER_FAILURES, 1);
        conf.set(FlowgetOptions.HOST_BREAKER_OPEN, Duration.ofMillis(OPEN_MILLIS));
        conf.set(FlowgetOptions.HOST_BREAKER_MAX_OPEN, Duration.ofMillis(OPEN_MILLIS));
        conf.set(FlowgetOptions.HOST_GIVE_UP_AFTER, Duration.ofDays(1));

        // Before: one subtask, the host not spread; its circuit opens and is in the snapshot under the host's key.
        FetchHarness before = fetch.harness(conf, null, FetchHarness.Clock.MANUAL, MAX_PARALLELISM, 1, 0);
        before.setProcessingTime(1_000);
        before.submit(dead(address, port, "d"));
        before.drainUntil(() -> before.getOperator().forTests().inFlightCount() == 0 && health(before, address) != null
                && health(before, address).openUntil > 0);
        HostHealth restored = health(before, address);
        assertThat(restored.openUntil).isEqualTo(1_000 + OPEN_MILLIS);
        OperatorSubtaskState snapshot = before.snapshot(1L, 1L);
        before.crash("the dead host's request waits behind its open circuit at the snapshot");

        // After: two subtasks, the host spread over two shards; new requests of the host fall into both.
        Configuration spread = new Configuration(conf);
        spread.set(FlowgetOptions.HOST_SPREAD, address + "=2");
        List<FetchHarness> subtasks = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            FetchHarness h = fetch.harness(spread,
                    AbstractStreamOperatorTestHarness.repartitionOperatorState(snapshot, MAX_PARALLELISM, 1, 2, i),
                    FetchHarness.Clock.MANUAL, MAX_PARALLELISM, 2, i);
            h.unfinished("the dead host's requests wait behind its open circuits");
            h.setProcessingTime(2_000);
            subtasks.add(h);
        }
        KeySelector<FetchRequest, String> keys = FetchHarness.keys(spread, MAX_PARALLELISM);
        String shard1 = null;
        for (int i = 0; i < 20; i++) {
            FetchRequest r = dead(address, port, "e" + i);
            submit(subtasks, keys, r);
            shard1 = keys.getKey(r).equals(address) ? shard1 : keys.getKey(r);
        }
        assertThat(shard1).as("some of the new requests fall into shard 1").isNotNull();
        String newShard = shard1;
        int shard0Subtask = KeyGroupRangeAssignment.assignKeyToParallelOperator(address, MAX_PARALLELISM, 2);
        int shard1Subtask = KeyGroupRangeAssignment.assignKeyToParallelOperator(newShard, MAX_PARALLELISM, 2);
        assertThat(shard1Subtask).as("the shards run on different subtasks").isNotEqualTo(shard0Subtask);
        FetchHarness zero = subtasks.get(shard0Subtask);
        FetchHarness one = subtasks.get(shard1Subtask);
        drain(subtasks, () -> {
            HostHealth h = health(one, newShard);
            return h != null && h.openUntil > 0 && one.getOperator().forTests().inFlightCount() == 0;
        });
        drainFor(subtasks, Duration.ofMillis(300)); // room for anything shard 0 would send

        assertThat(health(zero, address)).as("shard 0 (the host's own key) sent nothing: its restored health")
                .isEqualTo(restored);
        assertThat(health(one, newShard).openUntil).as("shard 1 opened its own circuit after its first failure")
                .isEqualTo(2_000 + OPEN_MILLIS);
        assertThat(results(subtasks)).as("every request waits behind an open circuit").isEmpty();
        assertThat(zero.getOperator().forTests().backlog() + one.getOperator().forTests().backlog()).isEqualTo(21);
    }

    private static FetchRequest dead(String address, int port, String id) {
        return new FetchRequest(id, "http://" + address + ":" + port + "/" + id, address, address + "/" + id);
    }

    private List<FetchHarness> subtasks(Configuration conf, OperatorSubtaskState restore, FetchHarness.Clock clock)
            throws Exception {
        List<FetchHarness> subtasks = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            subtasks.add(fetch.harness(conf, restore, clock, MAX_PARALLELISM, 2, i));
        }
        return subtasks;
    }

    /** Hands {@code r} to the subtask that owns its key's key group, as the job's keyBy does; returns that subtask. */
    private static int submit(List<FetchHarness> subtasks, KeySelector<FetchRequest, String> keys, FetchRequest r)
            throws Exception {
        int s = KeyGroupRangeAssignment.assignKeyToParallelOperator(keys.getKey(r), MAX_PARALLELISM, subtasks.size());
        subtasks.get(s).submit(r);
        return s;
    }

    private static List<FetchResult> results(List<FetchHarness> subtasks) {
        List<FetchResult> all = new ArrayList<>();
        subtasks.forEach(h -> all.addAll(h.extractOutputValues()));
        return all;
    }

    /** Runs the subtasks' mail in turn on this thread until {@code done}; fails after {@link FetchHarness#WAIT}. */
    private static void drain(List<FetchHarness> subtasks, BooleanSupplier done) throws Exception {
        assertThat(loop(subtasks, done, FetchHarness.WAIT)).as("condition reached within %s", FetchHarness.WAIT)
                .isTrue();
    }

    private static void drainFor(List<FetchHarness> subtasks, Duration d) throws Exception {
        loop(subtasks, () -> false, d);
    }

    /**
     * One thread runs every subtask's mail, as each task thread would run its own; processing time follows the wall
     * clock for {@link FetchHarness.Clock#WALL} subtasks and stands still for MANUAL ones.
     */
    private static boolean loop(List<FetchHarness> subtasks, BooleanSupplier done, Duration bound) throws Exception {
        long start = System.nanoTime();
        long[] base = subtasks.stream().mapToLong(FetchHarness::getProcessingTime).toArray();
        while (!done.getAsBoolean()) {
            long elapsed = System.nanoTime() - start;
            if (elapsed >= bound.toNanos()) {
                return false;
            }
            boolean ran = false;
            for (int i = 0; i < subtasks.size(); i++) {
                FetchHarness h = subtasks.get(i);
                if (h.clock == FetchHarness.Clock.WALL && base[i] + elapsed / 1_000_000 > h.getProcessingTime()) {
                    h.setProcessingTime(base[i] + elapsed / 1_000_000);
                }
                ran |= FetchHarness.runOneMail(h.harness);
            }
            if (!ran) {
                Thread.sleep(1);
            }
        }
        return true;
    }

    private static HostHealth health(FetchHarness h, String key) {
        try {
            return HostHealthStateTest.health(h, key);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
