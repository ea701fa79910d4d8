package io.flowget.udf.storage;

import io.flowget.udf.config.FlowgetOptions.Durability;

import org.apache.flink.annotation.Internal;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Makes durable, at once, every file and directory changed since the previous commit: under {@link
 * Durability#CHECKPOINT}, {@link #syncPending()} fsyncs each path passed to {@link #markDirty(Path)} since its
 * last call, in the order first marked, so that a result committed with the checkpoint names a durable file;
 * under {@link Durability#NONE} nothing is recorded and nothing is synced (a process crash loses nothing
 * either way: the page cache survives it).
 *
 * <p>This is the committer half of the storage (Iceberg's files committer): it never writes bytes, it only
 * decides when written ones must reach the disk. {@link FilePublisher} and the fetch operator's chunk writes
 * feed it.
 *
 * <p>Not thread-safe: owned by one fetch subtask's task thread, which marks paths while processing and calls
 * {@link #syncPending()} while the operator snapshots.
 */
@Internal
final class GroupCommit {
    private final Durability durability;
    private final Set<Path> pending = new LinkedHashSet<>();

    GroupCommit(Durability durability) {
        this.durability = durability;
    }

    /** Records that a file or directory changed, so the next commit fsyncs it; a no-op unless CHECKPOINT. */
    void markDirty(Path path) {
        if (durability == Durability.CHECKPOINT) {
            pending.add(path);
        }
    }

    /** Number of files and directories waiting for the next commit. */
    int pendingCount() {
        return pending.size();
    }

    /**
     * The group commit: fsyncs everything marked since the last call and forgets it. A path that no longer
     * exists is skipped: it was replaced or deleted since, and its successor was marked too.
     */
    void syncPending() throws IOException {
        if (pending.isEmpty()) {
            return;
        }
        List<Path> paths = new ArrayList<>(pending);
        pending.clear();
        for (Path p : paths) {
            try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
                ch.force(true);
            } catch (NoSuchFileException gone) {
                // replaced or deleted since: its successor is in the list too
            }
        }
    }
}
