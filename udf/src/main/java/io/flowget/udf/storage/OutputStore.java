package io.flowget.udf.storage;

import io.flowget.udf.body.Digests;
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
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.UserDefinedFileAttributeView;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

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
 * <p><b>Recorded validators (conditional re-fetch).</b> {@link #publish(Path, String, String, FileMeta)} also
 * records, beside the URL, what the response said about the representation ({@code user.flowget.etag},
 * {@code user.flowget.last-modified}), the digests of the stored bytes ({@code user.flowget.sha256}, {@code
 * user.flowget.blake3}) and a stamp of the file's size and modification time ({@code user.flowget.stamp}).
 * {@link #recorded(String, String)} hands them back only while the file is still the one flowget wrote for
 * that URL: same owner, same size and mtime (a file edited in place, truncated or replaced by hand no longer
 * matches, and is fetched in full again). The attributes are written on the staging file before the atomic
 * rename, so a published file never carries another version's validators.
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
    static final String ETAG_ATTR = "flowget.etag";
    static final String LAST_MODIFIED_ATTR = "flowget.last-modified";
    static final String SHA256_ATTR = "flowget.sha256";
    static final String BLAKE3_ATTR = "flowget.blake3";
    /** Size and mtime of the file when it was published: "size:mtime-nanos". */
    static final String STAMP_ATTR = "flowget.stamp";

    private final Path outDir;
    private final Path stagingDir;
    private final OnConflict onConflict;
    private final Durability durability;
    private final Set<Path> pendingSync = new LinkedHashSet<>();
    /** Staging-name prefix per host: a SHA-256 per lookup is too much for a path built several times a request. */
    private final java.util.Map<String, String> hostTags = new java.util.HashMap<>();
    private static final int MAX_HOST_TAGS = 10_000;
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
        if (hostTags.size() > MAX_HOST_TAGS) {
            hostTags.clear(); // bounded: a long-running job may see millions of hosts
        }
        String tag = hostTags.computeIfAbsent(host, OutputStore::hostTag);
        return stagingDir.resolve(tag + "-" + seq + "-g" + generation + ".part");
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
     * Moves a complete staging file to its final path atomically, recording only its URL.
     *
     * @throws PathConflictException when the path belongs to somebody else (see the ownership rule)
     */
    public Path publish(Path staging, String relative, String url) throws IOException {
        return publish(staging, relative, url, FileMeta.NONE);
    }

    /**
     * Moves a complete staging file to its final path atomically, recording its URL and {@code meta} in
     * extended attributes (see the class Javadoc).
     *
     * @throws PathConflictException when the path belongs to somebody else (see the ownership rule)
     */
    public Path publish(Path staging, String relative, String url, FileMeta meta) throws IOException {
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
        writeMeta(staging, meta);
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

    /**
     * What was recorded when flowget published the file at {@code relative} for {@code url}, if that file is
     * still there unchanged and has validators (an ETag or a Last-Modified) and a SHA-256; else null. Reads a
     * few extended attributes, never the file's bytes.
     */
    public RecordedFile recorded(String relative, String url) {
        try {
            Path target = resolve(relative);
            BasicFileAttributes attrs =
                    Files.readAttributes(target, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            if (!attrs.isRegularFile()) {
                return null;
            }
            UserDefinedFileAttributeView view =
                    Files.getFileAttributeView(target, UserDefinedFileAttributeView.class, LinkOption.NOFOLLOW_LINKS);
            if (view == null) {
                return null;
            }
            List<String> names = view.list();
            if (!url.equals(readAttr(view, names, OWNER_ATTR))
                    || !stamp(attrs).equals(readAttr(view, names, STAMP_ATTR))) {
                return null;
            }
            String etag = readAttr(view, names, ETAG_ATTR);
            String lastModified = readAttr(view, names, LAST_MODIFIED_ATTR);
            String sha256 = readAttr(view, names, SHA256_ATTR);
            if (sha256 == null || (etag == null && lastModified == null)) {
                return null;
            }
            return new RecordedFile(attrs.size(), sha256, readAttr(view, names, BLAKE3_ATTR), etag, lastModified);
        } catch (IOException | UnsupportedOperationException | SecurityException e) {
            // missing file, path outside --out, no xattr support: nothing usable is recorded
            return null;
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

    /**
     * Records the validators and digests on the staging file, the stamp last: a file whose attributes could
     * not all be written carries no stamp and so never answers {@link #recorded}. Attributes a previous
     * attempt may have left on the staging file are removed when the new response has no value for them.
     */
    private void writeMeta(Path file, FileMeta meta) {
        UserDefinedFileAttributeView view;
        try {
            view = Files.getFileAttributeView(file, UserDefinedFileAttributeView.class);
        } catch (UnsupportedOperationException e) {
            return;
        }
        if (view == null) {
            return;
        }
        try {
            List<String> names = view.list();
            putAttr(view, names, STAMP_ATTR, null);
            putAttr(view, names, ETAG_ATTR, meta.etag());
            putAttr(view, names, LAST_MODIFIED_ATTR, meta.lastModified());
            putAttr(view, names, SHA256_ATTR, meta.sha256());
            putAttr(view, names, BLAKE3_ATTR, meta.blake3());
            if (meta.sha256() != null && (meta.etag() != null || meta.lastModified() != null)) {
                BasicFileAttributes attrs = Files.readAttributes(file, BasicFileAttributes.class);
                view.write(STAMP_ATTR, StandardCharsets.UTF_8.encode(stamp(attrs)));
            }
        } catch (IOException | UnsupportedOperationException e) {
            // Only costs the conditional re-fetch of this file (it has no stamp); the URL, which the ownership
            // rule needs, was written before.
            LOG.debug("Could not record validators on {}: {}", file, e.toString());
        }
    }

    private static void putAttr(UserDefinedFileAttributeView view, List<String> names, String name, String value)
            throws IOException {
        if (value != null) {
            view.write(name, StandardCharsets.UTF_8.encode(value));
        } else if (names.contains(name)) {
            view.delete(name);
        }
    }

    private static String readAttr(UserDefinedFileAttributeView view, List<String> names, String name)
            throws IOException {
        if (!names.contains(name)) {
            return null;
        }
        ByteBuffer buf = ByteBuffer.allocate(view.size(name));
        view.read(name, buf);
        buf.flip();
        return StandardCharsets.UTF_8.decode(buf).toString();
    }

    /** Size and modification time: a rename keeps both, an edit in place changes at least the mtime. */
    private static String stamp(BasicFileAttributes attrs) {
        return attrs.size() + ":" + attrs.lastModifiedTime().to(TimeUnit.NANOSECONDS);
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
        return HexFormat.of().formatHex(Digests.sha256(host.getBytes(StandardCharsets.UTF_8)), 0, 8);
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

    /** The final path belongs to another URL or is not a regular file. */
    public static final class PathConflictException extends IOException {
        public PathConflictException(String path, String why) {
            super("path conflict: " + path + " (" + why + ")");
        }
    }
}
