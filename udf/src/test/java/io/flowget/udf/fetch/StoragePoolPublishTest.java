package io.flowget.udf.fetch;

import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.storage.PublishAtCommit;
import io.flowget.udf.storage.StoragePool;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.UserDefinedFileAttributeView;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.stream.Collectors;

import static io.flowget.udf.fetch.FetchOperatorTest.path;
import static io.flowget.udf.fetch.FetchOperatorTest.request;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Publishing on the storage pool (issue 16, "the task thread only decides"): the file work of a publish (ownership
 * check and directory creation, the label, the rename) runs on {@link StoragePool} and its end comes back through
 * the mailbox. Real origin, real files, RocksDB state: a failure found on the pool is that request's FAILED result
 * with its reason while the others are OK and the task goes on; a checkpoint taken while publishes wait on the pool
 * restores to exactly one result per request, every file published once and labelled, nothing of the crashed
 * attempt left in the ready folder.
 */
class StoragePoolPublishTest {
    @TempDir Path tmp;

    @RegisterExtension final FetchHarnessExtension fetch = new FetchHarnessExtension();

    @Test
    void aFailureFoundOnThePoolIsThatRequestsResultAndTheOthersAreOk() throws Exception {
        TestOrigin origin = fetch.track(TestOrigin.start("127.0.0.1"));
        for (String name : List.of("/ok1.bin", "/ok2.bin", "/dir.bin", "/linked/x.bin", "/afile/x.bin", "/late.bin")) {
            origin.file(name, TestOrigin.content(name, 3000));
        }
        Configuration conf = FetchHarness.config(tmp, 8, 4);
        Path out = Files.createDirectories(tmp.resolve("out"));
        Path outside = Files.createDirectories(tmp.resolve("outside"));
        String hostDir = path(origin, "");
        Path host = Files.createDirectories(out.resolve(hostDir));
        Files.createDirectories(host.resolve("dir.bin")); // the target is a directory
        Files.createSymbolicLink(host.resolve("linked"), outside); // a link on the way to the target
        Files.writeString(host.resolve("afile"), "a file where a directory must be"); // a parent is a file
        var h = fetch.harness(conf, FetchHarness.Clock.STEPPED);
        long poolTasksBefore = StoragePool.completed();

        for (String id : List.of("ok1", "dir", "linked", "afile", "ok2")) {
            String urlPath = switch (id) {
                case "linked", "afile" -> "/" + id + "/x.bin";
                default -> "/" + id + ".bin";
            };
            h.processElement(request(id, origin, urlPath), 0);
        }
        Map<String, FetchResult> byId = h.results(5).stream().collect(Collectors.toMap(r -> r.id, r -> r));

        assertThat(byId.get("ok1").status).isEqualTo(ResultStatus.OK);
        assertThat(byId.get("ok2").status).isEqualTo(ResultStatus.OK);
        assertThat(host.resolve("ok1.bin")).hasBinaryContent(TestOrigin.content("/ok1.bin", 3000));
        assertThat(host.resolve("ok2.bin")).hasBinaryContent(TestOrigin.content("/ok2.bin", 3000));
        assertThat(byId.get("dir").error).isEqualTo("path conflict: " + hostDir + "/dir.bin (it is a directory)");
        assertThat(byId.get("linked").error)
                .isEqualTo("path conflict: " + hostDir + "/linked/x.bin (" + hostDir + "/linked is a symbolic link)");
        assertThat(byId.get("afile").error)
                .isEqualTo("path conflict: " + hostDir + "/afile/x.bin (a parent of it is a file)");
        assertThat(List.of(byId.get("dir"), byId.get("linked"), byId.get("afile")))
                .extracting(r -> r.status).containsOnly(ResultStatus.FAILED);
        assertThat(StoragePool.completed() - poolTasksBefore).as("the file work ran on the storage pool")
                .isGreaterThanOrEqualTo(5);
        try (var listing = Files.list(outside)) {
            assertThat(listing).as("nothing written through the link").isEmpty();
        }
        assertThat(h.stagingFiles()).as("the refused bodies are discarded").isEmpty();

        // The task goes on: a later request is fetched and published.
        FetchResult late = h.fetch(request("late", origin, "/late.bin"));
        assertThat(late.status).isEqualTo(ResultStatus.OK);
        assertThat(host.resolve("late.bin")).hasBinaryContent(TestOrigin.content("/late.bin", 3000));
    }

