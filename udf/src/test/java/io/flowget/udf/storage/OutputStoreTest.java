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
import java.util.Map;

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
     * files on one path must be decided when their publishes begin, not by which rename lands last (both would pass
     * the ownership check on an empty path, and the second rename would silently replace the first URL's file).
     */
    @Test
    void withoutCheckpointsTwoUrlsOnOnePathAreDecidedWhenTheirPublishesBegin() throws Exception {
        assumeTrue(UserXattrs.supported(tmp), "the file system of @TempDir does not take user xattrs");
        OutputStore store =
                new OutputStore(tmp.resolve("out"), tmp.resolve("staging"), OnConflict.FAIL, Durability.NONE);
        String path = "example.com/a.bin";
        Path one = Files.writeString(store.stagingFile("example.com", 1, 0), "one");
        Path two = Files.writeString(store.stagingFile("example.com", 2, 0), "two");
        Path again = Files.writeString(store.stagingFile("example.com", 3, 0), "one, again");

        Publish first = store.beginPublish(one, path, URL, FileMeta.NONE);
        assertThatThrownBy(() -> store.beginPublish(two, path, OTHER, FileMeta.NONE))
                .as("another URL, while the first file is on its way")
                .isInstanceOf(PathConflictException.class)
                .hasMessageContaining("reserved for " + URL);
        Publish same = store.beginPublish(again, path, URL, FileMeta.NONE); // the same URL replaces its own file
        // The pool may end them in either order.
        store.prepare(same).get();
        store.prepare(first).get();
        store.completePublish(same);
        Path target = store.completePublish(first);

        assertThat(target).hasContent("one");
        assertThatThrownBy(() -> store.publish(two, path, OTHER))
                .as("nothing on its way: the file's owner decides")
                .isInstanceOf(PathConflictException.class)
                .hasMessageContaining("written for " + URL);

        Publish abandoned = store.beginPublish(Files.writeString(store.stagingFile("example.com", 4, 0), "x"),
                "example.com/b.bin", URL, FileMeta.NONE);
        store.abandonPublish(abandoned);
        Publish other = store.beginPublish(two, "example.com/b.bin", OTHER, FileMeta.NONE);
        assertThat(other.target()).as("an abandoned publish gives its path back").isEqualTo(
                store.resolve("example.com/b.bin"));
    }
}
