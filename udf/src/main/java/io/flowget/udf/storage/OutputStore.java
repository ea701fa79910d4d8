package io.flowget.udf.storage;

import io.flowget.udf.config.FlowgetOptions.Durability;
import io.flowget.udf.config.FlowgetOptions.OnConflict;

import org.apache.flink.annotation.Internal;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.UserDefinedFileAttributeView;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The output directory and its staging area: where partial bodies are written, how a finished one becomes
 * visible (atomic rename), who owns a final path, and the group commit that makes finished files durable.
 *
 * <p><b>Ownership rule.</b> A final path belongs to the URL that wrote it; flowget records that URL in the
 * file's extended attribute {@code user.flowget.url}. Finishing a request whose path holds a file of the same
 * URL replaces it (a re-run, or two requests for one URL); a file of a different URL, or one flowget did not
 * write, is a {@code path conflict} (FAILED) unless {@code flowget.storage.on-conflict} is REPLACE. So distinct
 * requests never overwrite each other's files silently.
 *
 * <p><b>Durability.</b> Under {@link Durability#CHECKPOINT}, {@link #syncPending()} (called while the
 * operator snapshots) fsyncs every file finished since the previous call and their directories, so that a
 * result committed with the checkpoint names a durable file. A process crash loses nothing either way: the
 * page cache survives it.
 *
 * <p>Not thread-safe: owned by one fetch subtask's task thread.
 */
@Internal
public final class OutputStore {
    private static final Logger LOG = LoggerFactory.getLogger(OutputStore.class);
    static final String OWNER_ATTR = "flowget.url";

    private final Path outDir;
    private final Path stagingDir;
    private final OnConflict onConflict;
    private final Durability durability;
    private final Set<Path> pendingSync = new LinkedHashSet<>();
    private boolean xattrWarned;

    public OutputStore(Path outDir, Path stagingDir, OnConflict onConflict, Durability durability)
            throws IOException {
        this.outDir = outDir.toAbsolutePath().normalize();
        this.stagingDir = stagingDir.toAbsolutePath().normalize();
        this.onConflict = onConflict;
        this.durability = durability;
        Files.createDirectories(this.outDir);
        Files.createDirectories(this.stagingDir);
    }

    public Path outDir() {
        return outDir;
    }

    public Path stagingDir() {
        return stagingDir;
    }

    /**
     * The staging file of a host's request: named by host, queue sequence number and generation, so a re-issued
     * request (after a restore or a retry) writes the same file again, and a download that starts over (new
     * generation) never shares a file with late writes of the old one.
     */
    public Path stagingFile(String host, long seq, int generation) {
        return stagingDir.resolve(hostTag(host) + "-" + seq + "-g" + generation + ".part");
    }

    /** Records that a staging file received chunk bytes, so the next group commit fsyncs it. */
    public void markDirty(Path staging) {
        if (durability == Durability.CHECKPOINT) {
            pendingSync.add(staging);
        }
    }

    /** Resolves a relative output path inside the output directory, refusing anything that would escape it. */
    public Path resolve(String relative) throws IOException {
        try {
            return OutputPaths.resolveInside(outDir, relative);
        } catch (RuntimeException e) {
            throw new IOException(e.getMessage(), e);
        }
    }

    /**
     * Moves a complete staging file to its final path atomically.
     *
     * @throws PathConflictException when the path belongs to somebody else (see the ownership rule)
     */
    public Path publish(Path staging, String relative, String url) throws IOException {
        Path target = resolve(relative);
        Path parent = target.getParent();
        try {
            createDirectories(parent);
        } catch (FileAlreadyExistsException e) {
            throw new PathConflictException(relative, "a parent of it is a file");
        }
        if (Files.isDirectory(target, LinkOption.NOFOLLOW_LINKS)) {
            throw new PathConflictException(relative, "it is a directory");
        }
        if (Files.exists(target, LinkOption.NOFOLLOW_LINKS) && onConflict == OnConflict.FAIL) {
            String owner = readOwner(target);
            if (!url.equals(owner)) {
                throw new PathConflictException(
                        relative,
                        owner == null ? "it exists and was not written by flowget" : "it was written for " + owner);
            }
        }
        writeOwner(staging, url);
        Files.move(staging, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        if (durability == Durability.CHECKPOINT) {
            pendingSync.add(target);
            pendingSync.add(parent);
        }
        return target;
    }

    /** Deletes a staging file that will not be published (failure, checksum mismatch). */
    public void discard(Path staging) {
        try {
            Files.deleteIfExists(staging);
        } catch (IOException e) {
            LOG.warn("Could not delete staging file {}: {}", staging, e.toString());
        }
    }

    /** Number of files and directories waiting for the next group commit. */
    public int pendingSyncCount() {
        return pendingSync.size();
    }

    /** The group commit: fsyncs everything published since the last call (see class Javadoc). */
    public void syncPending() throws IOException {
        if (pendingSync.isEmpty()) {
            return;
        }
        List<Path> paths = new ArrayList<>(pendingSync);
        pendingSync.clear();
        for (Path p : paths) {
            try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
                ch.force(true);
            } catch (NoSuchFileException gone) {
                // replaced or deleted since: its successor is in the list too
            }
        }
    }

    private void createDirectories(Path dir) throws IOException {
        if (Files.isDirectory(dir)) {
            return;
        }
        Path parent = dir.getParent();
        if (parent != null && !parent.equals(outDir)) {
            createDirectories(parent);
        }
        try {
            Files.createDirectory(dir);
        } catch (FileAlreadyExistsException e) {
            if (!Files.isDirectory(dir)) {
                throw e;
            }
        }
        if (durability == Durability.CHECKPOINT && parent != null) {
            pendingSync.add(parent);
        }
    }

    private String readOwner(Path file) {
        try {
            UserDefinedFileAttributeView view =
                    Files.getFileAttributeView(file, UserDefinedFileAttributeView.class);
            if (view == null || !view.list().contains(OWNER_ATTR)) {
                return null;
            }
            ByteBuffer buf = ByteBuffer.allocate(view.size(OWNER_ATTR));
            view.read(OWNER_ATTR, buf);
            buf.flip();
            return StandardCharsets.UTF_8.decode(buf).toString();
        } catch (IOException | UnsupportedOperationException e) {
            return null;
        }
    }

    private void writeOwner(Path file, String url) {
        try {
            UserDefinedFileAttributeView view =
                    Files.getFileAttributeView(file, UserDefinedFileAttributeView.class);
            if (view != null) {
                view.write(OWNER_ATTR, StandardCharsets.UTF_8.encode(url));
                return;
            }
        } catch (IOException | UnsupportedOperationException e) {
            // fall through to the warning
        }
        if (!xattrWarned) {
            xattrWarned = true;
            LOG.warn(
                    "The file system of {} does not take user extended attributes: files cannot record their URL,"
                            + " so an existing file always counts as a path conflict (see flowget.storage.on-conflict)",
                    outDir);
        }
    }

    private static String hostTag(String host) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(host.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(d, 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The final path belongs to another URL or is not a regular file. */
    public static final class PathConflictException extends IOException {
        public PathConflictException(String path, String why) {
            super("path conflict: " + path + " (" + why + ")");
        }
    }
}
