package io.flowget.udf.fetch;

import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.testing.RangeRoute;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.state.KeyedStateBackend;
import org.apache.flink.runtime.state.VoidNamespace;
import org.apache.flink.runtime.state.VoidNamespaceSerializer;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.streaming.runtime.tasks.mailbox.Mail;
import org.apache.flink.streaming.runtime.tasks.mailbox.TaskMailbox;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.apache.flink.streaming.util.OperatorSnapshotUtil;

import org.eclipse.jetty.http.HttpHeader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.io.TempDir;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;

import static io.flowget.udf.fetch.StateCompatScenario.A;
import static io.flowget.udf.fetch.StateCompatScenario.B;
import static io.flowget.udf.fetch.StateCompatScenario.C;
import static io.flowget.udf.fetch.StateCompatScenario.D;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Writes the fetch operator's state in the {@link StateCompatScenario} to a file with Flink's
 * {@link OperatorSnapshotUtil}, for {@link FetchOperatorStateCompatibilityTest}. Not a test: it runs only when
 * {@code -Dflowget.statecompat.out=FILE} is given, and it is meant to run against the code whose state is to be
 * frozen, not today's (see {@code src/test/resources/state/README.md} for the commands). It uses only what every
 * version of the operator has (Flink's keyed harness, {@link FetchOperatorFactory}, the operator's
 * {@code inFlightCount()} hook), so the same source compiles against the old code.
 *
 * <p>It drives the operator until the scenario's shape is reached, checks that shape (hits per path, chunks asked
 * for, attempts in flight, the retry timer), takes the snapshot, prints every keyed state entry and checks c0's
 * partial file against {@link StateCompatScenario#c0Partial()}.
 */
@EnabledIfSystemProperty(named = "flowget.statecompat.out", matches = ".+")
class FetchOperatorSnapshotWriter {
    private static final Duration WAIT = Duration.ofSeconds(60);
    /** {@code -Dflowget.statecompat.publish-at-commit=true}: write the v2 fixture (see the resources README). */
    private static final boolean PUBLISH_AT_COMMIT = Boolean.getBoolean("flowget.statecompat.publish-at-commit");

    @TempDir Path tmp;

    @Test
    void writeSnapshot() throws Exception {
        Path target = Path.of(System.getProperty("flowget.statecompat.out")).toAbsolutePath();
        CountDownLatch hold = new CountDownLatch(1);
        TestOrigin.Route held = (req, resp, cb, n) -> {
            hold.await(WAIT.toMillis(), TimeUnit.MILLISECONDS);
            TestOrigin.send(resp, cb, 500, new byte[0]); // after the crash: nobody reads it
        };
        RangeRoute c0 = RangeRoute.of(StateCompatScenario.body("c0"), StateCompatScenario.C0_ETAG)
                .holdRangesWhere(start -> start >= StateCompatScenario.C0_DONE);
        try (TestOrigin a = A.start();
                TestOrigin b = B.start();
                TestOrigin c = C.start();
                TestOrigin d = D.start()) {
            a.file("/a0.bin", StateCompatScenario.body("a0"));
            for (String id : List.of("a1", "a2", "a3", "a4")) {
                a.route(StateCompatScenario.urlPath(id), held);
            }
            for (String id : List.of("b0", "b1", "b2")) {
                b.route(StateCompatScenario.urlPath(id), held);
            }
            c.route("/c0.bin", c0);
            d.route("/d0.bin", (req, resp, cb, n) -> {
                resp.getHeaders().put(HttpHeader.RETRY_AFTER, StateCompatScenario.D0_RETRY_AFTER_SECONDS);
                TestOrigin.send(resp, cb, 503, "busy".getBytes());
            });
            d.route("/d1.bin", held);

            var h = new KeyedOneInputStreamOperatorTestHarness<>(
                    new FetchOperatorFactory(StateCompatScenario.config(tmp)), (FetchRequest r) -> r.host,
                    Types.STRING);
            h.setStateBackend(new EmbeddedRocksDBStateBackend(true));
            if (PUBLISH_AT_COMMIT) {
                // Since issue 15 (v2): a job with checkpoints publishes a0's file with its checkpoint, so the
                // snapshot also holds a0 in the operator state 'pending-publishes' and its ready file.
                h.getEnvironment().getJobConfiguration()
                        .set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofSeconds(1));
            }
            h.open();
            h.setProcessingTime(StateCompatScenario.WRITER_PROCESSING_TIME);
            FetchOperator op = (FetchOperator) h.getOperator();
            for (String id : StateCompatScenario.IDS) {
                h.processElement(StateCompatScenario.request(id), 0);
            }
            // a0 done; a1, a2, b0, b1 and two chunks of c0 in flight (6 = max-in-flight); d0's 503 processed.
            drainUntil(h, () -> h.extractOutputValues().size() == 1
                    && a.hits("/a1.bin") == 1 && a.hits("/a2.bin") == 1
                    && b.hits("/b0.bin") == 1 && b.hits("/b1.bin") == 1
                    && c0.requests.size() == 4 && d.hits("/d0.bin") == 1
                    && op.forTests().inFlightCount() == 6 && h.numProcessingTimeTimers() == 1);
            drainFor(h, Duration.ofMillis(500)); // nothing else may happen: the shape is stable
            FetchResult a0 = h.extractOutputValues().get(0);
            assertThat(a0.id).isEqualTo("a0");
            assertThat(a0.sha256).isEqualTo(StateCompatScenario.sha256("a0"));
            assertThat(h.extractOutputValues()).hasSize(1);
            assertThat(op.forTests().inFlightCount()).isEqualTo(6);
            assertThat(List.of(a.hits("/a3.bin"), a.hits("/a4.bin"), b.hits("/b2.bin"), d.hits("/d1.bin")))
                    .as("queued requests never reached their origins").containsOnly(0);
            assertThat(c0.requests).containsExactlyInAnyOrder( // the two held chunks go out together
                    "0-16383", "16384-32767", "32768-49151", "49152-65535");
            assertThat(h.getProcessingTime()).isEqualTo(StateCompatScenario.WRITER_PROCESSING_TIME);

            OperatorSubtaskState snapshot = h.snapshot(1L, 1L);
            Files.createDirectories(target.getParent());
            OperatorSnapshotUtil.writeStateHandle(snapshot, target.toString());
            System.out.println("wrote " + target + " (" + Files.size(target) + " bytes) at "
                    + System.currentTimeMillis());
            dumpState(op.getKeyedStateBackend());

            try (Stream<Path> files = Files.walk(tmp.resolve("staging"))) {
                List<Path> staging = files.filter(Files::isRegularFile)
                        .filter(p -> !PUBLISH_AT_COMMIT || !p.toString().endsWith(".ready")).toList();
                for (Path p : staging) {
                    System.out.println("staging " + p.getFileName() + " " + Files.size(p) + " bytes");
                }
                assertThat(staging).hasSize(1);
                assertThat(Files.readAllBytes(staging.get(0))).isEqualTo(StateCompatScenario.c0Partial());
            }
            if (PUBLISH_AT_COMMIT) {
                try (Stream<Path> files = Files.walk(tmp.resolve("staging"))) {
                    List<Path> ready = files.filter(p -> p.toString().endsWith(".ready")).toList();
                    assertThat(ready).singleElement().satisfies(r -> assertThat(Files.readAllBytes(r))
                            .isEqualTo(StateCompatScenario.body("a0")));
                    System.out.println("ready " + tmp.resolve("staging").relativize(ready.get(0)));
                }
            }
            op.close(); // a crash after the snapshot: the work stays in it
            hold.countDown(); // before the origins stop, so that their held handlers end quietly
            c0.release();
        } finally {
            hold.countDown();
            c0.release();
        }
    }

    private static void drainUntil(
            KeyedOneInputStreamOperatorTestHarness<String, FetchRequest, FetchResult> h, BooleanSupplier done)
            throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!done.getAsBoolean()) {
            assertThat(System.nanoTime()).as("scenario shape reached within %s", WAIT).isLessThan(deadline);
            runMailOrPause(h);
        }
    }

    private static void drainFor(
            KeyedOneInputStreamOperatorTestHarness<String, FetchRequest, FetchResult> h, Duration d)
            throws Exception {
        long end = System.nanoTime() + d.toNanos();
        while (System.nanoTime() < end) {
            runMailOrPause(h);
        }
    }

    /** Runs one mail on the test thread; processing time stands still (the snapshot's times are relative to it). */
    private static void runMailOrPause(KeyedOneInputStreamOperatorTestHarness<String, FetchRequest, FetchResult> h)
            throws Exception {
        Optional<Mail> mail = h.getTaskMailbox().tryTake(TaskMailbox.MIN_PRIORITY);
        if (mail.isPresent()) {
            mail.get().run();
        } else {
            Thread.sleep(1);
        }
    }

    /** Prints every keyed state entry of the four states, per host, for the README. */
    private static void dumpState(KeyedStateBackend<Object> backend) throws Exception {
        MapState<Long, FetchRequest> queue = backend.getPartitionedState(VoidNamespace.INSTANCE,
                VoidNamespaceSerializer.INSTANCE,
                new MapStateDescriptor<>("queue", Types.LONG, TypeInformation.of(FetchRequest.class)));
        ValueState<QueueCursor> cursor = backend.getPartitionedState(VoidNamespace.INSTANCE,
                VoidNamespaceSerializer.INSTANCE,
                new ValueStateDescriptor<>("queue-cursor", TypeInformation.of(QueueCursor.class)));
        MapState<Long, Download> active = backend.getPartitionedState(VoidNamespace.INSTANCE,
                VoidNamespaceSerializer.INSTANCE,
                new MapStateDescriptor<>("active", Types.LONG, TypeInformation.of(Download.class)));
        ValueState<HostState> hostState = backend.getPartitionedState(VoidNamespace.INSTANCE,
                VoidNamespaceSerializer.INSTANCE,
                HostPoliteness.stateDescriptor(StateCompatScenario.config(Path.of("/")).get(
                        io.flowget.udf.config.FlowgetOptions.HOST_STATE_TTL)));
        TreeSet<String> hosts = new TreeSet<>();
        for (String name : List.of("queue", "queue-cursor", "active", "host-state")) {
            try (Stream<Object> keys = backend.getKeys(name, VoidNamespace.INSTANCE)) {
                keys.forEach(k -> hosts.add(k.toString()));
            }
        }
        for (String host : hosts) {
            backend.setCurrentKey(host);
            System.out.println("host " + host);
            System.out.println("  queue-cursor " + describe(cursor.value()));
            for (Map.Entry<Long, FetchRequest> e : sorted(queue.entries())) {
                System.out.println("  queue[" + e.getKey() + "] " + describe(e.getValue()));
            }
            for (Map.Entry<Long, Download> e : sorted(active.entries())) {
                System.out.println("  active[" + e.getKey() + "] " + describe(e.getValue()));
            }
            System.out.println("  host-state " + describe(hostState.value()));
        }
    }

    private static <V> List<Map.Entry<Long, V>> sorted(Iterable<Map.Entry<Long, V>> entries) {
        List<Map.Entry<Long, V>> out = new ArrayList<>();
        entries.forEach(e -> out.add(Map.entry(e.getKey(), e.getValue())));
        out.sort(Map.Entry.comparingByKey());
        return out;
    }

    /** The public instance fields of a state POJO (a nested request by its id). */
    private static String describe(Object pojo) throws IllegalAccessException {
        if (pojo == null) {
            return "null";
        }
        StringBuilder s = new StringBuilder("{");
        for (Field f : pojo.getClass().getFields()) {
            if (Modifier.isStatic(f.getModifiers())) {
                continue;
            }
            Object v = f.get(pojo);
            String text = v instanceof long[] l ? Arrays.toString(l)
                    : v instanceof FetchRequest r ? "<" + r.id + ">" : String.valueOf(v);
            s.append(s.length() > 1 ? ", " : "").append(f.getName()).append('=').append(text);
        }
        return s.append('}').toString();
    }
}
