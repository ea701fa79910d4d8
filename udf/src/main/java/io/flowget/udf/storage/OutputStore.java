package io.flowget.udf.storage;

import io.flowget.udf.config.FlowgetOptions.Durability;
import io.flowget.udf.config.FlowgetOptions.OnConflict;

import org.apache.flink.annotation.Internal;

import java.io.IOException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;

/**
 * The output directory and its staging area, as one object for the fetch operator: where partial bodies are
 * written, how a finished one becomes visible, who owns a final path, and the group commit that makes finished
 * files durable. It only wires and delegates; each concern is its own class, split the way Iceberg splits its
 * stream writer from its files committer:
 *
 * <ul>
 *   <li>{@link StagingArea}: staging file names (persisted format), discarding them, and the start-up sweep of
 *       files no restored download owns (per key-group namespaces);
 *   <li>{@link FilePublisher}: the atomic publish into {@code --out} and the ownership rule ({@code
 *       user.flowget.url}; a file of another URL is a {@link PathConflictException} unless {@code
 *       flowget.storage.on-conflict} is REPLACE);
 *   <li>{@link FileMetadata}: the {@code user.flowget.*} extended attributes, that is the owner, the recorded
 *       validators and digests, and the stamp behind {@link #recorded(String, String)};
 *   <li>{@link PublishAtCommit}: with checkpoints, {@link #publish} only stages a file; it becomes visible when the
 *       checkpoint that commits its result completes (issue 15);
 *   <li>{@link GroupCommit}: under {@link Durability#CHECKPOINT}, {@link #syncPending()} (called while the
 *       operator snapshots) fsyncs every file finished since the previous call and their directories, so that
 *       a result committed with the checkpoint names a durable file.
 * </ul>
 *
 * <p>The value types callers exchange with the store ({@link FileMeta}, {@link RecordedFile}, {@link
 * PathConflictException}) are nested here, where callers name them.
 *
 * <p><b>Threads (issue 16, "the task thread only decides").</b> A publish is three steps: {@link #beginPublish}
 * (task thread: reservations, names), {@link #prepare} (the file work, on the {@link StoragePool}) and {@link
 * #completePublish} (task thread, in the completion mail: the group commit's marks, the entry for the barrier); the
 * commit's renames run on the pool too ({@link #committedAsync}). {@link #publish} does all three on the calling
 * thread.
 *
 * <p>Not thread-safe: owned by one fetch subtask's task thread, as are the parts it creates; only the work
 * {@link #prepare} and {@link #committedAsync} hand to the pool runs elsewhere.
 */
@Internal
public final class OutputStore {
    private final GroupCommit commit;
    private final FilePublisher publisher;
    private final StagingArea stagingArea;
    private final OnConflict onConflict;
    private PublishAtCommit atCommit;
    /** False: {@link #publish} renames at once (no checkpoints, so no commit to wait for). */
    private boolean stageOnPublish;
    /** Without checkpoints: the final paths whose file work is on the pool (with checkpoints, atCommit's). */
    private final PathReservations publishing = new PathReservations();

    /** Creates {@code outDir} and {@code stagingDir} if needed. */
    public OutputStore(Path outDir, Path stagingDir, OnConflict onConflict, Durability durability)
            throws IOException {
        this.commit = new GroupCommit(durability);
        this.publisher = new FilePublisher(outDir, onConflict, commit);
        this.stagingArea = new StagingArea(stagingDir);
        this.onConflict = onConflict;
    }

    /**
     * Sets up publishing with the commit ({@link PublishAtCommit}): with {@code checkpoints}, from now on
     * {@link #publish} stages files and they become visible when the checkpoint that commits their results
     * completes ({@link #sealPublishes}, {@link #committed}); without, files are renamed at once as before, and
     * only {@link #restorePublishes} applies what a restored state still holds.
     *
     * @param incarnation the same for all subtasks of one (re)start of the job, different after a restore from a
     *     newer checkpoint
     * @param uniqueName unique among the subtasks and attempts of one incarnation
     */
    public void publishAtCommit(String incarnation, String uniqueName, boolean checkpoints) {
        atCommit = new PublishAtCommit(publisher, commit, onConflict, stagingArea.dir(), incarnation, uniqueName);
        stageOnPublish = checkpoints;
    }

