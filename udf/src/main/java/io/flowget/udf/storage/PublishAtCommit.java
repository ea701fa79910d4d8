package io.flowget.udf.storage;

import io.flowget.udf.config.FlowgetOptions.OnConflict;
import io.flowget.udf.storage.OutputStore.FileMeta;
import io.flowget.udf.storage.OutputStore.PathConflictException;

import org.apache.flink.annotation.Internal;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.NavigableMap;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.function.Consumer;

/**
 * Publish with the commit (issue 15): a finished file becomes visible at its path only once the checkpoint that
 * commits its result has completed, so {@code --out} never holds a file whose result a crash took back.
 *
 * <p><b>Protocol.</b> {@link #stage} runs where the file used to be published: it applies the ownership rule and the
 * reservations (below), labels the file (owner, validators, digests) and renames it from its staging name into
 * {@code <staging>/ready/<incarnation>/} under a unique name; the operator then emits the result. {@link #seal}
 * (from {@code snapshotState} of checkpoint {@code k}) assigns everything staged since the previous snapshot to
 * {@code k} and returns all entries not yet applied, which the operator keeps in its operator state
 * {@code pending-publishes}. {@link #committed}({@code k}) (from {@code notifyCheckpointComplete}) renames every
 * entry of checkpoints {@code <= k} to its final path. A completed checkpoint is the commit point of its results: the
 * Kafka sink commits their transaction in its own notification, and re-commits it after a restore from that
 * checkpoint, so the file and its result become visible together, in either order, and neither is ever taken back.
 *
 * <p><b>Restore.</b> Every entry in a restored state belongs to a completed checkpoint: {@link #restore} applies them
 * again, idempotently (a ready file that is gone was renamed already). The state is a union list, so every subtask
 * sees every entry: each applies its share (by hash), and all know which ready files are still referenced. Ready
 * files of earlier incarnations that no entry references belong to results a crash took back (their requests are
 * fetched again) and are deleted.
 *
 * <p><b>Reservations</b> ({@link PathReservations}). A staged path is reserved for its URL until its rename: a second
 * request of another URL for the same path inside one checkpoint interval FAILs with {@code path conflict} (as it
 * would once the file is there), decided by the reservation, not by which rename comes last; one of the same URL
 * replaces it (later wins), and {@link #reserved} tells conditional re-fetch not to trust the old file at that path.
 * Publishes on one path prepare one after another in the order they began, and one of another URL still being
 * prepared decides a later one only if it stages its file. Reservations are per
 * subtask; requests of different hosts may meet on one explicit {@code path} in different subtasks, which the
 * rename re-checks (a conflict found then is logged as an ERROR and the ready file kept, see {@link #apply}).
 *
 * <p><b>Threads (issue 16).</b> The task thread only decides: it reserves the path and names the ready file
 * ({@link #begin}), and later registers the entry ({@link #register}) or drops it ({@link #abandon}); the file work
 * between (ownership check with its lstat walk and directory creation, the label, the rename into the ready folder:
 * {@link #prepare}) runs on the {@link StoragePool}, and so do the commit's renames ({@link #committedAsync}), in
 * checkpoint order. Durability: ready files and their folder are marked for the group commit when they are
 * registered, before the barrier of the checkpoint that references them; a commit's renames are marked when they
 * have run ({@link #applied}), and only then does the next checkpoint stop referencing their entries, so it cannot
 * complete before they are durable.
 *
 * <p>Not thread-safe: owned by one fetch subtask's task thread; only {@link #prepare} and a batch's renames run on
 * pool threads, and they touch only the publish or batch they are given (and the ready folder's flag).
 */
@Internal
public final class PublishAtCommit {
    private static final Logger LOG = LoggerFactory.getLogger(PublishAtCommit.class);
    /** Folder under the staging directory that holds ready files, one subfolder per incarnation of the job. */
    public static final String READY_DIR = "ready";
    /** Why a staged file holds its path, for a conflict's message. */
    private static final String STAGED_HOLDS = "whose file appears with the next checkpoint";

    private final FilePublisher publisher;
    private final GroupCommit commit;
    private final OnConflict onConflict;
    private final Path stagingDir;
    private final Path readyRoot;
    private final Path readyDir;
    private final String namePrefix;
    private long counter;
    /** Set by the first publish that created the ready folder (on a pool thread). */
    private volatile boolean readyDirCreated;

    private List<PendingPublish> open = new ArrayList<>();
    private final TreeMap<Long, List<PendingPublish>> sealed = new TreeMap<>();
    private final PathReservations reservations = new PathReservations();
    /** Committed batches whose renames run on the pool; still in the operator state until {@link #applied}. */
    private final List<Batch> applying = new ArrayList<>();
    /** The last batch's renames: the next runs after it. */
    private CompletableFuture<Void> applyChain = CompletableFuture.completedFuture(null);

