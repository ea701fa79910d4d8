package io.flowget.udf.storage;

import io.flowget.udf.storage.OutputStore.FileMeta;
import io.flowget.udf.storage.OutputStore.RecordedFile;

import org.apache.flink.annotation.Internal;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.UserDefinedFileAttributeView;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Reads and writes what flowget records beside a file, in one extended attribute {@code user.flowget.meta}: the URL
 * that owns it, the response's validators (ETag, Last-Modified), the stored bytes' digests (SHA-256, BLAKE3) and a
 * stamp of size and mtime that vouches the file is unchanged since. The value is {@value #PACKED_VERSION} and then
 * those six fields in that order, each on its own line ({@code \n}; an absent field is an empty line): none of them
 * can hold a line break (URLs are validated, header values cannot carry one). One attribute is one {@code
 * fsetxattr} per published file and one {@code fgetxattr} per lookup, instead of five of each.
 *
 * <p>Files published before carry the older form, one attribute per field: {@code user.flowget.url}, {@code
 * .etag}, {@code .last-modified}, {@code .sha256}, {@code .blake3} and {@code .stamp}. They are still read (the
 * packed attribute wins when both are there), so an upgrade keeps its mirror's NOT_MODIFIED answers and its
 * ownership rule. Attribute names and value formats are persisted on users' files, so they must not change.
 *
 * <p>The lookup for a conditional re-fetch ({@link #recorded}) is on the fetch path of every request, and in a
 * fresh output directory the file is almost never there: it asks {@code java.io.File} first, whose {@code stat}
 * answers a missing file with {@code false} instead of an exception.
 *
 * <p>Failures never throw: a file system without user xattrs reads as "nothing recorded" and writes report
 * {@code false}, which only costs the ownership check (see {@link FilePublisher}) or the conditional re-fetch of
 * that file.
 *
 * <p>Thread-safe: stateless; each call touches only the file it is given.
 */
@Internal
final class FileMetadata {
    private static final Logger LOG = LoggerFactory.getLogger(FileMetadata.class);

    // Names without the "user." namespace, which UserDefinedFileAttributeView adds on Linux.
    /** The packed form: every field in one attribute (see the class comment). */
    static final String PACKED_ATTR = "flowget.meta";
    /** First line of the packed value; a reader ignores a value whose first line it does not know. */
    static final String PACKED_VERSION = "flowget-meta-1";
    // The older form, read only:
    static final String OWNER_ATTR = "flowget.url";
    static final String ETAG_ATTR = "flowget.etag";
    static final String LAST_MODIFIED_ATTR = "flowget.last-modified";
    static final String SHA256_ATTR = "flowget.sha256";
    static final String BLAKE3_ATTR = "flowget.blake3";
    /** Size and mtime of the file when it was published: "size:mtime-nanos". */
    static final String STAMP_ATTR = "flowget.stamp";
    /** A packed value fits in this (URLs are bounded well below it); a larger one is read at its size. */
    private static final int READ_BUFFER = 8192;

    private FileMetadata() {}

    /** The URL recorded as the file's owner, or null when there is none or it cannot be read. */
    static String readOwner(Path file) {
        try {
            UserDefinedFileAttributeView view = Files.getFileAttributeView(file, UserDefinedFileAttributeView.class);
            if (view == null) {
                return null;
            }
            Fields packed = readPacked(view);
            return packed != null ? packed.url : readLegacy(view, view.list(), OWNER_ATTR);
        } catch (IOException | UnsupportedOperationException e) {
            return null;
        }
    }

    /**
     * Records {@code url} as the file's owner, with the validators and digests of {@code meta}, in one attribute.
     * The stamp (size and mtime, taken now) is included only when there is something to re-fetch conditionally
     * with (a SHA-256 and an ETag or Last-Modified): call it after the file's last byte. Whatever a previous attempt
     * recorded on the file is replaced as a whole.
     *
     * @return false when the file system does not take user xattrs (nothing is recorded then)
     */
    static boolean write(Path file, String url, FileMeta meta) {
        return write(file, url, meta, null);
    }

    /** {@link #write(Path, String, FileMeta)} with the file's lstat already taken ({@code known}; null: none). */
    static boolean write(Path file, String url, FileMeta meta, BasicFileAttributes known) {
        UserDefinedFileAttributeView view;
        try {
            view = Files.getFileAttributeView(file, UserDefinedFileAttributeView.class);
        } catch (UnsupportedOperationException e) {
            return false;
        }
        if (view == null) {
            return false;
        }
        String stamp = null;
        try {
            if (meta.sha256() != null && (meta.etag() != null || meta.lastModified() != null)) {
                stamp = stamp(known != null ? known : Files.readAttributes(file, BasicFileAttributes.class));
            }
        } catch (IOException e) {
            // no stamp: only costs the conditional re-fetch of this file
            LOG.debug("Could not stamp {}: {}", file, e.toString());
        }
        try {
            view.write(PACKED_ATTR, StandardCharsets.UTF_8.encode(pack(url, meta, stamp)));
            return true;
        } catch (IOException | UnsupportedOperationException e) {
            return false;
        }
    }

    /** The packed value (see the class comment). */
    static String pack(String url, FileMeta meta, String stamp) {
        StringBuilder b = new StringBuilder(160 + url.length());
        b.append(PACKED_VERSION).append('\n');
        for (String f : new String[] {url, meta.etag(), meta.lastModified(), meta.sha256(), meta.blake3()}) {
            b.append(f == null ? "" : f).append('\n');
        }
        return b.append(stamp == null ? "" : stamp).toString();
    }

    /**
     * What was recorded on {@code file} for {@code url}, if it is a regular file (not followed through a
     * symlink) still owned by {@code url}, unchanged since (same stamp), and has validators (an ETag or a
     * Last-Modified) and a SHA-256; else null. Reads one extended attribute (the older form: a few), never the
     * file's bytes; a missing file costs one {@code stat} and no exception.
     */
    static RecordedFile recorded(Path file, String url) {
        if (!mayExist(file)) {
            return null; // the common case on a fresh run; a dangling symlink lands here too, which is right
        }
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
            Fields f = readPacked(view);
            if (f == null) {
                f = readLegacy(view);
            }
            if (f == null
                    || !url.equals(f.url)
                    || !stamp(attrs).equals(f.stamp)
                    || f.sha256 == null
                    || (f.etag == null && f.lastModified == null)) {
                return null;
            }
            return new RecordedFile(attrs.size(), f.sha256, f.blake3, f.etag, f.lastModified);
        } catch (IOException | UnsupportedOperationException | SecurityException e) {
            // vanished meanwhile, no xattr support: nothing usable is recorded
            return null;
        }
    }

    /**
     * False when nothing is at {@code file} (following links): one {@code stat} that reports a missing file as
     * {@code false}, where NIO's {@code Files.exists}/{@code readAttributes} build a {@code NoSuchFileException}.
     */
    static boolean mayExist(Path file) {
        return new File(file.toString()).exists();
    }

    /** Size and modification time: a rename keeps both, an edit in place changes at least the mtime. */
    static String stamp(BasicFileAttributes attrs) {
        return attrs.size() + ":" + attrs.lastModifiedTime().to(TimeUnit.NANOSECONDS);
    }

    /** The recorded fields; null ones were not recorded. */
    record Fields(String url, String etag, String lastModified, String sha256, String blake3, String stamp) {}

    /** Parses a packed value; null when it is not one this version knows. */
    static Fields unpack(String value) {
        String[] f = value.split("\n", -1);
        if (f.length != 7 || !PACKED_VERSION.equals(f[0])) {
            return null;
        }
        return new Fields(orNull(f[1]), orNull(f[2]), orNull(f[3]), orNull(f[4]), orNull(f[5]), orNull(f[6]));
    }

    private static String orNull(String s) {
        return s.isEmpty() ? null : s;
    }

    /**
     * The packed attribute, or null when the file has none (or one this version cannot read). The value is read
     * into a buffer of {@value #READ_BUFFER} bytes without asking its size first; only a larger one takes a second
     * call. A file without it (an older one) costs the exception of its ENODATA; the hot path, a file flowget
     * published, does not.
     */
    private static Fields readPacked(UserDefinedFileAttributeView view) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(READ_BUFFER);
        try {
            view.read(PACKED_ATTR, buf);
        } catch (FileSystemException e) {
            String reason = e.getReason() == null ? "" : e.getReason();
            if (reason.contains("No data available") || reason.contains("not found")) {
                return null; // ENODATA: no packed attribute (an older file, or not ours)
            }
            // ERANGE: larger than the buffer; anything else surfaces from the sized read
            int size;
            try {
                size = view.size(PACKED_ATTR);
            } catch (FileSystemException absent) {
                return null;
            }
            buf = ByteBuffer.allocate(size);
            view.read(PACKED_ATTR, buf);
        }
        buf.flip();
        return unpack(StandardCharsets.UTF_8.decode(buf).toString());
    }

    /** The older one-attribute-per-field form, or null when the file has no owner recorded that way. */
    private static Fields readLegacy(UserDefinedFileAttributeView view) throws IOException {
        List<String> names = view.list();
        String url = readLegacy(view, names, OWNER_ATTR);
        if (url == null) {
            return null;
        }
        return new Fields(
                url,
                readLegacy(view, names, ETAG_ATTR),
                readLegacy(view, names, LAST_MODIFIED_ATTR),
                readLegacy(view, names, SHA256_ATTR),
                readLegacy(view, names, BLAKE3_ATTR),
                readLegacy(view, names, STAMP_ATTR));
    }

    private static String readLegacy(UserDefinedFileAttributeView view, List<String> names, String name)
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
