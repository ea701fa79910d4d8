package io.flowget.udf.storage;

import io.flowget.udf.config.FlowgetOptions.Durability;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class GroupCommitTest {

    @TempDir Path tmp;

    @ParameterizedTest(name = "{0}: {1} pending")
    @CsvSource({"CHECKPOINT, 2", "NONE, 0"})
    void recordsEachPathOnceUnderCheckpointOnlyAndSyncEmptiesTheSet(Durability durability, int expected)
            throws Exception {
        GroupCommit commit = new GroupCommit(durability);
        Path file = Files.writeString(tmp.resolve("f"), "x");

        commit.markDirty(file);
        commit.markDirty(tmp);
        commit.markDirty(file);

        assertThat(commit.pendingCount()).isEqualTo(expected);
        commit.syncPending();
        assertThat(commit.pendingCount()).isZero();
    }

    @Test
    void aPathGoneSinceItWasMarkedIsSkipped() throws Exception {
        Path gone = Files.writeString(tmp.resolve("f"), "x");
        GroupCommit commit = checkpointCommitOf(gone, Files.writeString(tmp.resolve("g"), "y"));
        Files.delete(gone);

        assertThatCode(commit::syncPending).doesNotThrowAnyException();
        assertThat(commit.pendingCount()).isZero();
    }

    @Test
    void aPathThatCannotBeOpenedFailsTheCommit() throws Exception {
        Path file = Files.writeString(tmp.resolve("f"), "x");
        GroupCommit commit = checkpointCommitOf(file.resolve("child")); // ENOTDIR, not a vanished file

        assertThatThrownBy(commit::syncPending).isInstanceOf(IOException.class);
    }

    @Test
    void manyPathsAreSyncedInSharesAndAFailureInAnyShareFailsTheCommit() throws Exception {
        Path[] files = new Path[40];
        for (int i = 0; i < files.length; i++) {
            files[i] = Files.writeString(tmp.resolve("f" + i), "x" + i);
        }
        GroupCommit ok = checkpointCommitOf(files);
        assertThatCode(ok::syncPending).doesNotThrowAnyException();
        assertThat(ok.pendingCount()).isZero();

        // the last path falls into the last share, which a pool thread runs, not the caller
        Path[] withBad = Arrays.copyOf(files, files.length + 1);
        withBad[files.length] = files[0].resolve("child"); // ENOTDIR
        GroupCommit bad = checkpointCommitOf(withBad);
        assertThatThrownBy(bad::syncPending).isInstanceOf(IOException.class).hasMessageContaining("child");
        assertThat(bad.pendingCount()).isZero();
    }

    private static GroupCommit checkpointCommitOf(Path... dirty) {
        GroupCommit commit = new GroupCommit(Durability.CHECKPOINT);
        for (Path p : dirty) {
            commit.markDirty(p);
        }
        return commit;
    }
}
