package io.flowget.udf.storage;

import io.flowget.udf.storage.OutputStore.FileMeta;
import io.flowget.udf.storage.OutputStore.RecordedFile;

import org.apache.flink.annotation.Internal;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.UserDefinedFileAttributeView;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Reads and writes what flowget records beside a file, as {@code user.flowget.*} extended attributes: the URL
 * that owns it ({@code user.flowget.url}), the response's validators ({@code .etag}, {@code .last-modified}),
 * the stored bytes' digests ({@code .sha256}, {@code .blake3}) and a stamp of size and mtime ({@code .stamp})
 * that vouches the file is unchanged since. Attribute names and value formats are persisted on users' files,
 * so they must not change.
 *
 * <p>Failures never throw: a file system without user xattrs reads as "nothing recorded" and writes report
 * {@code false} or are skipped, which only costs the ownership check (see {@link FilePublisher}) or the
 * conditional re-fetch of that file.
 *
 * <p>Thread-safe: stateless; each call touches only the file it is given.
 */
@Internal
final class FileMetadata {
    private static final Logger LOG = LoggerFactory.getLogger(FileMetadata.class);

    // Names without the "user." namespace, which UserDefinedFileAttributeView adds on Linux.
    static final String OWNER_ATTR = "flowget.url";
    static final String ETAG_ATTR = "flowget.etag";
    static final String LAST_MODIFIED_ATTR = "flowget.last-modified";
    static final String SHA256_ATTR = "flowget.sha256";
    static final String BLAKE3_ATTR = "flowget.blake3";
    /** Size and mtime of the file when it was published: "size:mtime-nanos". */
    static final String STAMP_ATTR = "flowget.stamp";

    private FileMetadata() {}

    /** The URL recorded as the file's owner, or null when there is none or it cannot be read. */
    static String readOwner(Path file) {
        try {
            UserDefinedFileAttributeView view = Files.getFileAttributeView(file, UserDefinedFileAttributeView.class);
            return view == null ? null : readAttr(view, view.list(), OWNER_ATTR);
        } catch (IOException | UnsupportedOperationException e) {
            return null;
        }
    }

    /** Records {@code url} as the file's owner; false when the file system does not take user xattrs. */
    static boolean writeOwner(Path file, String url) {
        try {
            UserDefinedFileAttributeView view = Files.getFileAttributeView(file, UserDefinedFileAttributeView.class);
            if (view != null) {
                view.write(OWNER_ATTR, StandardCharsets.UTF_8.encode(url));
                return true;
            }
        } catch (IOException | UnsupportedOperationException e) {
            // reported as false
        }
        return false;
    }

    /**
     * Records the validators and digests on a (staging) file, the stamp last: a file whose attributes could
     * not all be written carries no stamp and so never answers {@link #recorded}. The stamp is written only
     * when there is something to re-fetch conditionally with (a SHA-256 and an ETag or Last-Modified).
     * Attributes a previous attempt may have left on the file are removed when {@code meta} has no value for
     * them. Call it after the file's last byte: the stamp captures its size and mtime.
     */
    static void write(Path file, FileMeta meta) {
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

    /**
     * What was recorded on {@code file} for {@code url}, if it is a regular file (not followed through a
     * symlink) still owned by {@code url}, unchanged since (same stamp), and has validators (an ETag or a
     * Last-Modified) and a SHA-256; else null. Reads a few extended attributes, never the file's bytes.
     */
    static RecordedFile recorded(Path file, String url) {
        try {
            BasicFileAttributes attrs =
                    Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            if (!attrs.isRegularFile()) {
                return null;
            }
            UserDefinedFileAttributeView view =
                    Files.getFileAttributeView(file, UserDefinedFileAttributeView.class, LinkOption.NOFOLLOW_LINKS);
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
            // missing file, no xattr support: nothing usable is recorded
            return null;
        }
    }

    /** Size and modification time: a rename keeps both, an edit in place changes at least the mtime. */
    static String stamp(BasicFileAttributes attrs) {
        return attrs.size() + ":" + attrs.lastModifiedTime().to(TimeUnit.NANOSECONDS);
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
}