    /**
     * @param incarnation names this run of the job, the same for all its subtasks and different after every restore
     *     from a newer checkpoint (job id and restored checkpoint id)
     * @param uniqueName unique among the subtasks and attempts of one incarnation (subtask index and attempt)
     */
    PublishAtCommit(
            FilePublisher publisher,
            GroupCommit commit,
            OnConflict onConflict,
            Path stagingDir,
            String incarnation,
            String uniqueName) {
        this.publisher = publisher;
        this.commit = commit;
        this.onConflict = onConflict;
        this.stagingDir = stagingDir;
        this.readyRoot = stagingDir.resolve(READY_DIR);
        this.readyDir = readyRoot.resolve(incarnation);
        this.namePrefix = uniqueName;
    }

    /**
     * Checks that {@code url} may publish at {@code relative} (ownership rule and reservations), labels the
     * complete staging file and moves it to the ready folder; it becomes visible with the next checkpoint. All three
     * steps on the calling thread: {@link #begin}, {@link OutputStore#prepareNow} and {@link #register}.
     *
     * @throws PathConflictException when the path belongs or is reserved for somebody else
     */
    PendingPublish stage(Path staging, String relative, String url, FileMeta meta) throws IOException {
        OutputStore.Publish p = begin(staging, relative, url, meta);
        prepare(p);
        return register(p);
    }

    /**
     * The task thread's first step of a stage: the reservations (a file of another URL staged for the path is a
     * conflict at once; else the publish joins the path's queue, see {@link PathReservations}, so two publishes in
     * flight on the pool are decided in the order they began, not by the order they end in) and the ready file's
     * unique name. Touches no file.
     *
     * @throws PathConflictException when a file of another URL is staged for the path
     */
    OutputStore.Publish begin(Path staging, String relative, String url, FileMeta meta) throws IOException {
        Path target = publisher.resolve(relative);
        Path ready = readyDir.resolve(namePrefix + "-" + counter++ + ".ready");
        OutputStore.Publish p = new OutputStore.Publish(staging, relative, url, meta, target, ready);
        reservations.take(p, onConflict, STAGED_HOLDS);
        return p;
    }

    /**
     * The file work of a stage, on any thread (the storage pool): the ownership check (creating the directories on
     * the way), the label, and the rename into the ready folder. What fails is kept in {@code p} for {@link
     * #register}; the directories and files it changed are collected in {@code p} for the group commit.
     */
    void prepare(OutputStore.Publish p) {
        if (onConflict == OnConflict.FAIL) {
            for (OutputStore.Publish rival : p.rivals) { // their file work has ended (PathReservations)
                if (rival.moved && rival.failure == null && !rival.abandoned) {
                    p.failure = new PathConflictException(p.relative, "it is reserved for " + rival.url + ", "
                            + STAGED_HOLDS);
                    return;
                }
            }
        }
        p.run(publisher, () -> {
            if (!readyDirCreated) {
                Files.createDirectories(readyDir); // idempotent: two pool threads may both get here first
                p.dirty.add(readyDir.getParent());
                readyDirCreated = true;
            }
            Files.move(p.staging, p.ready, StandardCopyOption.ATOMIC_MOVE);
            p.dirty.add(p.ready);
            p.dirty.add(readyDir);
        });
    }

    /**
     * The task thread's last step: the prepared file is in the ready folder, labelled; it joins the entries of the
     * next barrier (so its result, emitted after this, is committed with that checkpoint or a later one).
     *
     * @return the entry, or null when there was no staging file to publish
     * @throws IOException what {@link #prepare} failed with (the reservation is released then)
     */
    PendingPublish register(OutputStore.Publish p) throws IOException {
        p.dirty.forEach(commit::markDirty);
        if (p.failure != null || !p.moved) {
            reservations.drop(p); // failed, or no staging file to publish (nothing is kept then)
            if (p.failure != null) {
                throw p.failure;
            }
            return null;
        }
        reservations.staged(p);
        PendingPublish entry = new PendingPublish(stagingDir.relativize(p.ready).toString(), p.relative, p.url);
        open.add(entry);
        return entry;
    }

    /** The request ended while its file was prepared: the reservation is released and the ready file deleted. */
    void abandon(OutputStore.Publish p) {
        p.abandoned = true; // before its ready file goes: a later publish that sees it may take the path
        p.dirty.forEach(commit::markDirty);
        reservations.drop(p);
        if (p.moved) {
            try {
                Files.deleteIfExists(p.ready);
            } catch (IOException e) {
                LOG.warn("Could not delete the ready file {} of a request that ended: {}", p.ready, e.toString());
            }
        }
    }

