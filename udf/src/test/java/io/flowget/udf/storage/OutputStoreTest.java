package io.flowget.udf.storage;

import io.flowget.udf.config.FlowgetOptions.Durability;
import io.flowget.udf.config.FlowgetOptions.OnConflict;
import io.flowget.udf.storage.OutputStore.FileMeta;
import io.flowget.udf.storage.OutputStore.PathConflictException;
import io.flowget.udf.storage.OutputStore.Publish;
import io.flowget.udf.storage.OutputStore.RecordedFile;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The facade wires its parts together: one request's staging, publish, group commit and conditional lookup. */
class OutputStoreTest {

    private static final String URL = "https://example.com/a.bin";
    private static final String OTHER = "https://example.com/other";

    @TempDir Path tmp;

    @Test
    void oneRequestFromStagingToARecordedDurableFile() throws Exception {
        assumeTrue(UserXattrs.supported(tmp), "the file system of @TempDir does not take user xattrs");
        OutputStore store =
                new OutputStore(tmp.resolve("out"), tmp.resolve("staging"), OnConflict.FAIL, Durability.CHECKPOINT);
        Path staging = store.stagingFile("example.com", 1, 0);
        Files.writeString(staging, "body");
        store.markDirty(staging);
        FileMeta meta = new FileMeta("\"v1\"", "Tue, 01 Apr 2025 10:00:00 GMT", "ab".repeat(32), null);

        Path target = store.publish(staging, "example.com/a.bin", URL, meta);

        assertThat(staging.getParent()).isEqualTo(store.stagingDir());
        assertThat(target).isEqualTo(store.resolve("example.com/a.bin")).hasContent("body");
        assertThat(store.pendingSyncCount()).isEqualTo(4); // staging, target, example.com/, out/
        store.syncPending();
        assertThat(store.pendingSyncCount()).isZero();
        RecordedFile recorded = store.recorded("example.com/a.bin", URL);
        assertThat(recorded).isEqualTo(new RecordedFile(4, meta.sha256(), null, meta.etag(), meta.lastModified()));
        assertThat(recorded.conditionalHeaders())
                .containsExactly(
                        Map.entry("If-None-Match", "\"v1\""),
                        Map.entry("If-Modified-Since", "Tue, 01 Apr 2025 10:00:00 GMT"));
    }

    @Test
    void recordedIsNullForAPathOutsideTheOutputDirectory() throws Exception {
        assumeTrue(UserXattrs.supported(tmp), "the file system of @TempDir does not take user xattrs");
        OutputStore store =
                new OutputStore(tmp.resolve("out"), tmp.resolve("staging"), OnConflict.FAIL, Durability.NONE);
        Path outside = Files.writeString(tmp.resolve("outside.bin"), "body");
        FileMetadata.write(outside, URL, new FileMeta("\"v1\"", null, "ab".repeat(32), null));
        assertThat(FileMetadata.recorded(outside, URL)).as("recorded, were it inside").isNotNull();

        assertThat(store.recorded("../outside.bin", URL)).isNull();
        assertThat(store.outDir()).isEqualTo(tmp.resolve("out")).isDirectory();
        assertThat(store.stagingDir()).isEqualTo(tmp.resolve("staging")).isDirectory();
    }

    /**
     * Without checkpoints a publish's file work runs on the storage pool and renames into place at once: two URLs'
     * files on one path are decided in the order their publishes began, not by which rename lands last (both would
     * pass the ownership check on an empty path, and the later rename would silently replace the other URL's file).
     * The pool is handed them in the opposite order, so only the path's queue can put them right.
     */
    @Test
    void withoutCheckpointsPublishesOnOnePathAreDecidedInTheOrderTheyBegan() throws Exception {
        assumeTrue(UserXattrs.supported(tmp), "the file system of @TempDir does not take user xattrs");
        OutputStore store =
                new OutputStore(tmp.resolve("out"), tmp.resolve("staging"), OnConflict.FAIL, Durability.NONE);
        String path = "example.com/a.bin";
        Publish first = store.beginPublish(staged(store, 1, "one"), path, URL, FileMeta.NONE);
        Publish second = store.beginPublish(staged(store, 2, "two"), path, OTHER, FileMeta.NONE);
        Publish again = store.beginPublish(staged(store, 3, "one, again"), path, URL, FileMeta.NONE);

        var ends = List.of(store.prepare(again), store.prepare(second), store.prepare(first));
        for (var end : ends) {
            end.get(1, TimeUnit.MINUTES);
        }

        Path target = store.completePublish(first);
        assertThatThrownBy(() -> store.completePublish(second))
                .as("another URL, after the first one's file is in place")
                .isInstanceOf(PathConflictException.class)
                .hasMessageContaining("written for " + URL);
        store.completePublish(again);
        assertThat(target).as("the same URL replaces its own file, later wins").hasContent("one, again");
    }

