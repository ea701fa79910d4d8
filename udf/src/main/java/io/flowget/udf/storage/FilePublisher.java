package io.flowget.udf.storage;

import io.flowget.udf.config.FlowgetOptions.OnConflict;
import io.flowget.udf.storage.OutputStore.FileMeta;
import io.flowget.udf.storage.OutputStore.PathConflictException;

import org.apache.flink.annotation.Internal;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.function.Consumer;

/**
 * Makes a complete staging file visible under the output directory by one atomic rename, refusing to replace a
 * file another URL owns: a final path belongs to the URL that wrote it ({@link FileMetadata#OWNER_ATTR});
 * publishing over a file of the same URL replaces it (a re-run, or two requests for one URL), over a file of a
 * different URL, or one flowget did not write, throws {@link PathConflictException} unless the conflict policy
 * is {@link OnConflict#REPLACE}. So distinct requests never overwrite each other's files silently.
 *
 * <p>The owner and the {@link FileMeta} are written on the staging file before the rename, so a published file
 * never carries another version's attributes. Every published file, and every directory whose entries a
 * publish changed, is handed to the {@link GroupCommit}, which makes them durable at the checkpoint.
 *
 * <p>Thread-safe for {@link #check}, {@link #label} and {@link #move} with a {@code dirty} sink of the caller's
 * (the storage pool runs them for one subtask's publishes, several at once); {@link #publish} marks the task
 * thread's {@link GroupCommit} and is for that thread only.
 */
@Internal
final class FilePublisher {
    private static final Logger LOG = LoggerFactory.getLogger(FilePublisher.class);

    private final Path outDir;
    private final OnConflict onConflict;
    private final GroupCommit commit;
    private volatile boolean xattrWarned;

    /** Publishes into {@code outDir} (made absolute and normalized), creating it if needed. */
    FilePublisher(Path outDir, OnConflict onConflict, GroupCommit commit) throws IOException {
        this.outDir = outDir.toAbsolutePath().normalize();
        this.onConflict = onConflict;
        this.commit = commit;
        Files.createDirectories(this.outDir);
    }

    Path outDir() {
        return outDir;
    }

    /** Resolves a relative output path inside the output directory, refusing anything that would escape it. */
    Path resolve(String relative) throws IOException {
        try {
            return OutputPaths.resolveInside(outDir, relative);
        } catch (RuntimeException e) {
            throw new IOException(e.getMessage(), e);
        }
    }

    /**
     * Moves a complete staging file to {@code relative} atomically, recording {@code url} as its owner and
     * {@code meta} beside it; returns the final path.
     *
     * @throws PathConflictException when a parent of the path is a file, the path is a directory, or (policy
     *     FAIL) it holds a file not owned by {@code url}
     */
    Path publish(Path staging, String relative, String url, FileMeta meta) throws IOException {
        Path target = check(relative, url, commit::markDirty);
        label(staging, url, meta, null);
        return move(staging, target, commit::markDirty);
    }

    /**
     * The ownership rule alone: resolves {@code relative}, creates its parent directories, and returns the final
     * path if {@code url} may publish there now. Each directory whose entries it changed (a parent of a directory
     * it created) goes to {@code dirty}, for the group commit: the storage pool collects them and the task thread
     * marks them ({@link GroupCommit} is the task thread's).
     *
     * @throws PathConflictException as {@link #publish}
     */
    Path check(String relative, String url, Consumer<Path> dirty) throws IOException {
        Path target = directories(relative, dirty);
        // One lstat answers all three questions (it was three, each building an exception for a missing file:
        // the common case, for every published file).
        BasicFileAttributes at = SafeFiles.attributes(target);
        if (at != null && at.isDirectory()) {
            throw new PathConflictException(relative, "it is a directory");
        }
        if (at != null && at.isSymbolicLink() && onConflict == OnConflict.FAIL) {
            // Never read a link target's attributes (its owner may be anyone's); REPLACE renames over the link.
            throw new SafeFiles.UnsafePathException(relative, "it is a symbolic link");
        }
        if (at != null && onConflict == OnConflict.FAIL) {
            String owner = FileMetadata.readOwner(target);
            if (!url.equals(owner)) {
                throw new PathConflictException(
                        relative,
                        owner == null ? "it exists and was not written by flowget" : "it was written for " + owner);
            }
        }
        return target;
    }