    /** Whether a staged file waits for {@code target} (resolved): what is there now is about to be replaced. */
    boolean reserved(Path target) {
        return reservations.contains(target);
    }

    /**
     * Assigns everything staged since the previous call to {@code checkpointId} and returns every entry not yet
     * applied: the operator state of that checkpoint.
     */
    List<PendingPublish> seal(long checkpointId) {
        if (!open.isEmpty()) {
            sealed.computeIfAbsent(checkpointId, id -> new ArrayList<>()).addAll(open);
            open = new ArrayList<>();
        }
        List<PendingPublish> all = new ArrayList<>();
        sealed.values().forEach(all::addAll);
        applying.forEach(b -> all.addAll(b.entries));
        return all;
    }

    /**
     * Checkpoint {@code checkpointId} completed: renames the files of it and of every earlier one on the calling
     * thread; returns how many.
     */
    int committed(long checkpointId) {
        Batch b = take(checkpointId);
        if (b == null) {
            return 0;
        }
        b.apply();
        applied(b);
        return b.entries.size();
    }

    /**
     * {@link #committed} with the renames on {@code pool}: the entries of checkpoints {@code <= checkpointId} stay in
     * the operator state ({@link #seal}) until their renames ran and {@code taskThread} has run {@link #applied}
     * (which marks what they changed for the next group commit), so a checkpoint never stops referencing a ready
     * file whose rename is not durable; a crash in between re-applies them (idempotent). Batches run in the order of
     * their checkpoints, one after another, so a later version of a path is never overwritten by an earlier one.
     * The ready files stay in the ready folder until renamed, so {@link #anyReady} answers true until then.
     *
     * @param taskThread runs {@link #applied} on the task thread; if it refuses (the task is closing), the entries stay
     *     referenced by the last checkpoint and a restore applies them again
     * @return the number of files whose renames were handed to the pool
     */
    int committedAsync(long checkpointId, Executor pool, Executor taskThread) {
        Batch b = take(checkpointId);
        if (b == null) {
            return 0;
        }
        applying.add(b);
        applyChain = applyChain.thenRunAsync(b::apply, pool);
        applyChain.thenRun(() -> taskThread.execute(() -> applied(b)));
        return b.entries.size();
    }

    /** The entries of checkpoints {@code <= checkpointId}, taken out of the sealed ones; null when there are none. */
    private Batch take(long checkpointId) {
        NavigableMap<Long, List<PendingPublish>> done = sealed.headMap(checkpointId, true);
        if (done.isEmpty()) {
            return null;
        }
        List<PendingPublish> entries = new ArrayList<>();
        done.values().forEach(entries::addAll);
        done.clear();
        return new Batch(entries);
    }

    /** On the task thread, after a batch's renames: marks what they changed for the group commit, frees the paths. */
    void applied(Batch b) {
        b.dirty.forEach(commit::markDirty);
        for (PendingPublish p : b.entries) {
            try {
                reservations.release(publisher.resolve(p.path), p.url);
            } catch (IOException e) {
                // a path that does not resolve was never reserved
            }
        }
        applying.remove(b);
    }

    /**
     * After a restore: applies this subtask's share of the restored entries (they belong to a completed checkpoint)
     * and deletes the ready files of earlier incarnations that no entry references.
     */
    int restore(Iterable<PendingPublish> restored, int subtask, int parallelism) {
        Set<Path> referenced = new HashSet<>();
        int applied = 0;
        for (PendingPublish p : restored) {
            referenced.add(readyFile(p));
            if (Math.floorMod(p.ready.hashCode(), parallelism) == subtask) {
                apply(p, commit::markDirty);
                applied++;
            }
        }
        int orphans = deleteOrphans(referenced);
        if (applied > 0 || orphans > 0) {
            LOG.info("Restored publishes: {} applied, {} orphaned ready files of results a crash took back deleted",
                    applied, orphans);
        }
        return applied;
    }

    /** Entries staged or sealed and not yet applied. */
    int pendingCount() {
        int n = open.size();
        for (Batch b : applying) {
            n += b.entries.size();
        }
        for (List<PendingPublish> batch : sealed.values()) {
            n += batch.size();
        }
        return n;
    }

    /** Whether any ready file waits under {@code stagingDir} (for {@code flowget run}'s end: all applied). */
    public static boolean anyReady(Path stagingDir) throws IOException {
        return anyFileUnder(stagingDir.resolve(READY_DIR));
    }