    public Path outDir() {
        return publisher.outDir();
    }

    public Path stagingDir() {
        return stagingArea.dir();
    }

    /**
     * Names download staging files in the namespace of their host's key group from now on
     * ({@link StagingArea#namespaceByKeyGroup}); the fetch operator calls it before naming any.
     */
    public void namespaceStagingByKeyGroup(int maxParallelism) {
        stagingArea.namespaceByKeyGroup(maxParallelism);
    }

    /**
     * Deletes the staging files of key groups {@code [first, last]} that are not in {@code keep}; see
     * {@link StagingArea#sweep}. Returns how many were deleted.
     */
    public int sweepStaging(int firstKeyGroup, int lastKeyGroup, java.util.Collection<Path> keep) throws IOException {
        return stagingArea.sweep(firstKeyGroup, lastKeyGroup, keep);
    }

    /** The staging file of a host's request; see {@link StagingArea#file(String, long, int)}. */
    public Path stagingFile(String host, long seq, int generation) {
        return stagingArea.file(host, seq, generation);
    }

    /** The staging file of a download with a unique id; see {@link StagingArea#file(String, long, long, int)}. */
    public Path stagingFile(String host, long downloadId, long seq, int generation) {
        return stagingArea.file(host, downloadId, seq, generation);
    }

    /** Records that a staging file received chunk bytes, so the next group commit fsyncs it. */
    public void markDirty(Path staging) {
        commit.markDirty(staging);
    }

    /** Resolves a relative output path inside the output directory, refusing anything that would escape it. */
    public Path resolve(String relative) throws IOException {
        return publisher.resolve(relative);
    }

    /**
     * Moves a complete staging file to its final path atomically, recording only its URL.
     *
     * @throws PathConflictException when the path belongs to somebody else (see the ownership rule)
     */
    public Path publish(Path staging, String relative, String url) throws IOException {
        return publish(staging, relative, url, FileMeta.NONE);
    }

    /**
     * Moves a complete staging file to its final path atomically, recording its URL and {@code meta} in
     * extended attributes (see {@link FilePublisher}); all on the calling thread ({@link #beginPublish},
     * {@link #prepareNow}, {@link #completePublish}).
     *
     * @throws PathConflictException when the path belongs to somebody else (see the ownership rule)
     */
    public Path publish(Path staging, String relative, String url, FileMeta meta) throws IOException {
        Publish p = beginPublish(staging, relative, url, meta);
        prepareNow(p);
        return completePublish(p);
    }

    /**
     * The task thread's first step of a publish: decides what needs no file (the path resolves inside {@code --out};
     * its place among the publishes on that path, see {@link PathReservations}; with checkpoints, a file of another
     * URL staged there, see {@link PublishAtCommit#begin}) and returns the publish to {@link #prepare} off the task
     * thread. Touches no file.
     *
     * @throws PathConflictException with checkpoints, when a file of another URL is staged for the path
     */
    public Publish beginPublish(Path staging, String relative, String url, FileMeta meta) throws IOException {
        if (stageOnPublish) {
            return atCommit.begin(staging, relative, url, meta);
        }
        Publish p = new Publish(staging, relative, url, meta, publisher.resolve(relative), null);
        publishing.take(p, onConflict, "whose file is being moved into place"); // nothing is staged: no conflict yet
        return p;
    }

    /**
     * The file work of a publish on the {@link StoragePool}: the ownership check (an lstat per directory on the way,
     * creating missing ones), the metadata attribute, and the rename (into the ready folder, or with no checkpoints
     * into place). It starts when the file work of the publishes that began before it on its path has ended (see
     * {@link PathReservations}). The future completes, never exceptionally, when that work has ended; then {@link
     * #completePublish} or {@link #abandonPublish} must follow on the task thread.
     */
    public CompletableFuture<Publish> prepare(Publish p) {
        CompletableFuture<Void> before = p.after == null ? CompletableFuture.completedFuture(null) : p.after;
        return before.handleAsync((ignored, never) -> {
            prepareNow(p);
            return p;
        }, StoragePool.executor()).handle((done, error) -> {
            if (error != null && p.failure == null) { // the pool refused the work: nothing was moved
                p.failure = new IOException("the storage pool refused the publish: " + error, error);
            }
            p.done.complete(null);
            return p;
        });
    }

