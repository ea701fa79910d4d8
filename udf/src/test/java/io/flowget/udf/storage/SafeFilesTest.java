package io.flowget.udf.storage;

import io.flowget.udf.config.FlowgetOptions.Durability;
import io.flowget.udf.config.FlowgetOptions.OnConflict;
import io.flowget.udf.storage.OutputStore.FileMeta;
import io.flowget.udf.storage.OutputStore.PathConflictException;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Nothing is written through a symbolic link: links planted at every level under {@code --out} and in the staging
 * directory, on real files. Each case checks that the file outside stays untouched and nothing new appears there.
 */
class SafeFilesTest {
    @TempDir Path tmp;

    @Test
    void stagingFileIsCreatedAnewInsteadOfWritingThroughAPlantedLink() throws Exception {
        Path victim = victim("precious");
        Path staging = Files.createDirectories(tmp.resolve("staging")).resolve("abc-1-g0.part");
        Files.createSymbolicLink(staging, victim);

        try (FileChannel ch = SafeFiles.createExclusive(staging)) {
            ch.write(ByteBuffer.wrap("body".getBytes(StandardCharsets.UTF_8)));
        }

        assertThat(victim).hasContent("precious");
        assertThat(Files.isSymbolicLink(staging)).isFalse();
        assertThat(staging).hasContent("body");
    }

    @Test
    void aStagingFileAnEarlierAttemptLeftIsReplacedByANewOne() throws Exception {
        Path staging = Files.createDirectories(tmp.resolve("staging")).resolve("abc-1-g0.part");
        Files.writeString(staging, "the earlier attempt's longer body");

        try (FileChannel ch = SafeFiles.createExclusive(staging)) {
            ch.write(ByteBuffer.wrap("body".getBytes(StandardCharsets.UTF_8)));
        }

        assertThat(staging).as("nothing of the old body left").hasContent("body");
        Path fresh = tmp.resolve("staging/fresh.part");
        try (FileChannel ch = SafeFiles.createExclusive(fresh)) {
            ch.write(ByteBuffer.wrap("new".getBytes(StandardCharsets.UTF_8)));
        }
        assertThat(fresh).hasContent("new");
    }

    @Test
    void chunkWritesAndPresizeRefuseALinkInPlaceOfTheStagingFile() throws Exception {
        Path victim = victim("precious");
        Path staging = Files.createDirectories(tmp.resolve("staging")).resolve("abc-1-g0.part");
        Files.createSymbolicLink(staging, victim);

        assertThatThrownBy(() -> SafeFiles.openExisting(staging)).isInstanceOf(java.io.IOException.class);
        assertThatThrownBy(() -> SafeFiles.presize(staging, 1 << 20)).isInstanceOf(java.io.IOException.class);
        assertThat(victim).hasContent("precious");

        Path real = tmp.resolve("staging/real.part");
        Files.writeString(real, "ab");
        SafeFiles.presize(real, 10);
        assertThat(Files.size(real)).isEqualTo(10);
        assertThat(Files.readString(real)).startsWith("ab");
    }

    @Test
    void publishRefusesALinkAtEveryDirectoryLevelAndWritesNothingOutside() throws Exception {
        for (String level : new String[] {"a", "a/b", "a/b/c"}) {
            Path out = Files.createDirectories(tmp.resolve("out-" + level.length()));
            Path outside = Files.createDirectories(tmp.resolve("outside-" + level.length()));
            Path link = out.resolve(level);
            Files.createDirectories(link.getParent());
            Files.createSymbolicLink(link, outside);
            FilePublisher publisher = new FilePublisher(out, OnConflict.REPLACE, new GroupCommit(Durability.NONE));
            Path staging = staged("body");

            assertThatThrownBy(() -> publisher.publish(staging, "a/b/c/d/file.txt", "http://x/", FileMeta.NONE))
                    .isInstanceOf(SafeFiles.UnsafePathException.class)
                    .hasMessage("path conflict: a/b/c/d/file.txt (" + level + " is a symbolic link)");
            try (var listing = Files.walk(outside)) {
                assertThat(listing.count()).as("nothing created outside (level %s)", level).isEqualTo(1);
            }
            assertThat(staging).as("the staging file stays for the caller to discard").exists();
        }
    }

    @Test
    void aLinkAtTheFinalPathIsAConflictOrReplacedButNeverWrittenThrough() throws Exception {
        Path victim = victim("precious");
        Path out = Files.createDirectories(tmp.resolve("out"));
        Files.createDirectories(out.resolve("a"));
        Files.createSymbolicLink(out.resolve("a/file.txt"), victim);

        FilePublisher strict = new FilePublisher(out, OnConflict.FAIL, new GroupCommit(Durability.NONE));
        assertThatThrownBy(() -> strict.publish(staged("body"), "a/file.txt", "http://x/", FileMeta.NONE))
                .isInstanceOf(PathConflictException.class)
                .hasMessage("path conflict: a/file.txt (it is a symbolic link)");
        assertThat(victim).hasContent("precious");

        FilePublisher replacing = new FilePublisher(out, OnConflict.REPLACE, new GroupCommit(Durability.NONE));
        Path target = replacing.publish(staged("body"), "a/file.txt", "http://x/", FileMeta.NONE);
        assertThat(Files.isSymbolicLink(target)).as("the rename replaced the link itself").isFalse();
        assertThat(target).hasContent("body");
        assertThat(victim).hasContent("precious");
    }

    @Test
    void aRecordIsNeverReadThroughALinkedDirectory() throws Exception {
        Path outside = Files.createDirectories(tmp.resolve("outside"));
        Files.writeString(outside.resolve("file.txt"), "x");
        Path out = Files.createDirectories(tmp.resolve("out"));
        Files.createSymbolicLink(out.resolve("a"), outside);
        OutputStore store = new OutputStore(out, tmp.resolve("staging"), OnConflict.FAIL, Durability.NONE);

        assertThat(SafeFiles.noLinksBelow(out, out.resolve("a"))).isFalse();
        assertThat(SafeFiles.noLinksBelow(out, out.resolve("b/c"))).isTrue();
        assertThat(store.recorded("a/file.txt", "http://x/")).isNull();
    }

    private Path victim(String content) throws Exception {
        Path victim = Files.createDirectories(tmp.resolve("victim")).resolve("file-" + System.nanoTime());
        Files.writeString(victim, content);
        return victim;
    }

    private Path staged(String content) throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("staged"));
        Path f = dir.resolve("s-" + System.nanoTime() + ".part");
        Files.writeString(f, content);
        return f;
    }
}
