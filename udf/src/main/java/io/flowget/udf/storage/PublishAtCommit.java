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
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;

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
 * <p><b>Reservations.</b> A staged path is reserved for its URL until its rename: a second request of another URL
 * for the same path inside one checkpoint interval FAILs with {@code path conflict} (as it would once the file is
 * there), decided by the reservation, not by which rename comes last; one of the same URL replaces it (later wins),
 * and {@link #reserved} tells conditional re-fetch not to trust the old file at that path. Reservations are per
 * subtask; requests of different hosts may meet on one explicit {@code path} in different subtasks, which the
 * rename re-checks (a conflict found then is logged as an ERROR and the ready file kept, see {@link #apply}).
 *
 * <p>The renames run on the task thread: each is one {@code rename(2)} plus an owner check (a stat and one extended
 * attribute read), the same work a publish did before, only later. Durability: ready files and their folder are
 * marked for the group commit before the barrier of the checkpoint that references them; a rename marks its target
 * and folder for the next group commit, before the checkpoint that stops referencing it can complete.
 *
 * <p>Not thread-safe: owned by one fetch subtask's task thread.
 */
@Internal
public final class PublishAtCommit {
    private static final Logger LOG = LoggerFactory.getLogger(PublishAtCommit.class);
    /** Folder under the staging directory that holds ready files, one subfolder per incarnation of the job. */
    public static final String READY_DIR = "ready";

    private final FilePublisher publisher;
    private final GroupCommit commit;
    private final OnConflict onConflict;
    private final Path stagingDir;
    private final Path readyRoot;
    private final Path readyDir;
    private final String namePrefix;
    private long counter;
    private boolean readyDirCreated;

    private List<PendingPublish> open = new ArrayList<>();
    private final TreeMap<Long, List<PendingPublish>> sealed = new TreeMap<>();
    private final Map<Path, Reservation> reservations = new HashMap<>();

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
     * complete staging file and moves it to the ready folder; it becomes visible with the next checkpoint.
     *
     * @throws PathConflictException when the path belongs or is reserved for somebody else
     */
    PendingPublish stage(Path staging, String relative, String url, FileMeta meta) throws IOException {
        Path target = publisher.resolve(relative);
        Reservation r = reservations.get(target);
        if (r != null && !r.url.equals(url) && onConflict == OnConflict.FAIL) {
            throw new PathConflictException(
                    relative, "it is reserved for " + r.url + ", whose file appears with the next checkpoint");
        }
        publisher.check(relative, url);
        publisher.label(staging, url, meta);
        if (!readyDirCreated) {
            Files.createDirectories(readyDir);
            commit.markDirty(readyDir.getParent());
            readyDirCreated = true;
        }
        Path ready = readyDir.resolve(namePrefix + "-" + counter++ + ".ready");
        Files.move(staging, ready, StandardCopyOption.ATOMIC_MOVE);
        commit.markDirty(ready);
        commit.markDirty(readyDir);
        reservations.computeIfAbsent(target, t -> new Reservation(url)).count++;
        PendingPublish p = new PendingPublish(stagingDir.relativize(ready).toString(), relative, url);
        open.add(p);
        return p;
    }

    /** Whether a staged file waits for {@code target} (resolved): what is there now is about to be replaced. */
    boolean reserved(Path target) {
        return reservations.containsKey(target);
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
        return all;
    }

    /** Checkpoint {@code checkpointId} completed: renames the files of it and of every earlier one; returns how many. */
    int committed(long checkpointId) {
        NavigableMap<Long, List<PendingPublish>> done = sealed.headMap(checkpointId, true);
        int n = 0;
        for (List<PendingPublish> batch : done.values()) {
            for (PendingPublish p : batch) {
                apply(p);
                n++;
            }
        }
        done.clear();
        return n;
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
                apply(p);
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
        for (List<PendingPublish> batch : sealed.values()) {
            n += batch.size();
        }
        return n;
    }

    /** Whether any ready file waits under {@code stagingDir} (for {@code flowget run}'s end: all applied). */
    public static boolean anyReady(Path stagingDir) throws IOException {
        Path root = stagingDir.resolve(READY_DIR);
        if (!Files.isDirectory(root)) {
            return false;
        }
        try (Stream<Path> s = Files.walk(root)) {
            return s.anyMatch(Files::isRegularFile);
        }
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
     * Renames one committed entry into place. Never throws: a checkpoint's notification that failed would restore
     * the same state and fail the same way. A ready file that is gone was applied before (a restore re-applies); a
     * path that now holds another URL's file (a different subtask, or a user, put it there since the stage) is
     * logged as an ERROR and the ready file kept, so the bytes are not lost.
     */
    private void apply(PendingPublish p) {
        Path ready = readyFile(p);
        Path target = null;
        try {
            target = publisher.resolve(p.path);
            if (!Files.exists(ready, LinkOption.NOFOLLOW_LINKS)) {
                return; // applied before the restore
            }
            publisher.move(ready, publisher.check(p.path, p.url));
        } catch (NoSuchFileException gone) {
            // raced with another subtask applying the same restored entry
        } catch (IOException e) {
            LOG.error("The result of {} has committed but its file could not be published at {}: {}; it stays at {}",
                    p.url, p.path, e.getMessage(), ready);
        } finally {
            release(target);
        }
    }

    /** The ready file of an entry: its path is relative to the staging directory, so state moves with it. */
    private Path readyFile(PendingPublish p) {
        return stagingDir.resolve(p.ready).normalize();
    }

    private void release(Path target) {
        Reservation r = target == null ? null : reservations.get(target);
        if (r != null && --r.count <= 0) {
            reservations.remove(target);
        }
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

    private static final class Reservation {
        final String url;
        int count;

        Reservation(String url) {
            this.url = url;
        }
    }
}