    /** {@link #prepare}'s work on the calling thread. */
    void prepareNow(Publish p) {
        if (p.ready != null) {
            atCommit.prepare(p);
        } else {
            p.run(publisher, () -> publisher.move(p.staging, p.target, p.dirty::add));
        }
    }

    /**
     * The task thread's last step, after {@link #prepare}: marks what the publish changed for the group commit and,
     * with checkpoints, adds the file to those the next barrier assigns to its checkpoint. Returns the final path.
     *
     * @throws PathConflictException when the path belongs to somebody else (ownership rule, a link on the way)
     * @throws IOException when the file work failed
     */
    public Path completePublish(Publish p) throws IOException {
        p.done.complete(null); // already, unless the file work ran on the calling thread (prepareNow)
        if (p.ready != null) {
            atCommit.register(p);
        } else {
            publishing.drop(p);
            p.dirty.forEach(commit::markDirty);
            if (p.failure != null) {
                throw p.failure;
            }
        }
        return p.target;
    }

    /**
     * The request of {@code p} ended while its file was prepared (a deadline, a shutdown): on the task thread, frees
     * its path and deletes its ready file. Without checkpoints a file already renamed into place stays there.
     */
    public void abandonPublish(Publish p) {
        p.done.complete(null); // also when its file work never started: the next publish on its path goes on
        if (p.ready != null) {
            atCommit.abandon(p);
        } else {
            publishing.drop(p);
            p.dirty.forEach(commit::markDirty);
        }
    }

    /** The operator state of checkpoint {@code checkpointId}: files staged before its barrier and not yet applied. */
    public List<PendingPublish> sealPublishes(long checkpointId) {
        return atCommit == null ? List.of() : atCommit.seal(checkpointId);
    }

    /**
     * Checkpoint {@code checkpointId} completed: its files (and earlier ones') become visible, renamed on the calling
     * thread; returns how many.
     */
    public int committed(long checkpointId) {
        return atCommit == null ? 0 : atCommit.committed(checkpointId);
    }

    /**
     * {@link #committed} with the renames on the {@link StoragePool}; {@code taskThread} runs their end (see {@link
     * PublishAtCommit#committedAsync}). Returns how many renames were handed over.
     */
    public int committedAsync(long checkpointId, Executor taskThread) {
        return atCommit == null ? 0 : atCommit.committedAsync(checkpointId, StoragePool.executor(), taskThread);
    }

    /** Applies this subtask's share of restored pending publishes and deletes orphaned ready files. */
    public int restorePublishes(Iterable<PendingPublish> restored, int subtask, int parallelism) {
        return atCommit == null ? 0 : atCommit.restore(restored, subtask, parallelism);
    }

    /** Files staged and waiting for their checkpoint to complete. */
    public int pendingPublishes() {
        return atCommit == null ? 0 : atCommit.pendingCount();
    }

    /** Deletes a staging file that will not be published (failure, checksum mismatch). */
    public void discard(Path staging) {
        stagingArea.discard(staging);
    }

    /**
     * What was recorded when flowget published the file at {@code relative} for {@code url}, if that file is
     * still there unchanged and has validators (an ETag or a Last-Modified) and a SHA-256; else null (also for
     * a path outside {@code --out}). Reads a few extended attributes, never the file's bytes.
     */
    public RecordedFile recorded(String relative, String url) {
        Path target;
        try {
            target = publisher.resolve(relative);
        } catch (IOException e) {
            return null;
        }
        if (atCommit != null && atCommit.reserved(target)) {
            return null; // a newer file for this path waits for its checkpoint: the one there now is not current
        }
        if (!FileMetadata.mayExist(target)) {
            return null; // the common case of a fresh run: one stat, no exception, no walk up the directories
        }
        if (!SafeFiles.noLinksBelow(publisher.outDir(), target.getParent())) {
            return null; // a record read through a link would describe a file outside --out
        }
        return FileMetadata.recorded(target, url);
    }

    /** Number of files and directories waiting for the next group commit. */
    public int pendingSyncCount() {
        return commit.pendingCount();
    }