    /**
     * Whether a regular file is in {@code dir} or below. The commit's renames empty these folders while this looks,
     * so an entry gone between the listing and its lstat, or a folder gone before it is listed, waits for nothing
     * ({@code Files.walk} threw {@code NoSuchFileException} for it, and a completed run ended with an internal error).
     */
    private static boolean anyFileUnder(Path dir) throws IOException {
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
            for (Path p : entries) {
                BasicFileAttributes at = SafeFiles.attributes(p); // null: gone meanwhile
                if (at != null && (at.isRegularFile() || (at.isDirectory() && anyFileUnder(p)))) {
                    return true;
                }
            }
        } catch (NoSuchFileException | NotDirectoryException gone) {
            return false;
        }
        return false;
    }

    /** Deletes the ready folders under {@code stagingDir} that are empty (after a run that applied everything). */
    public static void deleteEmptyReadyDirs(Path stagingDir) throws IOException {
        Path root = stagingDir.resolve(READY_DIR);
        if (!Files.isDirectory(root)) {
            return;
        }
        try (DirectoryStream<Path> dirs = Files.newDirectoryStream(root)) {
            for (Path d : dirs) {
                deleteIfEmpty(d);
            }
        }
        deleteIfEmpty(root);
    }

    private static void deleteIfEmpty(Path dir) {
        try {
            Files.deleteIfExists(dir);
        } catch (IOException notEmpty) {
            // still holds files: left for the next restore's clean-up
        }
    }

    /**
     * Puts one committed entry into place; what it changed goes to {@code dirty}. Nearly always nothing is at its
     * path: a hard link then its ready name's removal ({@link FilePublisher#linkIfAbsent}), with no lstat of the
     * missing path; else the ownership check and a rename, as at the stage. Never throws: a checkpoint's
     * notification that failed would restore the same state and fail the same way. A ready file that is gone was
     * applied before (a restore re-applies); a path that now holds another URL's file (a different subtask, or a
     * user, put it there since the stage) is logged as an ERROR and the ready file kept, so the bytes are not lost.
     * Touches no field of this object but the publisher's (thread-safe): it runs on the storage pool.
     */
    private void apply(PendingPublish p, Consumer<Path> dirty) {
        Path ready = readyFile(p);
        try {
            // Nearly always nothing is at the path: published by a hard link, without probing the missing path.
            if (publisher.linkIfAbsent(ready, p.path, dirty) != null) {
                return;
            }
            publisher.move(ready, publisher.check(p.path, p.url, dirty), dirty);
        } catch (NoSuchFileException gone) {
            // applied before the restore, or raced with another subtask applying the same restored entry
        } catch (IOException | RuntimeException e) {
            if (SafeFiles.attributes(ready) == null) {
                return; // applied before the restore: whatever is at the path now is not this entry's concern
            }
            LOG.error("The result of {} has committed but its file could not be published at {}: {}; it stays at {}",
                    p.url, p.path, e.getMessage(), ready);
        }
    }

    /** The ready file of an entry: its path is relative to the staging directory, so state moves with it. */
    private Path readyFile(PendingPublish p) {
        return stagingDir.resolve(p.ready).normalize();
    }

    /** Deletes unreferenced ready files of other incarnations, and their folders once empty. */
    private int deleteOrphans(Set<Path> referenced) {
        if (!Files.isDirectory(readyRoot)) {
            return 0;
        }
        int deleted = 0;
        try (DirectoryStream<Path> incarnations = Files.newDirectoryStream(readyRoot)) {
            for (Path dir : incarnations) {
                if (dir.equals(readyDir) || !Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
                    continue;
                }
                try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
                    for (Path f : files) {
                        if (!referenced.contains(f) && Files.deleteIfExists(f)) {
                            deleted++;
                        }
                    }
                }
                try {
                    Files.deleteIfExists(dir);
                } catch (IOException notEmpty) {
                    // another subtask still has to apply a referenced file here
                }
            }
        } catch (IOException e) {
            LOG.warn("Could not clean up orphaned ready files under {}: {}", readyRoot, e.toString());
        }
        return deleted;
    }

    /** The entries one commit notification renames, and what their renames changed (filled on the pool). */
    final class Batch {
        final List<PendingPublish> entries;
        final List<Path> dirty = new ArrayList<>();

        Batch(List<PendingPublish> entries) {
            this.entries = entries;
        }

        /** The renames, in order; on the storage pool (or the caller's thread). */
        void apply() {
            for (PendingPublish p : entries) {
                PublishAtCommit.this.apply(p, dirty::add);
            }
        }
    }
}
