package io.flowget.udf.storage;

import io.flowget.udf.config.FlowgetOptions.Durability;
import io.flowget.udf.config.FlowgetOptions.OnConflict;
import io.flowget.udf.storage.OutputStore.FileMeta;
import io.flowget.udf.storage.OutputStore.RecordedFile;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The facade wires its parts together: one request's staging, publish, group commit and conditional lookup. */
class OutputStoreTest {

    private static final String URL = "https://example.com/a.bin";

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
}
