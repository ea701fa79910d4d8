package io.flowget.udf.storage;

import io.flowget.udf.config.FlowgetOptions.Durability;
import io.flowget.udf.config.FlowgetOptions.OnConflict;
import io.flowget.udf.storage.OutputStore.FileMeta;
import io.flowget.udf.storage.OutputStore.PathConflictException;
import io.flowget.udf.storage.OutputStore.RecordedFile;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class FilePublisherTest {

    private static final String URL = "https://example.com/a/b.txt";
    private static final String OTHER = "https://example.com/other";

    @TempDir Path tmp;

    @Test
    void movesTheStagingFileIntoPlaceCreatingParents() throws Exception {
        FilePublisher publisher = publisher(OnConflict.FAIL, new GroupCommit(Durability.NONE));
        Path staging = staged("body");

        Path target = publisher.publish(staging, "a/b/c.txt", URL, FileMeta.NONE);

        assertThat(target).isEqualTo(publisher.outDir().resolve("a/b/c.txt")).hasContent("body");
        assertThat(staging).doesNotExist();
    }

    @Test
    void recordsOwnerAndMetaBeforeTheRename() throws Exception {
        assumeXattrs();
        FilePublisher publisher = publisher(OnConflict.FAIL, new GroupCommit(Durability.NONE));
        FileMeta meta = new FileMeta("\"e\"", null, "ab".repeat(32), null);

        Path target = publisher.publish(staged("body"), "a.txt", URL, meta);

        assertThat(FileMetadata.readOwner(target)).isEqualTo(URL);
        assertThat(FileMetadata.recorded(target, URL))
                .isEqualTo(new RecordedFile(4, meta.sha256(), null, meta.etag(), null));
    }

    @Test
    void theSameUrlReplacesItsOwnFile() throws Exception {
        assumeXattrs();
        FilePublisher publisher = publisher(OnConflict.FAIL, new GroupCommit(Durability.NONE));
        publisher.publish(staged("v1"), "a.txt", URL, FileMeta.NONE);

        Path target = publisher.publish(staged("v2"), "a.txt", URL, FileMeta.NONE);

        assertThat(target).hasContent("v2");
    }

    @Test
    void anotherUrlsFileIsAPathConflict() throws Exception {
        assumeXattrs();
        FilePublisher publisher = publisher(OnConflict.FAIL, new GroupCommit(Durability.NONE));
        Path target = publisher.publish(staged("theirs"), "a.txt", OTHER, FileMeta.NONE);
        Path staging = staged("mine");

        assertThatThrownBy(() -> publisher.publish(staging, "a.txt", URL, FileMeta.NONE))
                .isInstanceOf(PathConflictException.class)
                .hasMessage("path conflict: a.txt (it was written for " + OTHER + ")");
        assertThat(target).hasContent("theirs");
        assertThat(staging).as("left for the caller to discard").exists();
    }

    @Test
    void aFileFlowgetDidNotWriteIsAPathConflict() throws Exception {
        FilePublisher publisher = publisher(OnConflict.FAIL, new GroupCommit(Durability.NONE));
        Path foreign = Files.writeString(publisher.outDir().resolve("a.txt"), "by hand");

        assertThatThrownBy(() -> publisher.publish(staged("mine"), "a.txt", URL, FileMeta.NONE))
                .isInstanceOf(PathConflictException.class)
                .hasMessage("path conflict: a.txt (it exists and was not written by flowget)");
        assertThat(foreign).hasContent("by hand");
    }

    @Test
    void replacePolicyOverwritesAnyFile() throws Exception {
        FilePublisher publisher = publisher(OnConflict.REPLACE, new GroupCommit(Durability.NONE));
        Files.writeString(publisher.outDir().resolve("a.txt"), "by hand");

        Path target = publisher.publish(staged("mine"), "a.txt", URL, FileMeta.NONE);

        assertThat(target).hasContent("mine");
    }

    @Test
    void aDirectoryOrAFileParentIsAPathConflictEvenUnderReplace() throws Exception {
        FilePublisher publisher = publisher(OnConflict.REPLACE, new GroupCommit(Durability.NONE));
        Files.createDirectories(publisher.outDir().resolve("dir"));
        Files.writeString(publisher.outDir().resolve("file"), "x");

        assertThatThrownBy(() -> publisher.publish(staged("a"), "dir", URL, FileMeta.NONE))
                .isInstanceOf(PathConflictException.class)
                .hasMessage("path conflict: dir (it is a directory)");
        assertThatThrownBy(() -> publisher.publish(staged("b"), "file/x.txt", URL, FileMeta.NONE))
                .isInstanceOf(PathConflictException.class)
                .hasMessage("path conflict: file/x.txt (a parent of it is a file)");
    }

    @Test
    void aPathEscapingTheOutputDirectoryIsRefused() throws Exception {
        FilePublisher publisher = publisher(OnConflict.REPLACE, new GroupCommit(Durability.NONE));
        Path staging = staged("a");

        assertThatThrownBy(() -> publisher.resolve("../escape.txt"))
                .isInstanceOf(IOException.class)
                .isNotInstanceOf(PathConflictException.class);
        assertThatThrownBy(() -> publisher.publish(staging, "../escape.txt", URL, FileMeta.NONE))
                .isInstanceOf(IOException.class);
        assertThat(tmp.resolve("escape.txt")).doesNotExist();
        assertThat(staging).exists();
    }

    @Test
    void marksTheFileAndEveryChangedDirectoryForTheGroupCommit() throws Exception {
        GroupCommit commit = new GroupCommit(Durability.CHECKPOINT);
        FilePublisher publisher = publisher(OnConflict.FAIL, commit);

        publisher.publish(staged("body"), "a/b/c.txt", URL, FileMeta.NONE);

        // out (gained a), a (gained b), b (gained c.txt), c.txt
        assertThat(commit.pendingCount()).isEqualTo(4);
        commit.syncPending();
        publisher.publish(staged("more"), "a/b/d.txt", URL, FileMeta.NONE);
        // only d.txt and b: a and out did not change
        assertThat(commit.pendingCount()).isEqualTo(2);
    }

    private FilePublisher publisher(OnConflict onConflict, GroupCommit commit) throws IOException {
        return new FilePublisher(tmp.resolve("out"), onConflict, commit);
    }

    private Path staged(String content) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("staging"));
        return Files.writeString(Files.createTempFile(dir, "s", ".part"), content);
    }

    private void assumeXattrs() {
        assumeTrue(UserXattrs.supported(tmp), "the file system of @TempDir does not take user xattrs");
    }
}