    /**
     * The owner of a path publishing again while another URL's publish for that path is still being prepared: that
     * publish fails (the path is not its own) and must not turn the owner away. It did when a publish in flight
     * reserved its path for its URL outright (FetchOperatorTest.distinctUrlsNeverOverwriteEachOthersFiles failed so
     * under load), with and without checkpoints.
     */
    @Test
    void aStrangersPublishInFlightDoesNotTurnThePathsOwnerAway() throws Exception {
        assumeTrue(UserXattrs.supported(tmp), "the file system of @TempDir does not take user xattrs");
        for (boolean checkpoints : new boolean[] {false, true}) {
            Path dir = Files.createDirectories(tmp.resolve("checkpoints-" + checkpoints));
            OutputStore store =
                    new OutputStore(dir.resolve("out"), dir.resolve("staging"), OnConflict.FAIL, Durability.NONE);
            store.publishAtCommit("job-0", "s0-a0", checkpoints);
            String path = "example.com/a.bin";
            Publish owner = store.beginPublish(staged(store, 1, "one"), path, URL, FileMeta.NONE);
            store.prepare(owner).get(1, TimeUnit.MINUTES);
            store.completePublish(owner);
            store.sealPublishes(1);
            store.committed(1);
            assertThat(store.outDir().resolve(path)).hasContent("one");

            Publish stranger = store.beginPublish(staged(store, 2, "two"), path, OTHER, FileMeta.NONE);
            Publish again = store.beginPublish(staged(store, 3, "one, again"), path, URL, FileMeta.NONE);
            var againEnd = store.prepare(again);
            store.prepare(stranger).get(1, TimeUnit.MINUTES);
            againEnd.get(1, TimeUnit.MINUTES);

            assertThatThrownBy(() -> store.completePublish(stranger))
                    .as("checkpoints %s", checkpoints)
                    .isInstanceOf(PathConflictException.class)
                    .hasMessageContaining("written for " + URL);
            store.completePublish(again);
            store.sealPublishes(2);
            store.committed(2);
            assertThat(store.outDir().resolve(path)).as("checkpoints %s", checkpoints).hasContent("one, again");
        }
    }

    /**
     * With checkpoints, another URL's publish still being prepared decides a later one only if it stages its file:
     * the later one then fails as it would once that file is in place; one that fails frees the path.
     */
    @Test
    void withCheckpointsARivalDecidesOnlyIfItStagesItsFile() throws Exception {
        OutputStore store = withCheckpoints();
        Path doomed = Files.createDirectories(store.stagingFile("example.com", 1, 0)); // not a regular file
        Publish failing = store.beginPublish(doomed, "example.com/a.bin", URL, FileMeta.NONE);
        Publish taker = store.beginPublish(staged(store, 2, "two"), "example.com/a.bin", OTHER, FileMeta.NONE);
        Publish first = store.beginPublish(staged(store, 3, "b"), "example.com/b.bin", URL, FileMeta.NONE);
        Publish late = store.beginPublish(staged(store, 4, "b2"), "example.com/b.bin", OTHER, FileMeta.NONE);
        var ends = List.of(store.prepare(late), store.prepare(taker), store.prepare(first), store.prepare(failing));
        for (var end : ends) {
            end.get(1, TimeUnit.MINUTES);
        }

        assertThatThrownBy(() -> store.completePublish(failing)).hasMessageContaining("not a regular file");
        store.completePublish(taker);
        store.completePublish(first);
        assertThatThrownBy(() -> store.completePublish(late))
                .isInstanceOf(PathConflictException.class)
                .hasMessageContaining("reserved for " + URL + ", whose file appears with the next checkpoint");
        assertThatThrownBy(() -> store.beginPublish(staged(store, 5, "x"), "example.com/b.bin", OTHER, FileMeta.NONE))
                .as("a staged file of another URL: a conflict at once")
                .isInstanceOf(PathConflictException.class);
        store.sealPublishes(1);
        store.committed(1);
        assertThat(store.outDir().resolve("example.com/a.bin")).hasContent("two");
        assertThat(store.outDir().resolve("example.com/b.bin")).hasContent("b");
    }

    @Test
    void anAbandonedPublishGivesItsPathBack() throws Exception {
        OutputStore store = withCheckpoints();
        Publish abandoned = store.beginPublish(staged(store, 1, "x"), "example.com/b.bin", URL, FileMeta.NONE);
        Publish next = store.beginPublish(staged(store, 2, "y"), "example.com/b.bin", OTHER, FileMeta.NONE);
        store.abandonPublish(abandoned); // its file work never started
        store.prepare(next).get(1, TimeUnit.MINUTES);
        store.completePublish(next);
        store.sealPublishes(1);
        store.committed(1);
        assertThat(store.outDir().resolve("example.com/b.bin")).hasContent("y");
    }

    private OutputStore withCheckpoints() throws Exception {
        assumeTrue(UserXattrs.supported(tmp), "the file system of @TempDir does not take user xattrs");
        OutputStore store =
                new OutputStore(tmp.resolve("out"), tmp.resolve("staging"), OnConflict.FAIL, Durability.NONE);
        store.publishAtCommit("job-0", "s0-a0", true);
        return store;
    }

    private static Path staged(OutputStore store, long seq, String content) throws Exception {
        return Files.writeString(store.stagingFile("example.com", seq, 0), content);
    }
}