    /** The group commit: fsyncs everything published or marked dirty since the last call. */
    public void syncPending() throws IOException {
        commit.syncPending();
    }

    /**
     * What to record beside a published file: the response's validators and the stored bytes' digests. Any
     * field may be null.
     */
    public record FileMeta(String etag, String lastModified, String sha256, String blake3) {
        /** Nothing beyond the URL. */
        public static final FileMeta NONE = new FileMeta(null, null, null, null);
    }

    /**
     * A file flowget published earlier and that is unchanged since: its size, the digests of its bytes and
     * the validators of the response it came from ({@code etag} or {@code lastModified} may be null, not both).
     */
    public record RecordedFile(long bytes, String sha256, String blake3, String etag, String lastModified) {
        /** The request headers that ask the origin for a 304 while this version is current. */
        public Map<String, String> conditionalHeaders() {
            Map<String, String> h = new LinkedHashMap<>(2);
            if (etag != null) {
                h.put("If-None-Match", etag);
            }
            if (lastModified != null) {
                // RFC 9110 13.1.3: the recorded Last-Modified value, verbatim.
                h.put("If-Modified-Since", lastModified);
            }
            return h;
        }
    }

    /**
     * One publish between its steps ({@link #beginPublish}, {@link #prepare}, {@link #completePublish}): what it
     * publishes and where, and what the file work did. The pool thread writes the outcome fields, the task thread
     * reads them after the future completed (which orders the two).
     */
    public static final class Publish {
        final Path staging;
        final String relative;
        final String url;
        final FileMeta meta;
        /** The final path. */
        final Path target;
        /** The ready file, with checkpoints; null: renamed into place at once. */
        final Path ready;
        /** Directories and files the file work changed, for the group commit. */
        final List<Path> dirty = new ArrayList<>(4);
        /** The staging file was moved (to the ready folder or into place). */
        boolean moved;
        /** Why the file work failed; null if it did not. */
        IOException failure;
        /**
         * Completes when this publish's file work has ended, or it ended without any; the next publish on its path
         * starts its file work then (see {@link PathReservations}).
         */
        final CompletableFuture<Void> done = new CompletableFuture<>();
        /** The {@link #done} of the publish before this one on its path, if not done when this one began. */
        CompletableFuture<Void> after;
        /**
         * Publishes of other URLs on the same path whose file work had not ended when this one began; they are done
         * before this one's file work starts. With checkpoints, one of them that staged its file wins the path.
         */
        List<Publish> rivals = List.of();
        /**
         * Its request ended while the file work ran, so its ready file is deleted (with checkpoints). A later
         * publish that reads it only after it decided on the pool takes the conservative side: a conflict.
         */
        volatile boolean abandoned;

        Publish(Path staging, String relative, String url, FileMeta meta, Path target, Path ready) {
            this.staging = staging;
            this.relative = relative;
            this.url = url;
            this.meta = meta;
            this.target = target;
            this.ready = ready;
        }

        /**
         * The file work: the staging file's lstat (no file: nothing to publish, as when the body stored nothing; not
         * a regular file: refused), the ownership check, the label, then {@code move}. Never throws: a failure is
         * kept in {@link #failure}.
         */
        void run(FilePublisher publisher, MoveStep move) {
            try {
                BasicFileAttributes at = SafeFiles.attributes(staging);
                if (at == null) {
                    return;
                }
                if (!at.isRegularFile()) {
                    throw new IOException("staging file " + staging + " is not a regular file");
                }
                publisher.check(relative, url, dirty::add);
                publisher.label(staging, url, meta, at);
                move.run();
                moved = true;
            } catch (IOException e) {
                failure = e;
            } catch (RuntimeException e) {
                failure = new IOException(e.toString(), e);
            }
        }

        /** The final path (inside {@code --out}). */
        public Path target() {
            return target;
        }
    }

    /** The last step of {@link Publish#run}. */
    @FunctionalInterface
    interface MoveStep {
        void run() throws IOException;
    }

    /** The final path belongs to another URL or is not a regular file. */
    public static class PathConflictException extends IOException {
        public PathConflictException(String path, String why) {
            super("path conflict: " + path + " (" + why + ")");
        }
    }
}
