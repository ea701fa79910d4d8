package io.flowget.job;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/** Deleting a tree of flowget's own on a real file system. */
class FileTreesTest {
    @TempDir Path tmp;

    @Test
    void deletesATreeAndRemovesLinksWithoutFollowingThem() throws Exception {
        Path outside = Files.createDirectories(tmp.resolve("outside"));
        Path kept = Files.writeString(outside.resolve("kept.txt"), "kept");
        Path root = Files.createDirectories(tmp.resolve("root/a/b"));
        Files.writeString(root.resolve("f.txt"), "x");
        Files.writeString(tmp.resolve("root/top.txt"), "y");
        Files.createSymbolicLink(tmp.resolve("root/a/link"), outside);

        FileTrees.delete(tmp.resolve("root"));

        assertThat(tmp.resolve("root")).doesNotExist();
        assertThat(kept).hasContent("kept");
        FileTrees.delete(tmp.resolve("root")); // nothing there: nothing to do
        FileTrees.delete(kept);
        assertThat(kept).doesNotExist();
    }
}