    @Test
    void aCheckpointTakenWhilePublishesWaitOnThePoolRestoresToExactlyOnceResults() throws Exception {
        TestOrigin origin = fetch.track(TestOrigin.start("127.0.0.1"));
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            ids.add("f" + i);
            origin.file("/f" + i + ".bin", TestOrigin.content("f" + i, 4000 + i));
        }
        Configuration conf = FetchHarness.config(tmp, 8, 8);
        conf.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofSeconds(1)); // publish with the commit
        Path out = tmp.resolve("out");
        Path staging = tmp.resolve("staging");
        Function<String, FetchRequest> req = id -> request(id, origin, "/" + id + ".bin");
        Function<String, Path> file = id -> out.resolve(path(origin, "/" + id + ".bin"));

        FetchHarness a = fetch.harness(conf, FetchHarness.Clock.STEPPED);
        for (String id : ids.subList(0, 5)) {
            a.processElement(req.apply(id), 0);
        }
        List<FetchResult> before = a.results(5); // published to the ready folder: in this checkpoint's state
        PoolBlocker blocker = new PoolBlocker();
        OperatorSubtaskState snapshot;
        try {
            for (String id : ids.subList(5, 10)) {
                a.processElement(req.apply(id), 0);
            }
            // Fetched, and their publishes wait on the held pool: no result yet, the requests still active.
            a.drainUntil(() -> StoragePool.busy() >= StoragePool.THREADS + 5);
            assertThat(a.extractOutputValues()).hasSize(5);
            snapshot = a.snapshot(1L, 1L);
            a.crash("publishes in flight on the storage pool at the snapshot, then a crash before they end");
        } finally {
            blocker.release(); // the crashed attempt's publishes now move their files to its ready folder
        }
        awaitPoolIdle();
        assertThat(ids.subList(0, 10)).allSatisfy(id -> assertThat(file.apply(id)).doesNotExist());

        FetchHarness b = fetch.harness(conf, snapshot, FetchHarness.Clock.STEPPED);
        // The restore renamed the committed checkpoint's files and deleted the crashed attempt's ready files.
        for (FetchResult r : before) {
            assertThat(file.apply(r.id)).hasBinaryContent(TestOrigin.content(r.id, 4000 + ids.indexOf(r.id)));
        }
        List<FetchResult> after = b.results(5);
        assertThat(after).extracting(r -> r.id).containsExactlyInAnyOrderElementsOf(ids.subList(5, 10));
        assertThat(after).extracting(r -> r.status).containsOnly(ResultStatus.OK);
        assertThat(ids.subList(5, 10)).as("published only with the checkpoint that commits their results")
                .allSatisfy(id -> assertThat(file.apply(id)).doesNotExist());
        b.snapshot(2L, 2L);
        b.notifyOfCompletedCheckpoint(2L); // the renames run on the pool, their end comes back as mail
        b.drainUntil(() -> ids.stream().allMatch(id -> Files.exists(file.apply(id)))
                && b.getOperator().forTests().pendingPublishes() == 0);

        List<FetchResult> all = new ArrayList<>(before);
        all.addAll(after);
        assertThat(all).extracting(r -> r.id).containsExactlyInAnyOrderElementsOf(ids); // each exactly once
        for (String id : ids) {
            assertThat(file.apply(id)).hasBinaryContent(TestOrigin.content(id, 4000 + ids.indexOf(id)));
            assertThat(owner(file.apply(id))).as("labelled before it was published").contains(origin.url("/" + id + ".bin"));
        }
        assertThat(origin.hits("/f0.bin")).as("committed before the crash: not fetched again").isEqualTo(1);
        assertThat(origin.hits("/f7.bin")).as("in flight at the snapshot: fetched again").isEqualTo(2);
        assertThat(PublishAtCommit.anyReady(staging)).as("no ready file left behind").isFalse();
    }

    /** The packed metadata attribute of a published file, or "" when it has none. */
    private static String owner(Path f) throws Exception {
        UserDefinedFileAttributeView view = Files.getFileAttributeView(f, UserDefinedFileAttributeView.class);
        if (view == null || !view.list().contains("flowget.meta")) {
            return "";
        }
        var buf = java.nio.ByteBuffer.allocate(view.size("flowget.meta"));
        view.read("flowget.meta", buf);
        return new String(buf.array(), 0, buf.position(), StandardCharsets.UTF_8);
    }

    /** Waits (bounded) until the storage pool has nothing queued or running. */
    private static void awaitPoolIdle() throws InterruptedException {
        long until = System.nanoTime() + FetchHarness.WAIT.toNanos();
        while (StoragePool.busy() > 0) {
            assertThat(System.nanoTime()).as("storage pool idle within %s", FetchHarness.WAIT).isLessThan(until);
            Thread.sleep(5);
        }
    }

    /** Holds every thread of the storage pool until {@link #release}, so publishes queue behind it. */
    private static final class PoolBlocker {
        private final CountDownLatch started = new CountDownLatch(StoragePool.THREADS);
        private final CountDownLatch release = new CountDownLatch(1);

        PoolBlocker() throws InterruptedException {
            for (int i = 0; i < StoragePool.THREADS; i++) {
                StoragePool.executor().execute(() -> {
                    started.countDown();
                    try {
                        release.await(FetchHarness.WAIT.toSeconds(), TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                });
            }
            assertThat(started.await(FetchHarness.WAIT.toSeconds(), TimeUnit.SECONDS)).as("pool held").isTrue();
        }

        void release() {
            release.countDown();
        }
    }
}