    /**
     * Resolves {@code relative} and makes sure every directory on the way to it is a real directory inside the
     * output directory (creating missing ones; see {@link #check} for {@code dirty}); returns the final path.
     *
     * @throws PathConflictException when a parent of the path is a file or a symbolic link
     */
    private Path directories(String relative, Consumer<Path> dirty) throws IOException {
        Path target = resolve(relative);
        try {
            // Every directory on the way is a real one inside outDir: a planted link would move the file out.
            SafeFiles.realDirectories(outDir, target.getParent(), relative, dirty);
        } catch (FileAlreadyExistsException e) {
            throw new PathConflictException(relative, "a parent of it is a file");
        }
        return target;
    }

    /**
     * Publishes a labelled {@code file} (a ready file, checked when it was staged) at {@code relative} if nothing
     * is there, with no probe of the path: a hard link to it ({@code link(2)}, which fails on any entry at the path,
     * a dangling symbolic link included, and never follows one), then {@code file}'s own name removed. Returns the
     * final path, or null when the path holds an entry or the file system makes no hard links: then {@link #check}
     * and {@link #move} decide, as before. An entry that is {@code file} itself (an earlier link whose name removal a
     * crash cut off) counts as published.
     *
     * <p>Why: the commit's ownership check cost every small file an {@code lstat} of its missing final path and the
     * {@code NoSuchFileException} NIO builds for it (issue 16: no ENOENT probes or exceptions on the hot path).
     *
     * @throws NoSuchFileException when {@code file} is gone (published before)
     * @throws PathConflictException when a parent of the path is a file or a symbolic link
     */
    Path linkIfAbsent(Path file, String relative, Consumer<Path> dirty) throws IOException {
        Path target = directories(relative, dirty);
        try {
            Files.createLink(target, file);
        } catch (FileAlreadyExistsException taken) {
            if (!sameFile(target, file)) {
                return null;
            }
        } catch (NoSuchFileException e) {
            if (SafeFiles.attributes(file) == null) {
                throw e;
            }
            return null; // the path's directory went away meanwhile: check and move say what is wrong
        } catch (IOException | UnsupportedOperationException noHardLinks) {
            return null;
        }
        dirty.accept(target);
        dirty.accept(target.getParent());
        try {
            Files.delete(file);
        } catch (NoSuchFileException gone) {
            // removed meanwhile: the file is published all the same
        } catch (IOException e) {
            // The file is published; a name left in the ready folder is deleted with its incarnation's folder.
            LOG.warn("Published {} but could not remove its ready name {}: {}", target, file, e.toString());
        }
        return target;
    }

    /** True when {@code a} (not followed if a link) is the same regular file as {@code b}. */
    private static boolean sameFile(Path a, Path b) {
        BasicFileAttributes at = SafeFiles.attributes(a);
        BasicFileAttributes bt = SafeFiles.attributes(b);
        return at != null && bt != null && at.isRegularFile() && at.fileKey() != null
                && at.fileKey().equals(bt.fileKey());
    }

    /**
     * Records {@code url} as the owner and {@code meta} on a staging file, before it is moved into place;
     * {@code known} is the file's lstat when the caller has it (null: read here if the stamp needs it).
     */
    void label(Path staging, String url, FileMeta meta, BasicFileAttributes known) {
        if (!FileMetadata.write(staging, url, meta, known)) {
            warnNoXattrsOnce();
        }
    }

    /** The atomic rename of a labelled file to a {@link #check}ed final path; both go to {@code dirty}. */
    Path move(Path staging, Path target, Consumer<Path> dirty) throws IOException {
        Files.move(staging, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        dirty.accept(target);
        dirty.accept(target.getParent());
        return target;
    }

    private void warnNoXattrsOnce() {
        if (!xattrWarned) { // a benign race between storage-pool threads: at worst a second warning
            xattrWarned = true;
            LOG.warn(
                    "The file system of {} does not take user extended attributes: files cannot record their URL,"
                            + " so an existing file always counts as a path conflict (see flowget.storage.on-conflict)",
                    outDir);
        }
    }
}
