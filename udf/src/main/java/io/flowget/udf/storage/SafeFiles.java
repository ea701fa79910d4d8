package io.flowget.udf.storage;

import org.apache.flink.annotation.Internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * File operations that never follow a symbolic link, for everything flowget writes: a link planted in the staging
 * directory or under {@code --out} (by anyone who can write there) must not turn a write into one outside them.
 *
 * <ul>
 *   <li>{@link #createExclusive}: a staging file for a whole body is created anew ({@code O_CREAT|O_EXCL}, which
 *       fails on any existing entry, a link included); when that finds what an earlier attempt left, the entry
 *       itself (never a link's target) is removed and the create tried once more.
 *   <li>{@link #openExisting}: a chunk's writes go into the pre-sized staging file only when it is a regular file
 *       ({@code O_NOFOLLOW}).
 *   <li>{@link #realDirectories}: every directory from the output directory down to a final path's parent is a
 *       real directory (created when missing), never a link.
 * </ul>
 *
 * <p>Stateless; safe from any thread. What remains: a link swapped in between {@link #realDirectories} and the
 * rename by someone who can write under {@code --out} at that moment (see the README's Security section).
 */
@Internal
public final class SafeFiles {
    private SafeFiles() {}

    /** Why a path cannot be written safely (a symbolic link on the way). Fails the request, never retried. */
    public static final class UnsafePathException extends OutputStore.PathConflictException {
        public UnsafePathException(String path, String why) {
            super(path, why);
        }
    }

    /** Creates {@code file} anew for writing, replacing a regular file or link of that name, never following one. */
    public static FileChannel createExclusive(Path file) throws IOException {
        // The create comes first: nearly always nothing is there, and a delete first would cost every body a failing
        // lstat and an exception (issue 16: no ENOENT probes on the hot path). What an earlier attempt left is
        // removed only when the create finds it.
        try {
            return createNew(file);
        } catch (FileAlreadyExistsException leftOver) {
            Files.deleteIfExists(file); // removes a link itself, not its target
        }
        try {
            return createNew(file);
        } catch (FileAlreadyExistsException e) {
            throw new IOException("staging file " + file + " appeared while it was being created (refused)", e);
        }
    }

    private static FileChannel createNew(Path file) throws IOException {
        return FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS);
    }

    /** Opens an existing regular file for writing; a symbolic link there fails ({@code ELOOP}). */
    public static FileChannel openExisting(Path file) throws IOException {
        return FileChannel.open(file, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS);
    }

    /** Grows (sparse) or shrinks a staging file to {@code length} bytes (creating it), never through a link. */
    public static void presize(Path file, long length) throws IOException {
        // O_CREAT with O_NOFOLLOW still fails on a link (ELOOP).
        try (FileChannel ch =
                FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS)) {
            long size = ch.size();
            if (size > length) {
                ch.truncate(length);
            } else if (size < length) {
                ch.write(ByteBuffer.allocate(1), length - 1); // the last byte is not written yet: zero is right
            }
        }
    }

    /**
     * Makes sure every directory from {@code root} (exclusive) down to {@code dir} (inclusive) is a real directory,
     * creating missing ones; {@code onCreated} gets the parent of each one created (its entries changed).
     *
     * @throws UnsafePathException when one of them is a symbolic link
     * @throws OutputStore.PathConflictException when one of them is a file
     */
    static void realDirectories(Path root, Path dir, String relative, java.util.function.Consumer<Path> onCreated)
            throws IOException {
        Path current = root;
        for (Path part : root.relativize(dir)) {
            Path parent = current;
            current = current.resolve(part);
            BasicFileAttributes at = attributes(current);
            if (at == null) {
                try {
                    Files.createDirectory(current); // mkdir never follows a link in its last component
                    onCreated.accept(parent);
                } catch (FileAlreadyExistsException raced) {
                    // someone else created it meanwhile: judged below like any existing entry
                }
                at = attributes(current);
                if (at == null) {
                    throw new IOException("cannot create directory " + current);
                }
            }
            if (at.isSymbolicLink()) {
                throw new UnsafePathException(relative, root.relativize(current) + " is a symbolic link");
            }
            if (!at.isDirectory()) {
                throw new OutputStore.PathConflictException(relative, "a parent of it is a file");
            }
        }
    }

    /** True when no directory from {@code root} (exclusive) down to {@code dir} is a symbolic link. */
    static boolean noLinksBelow(Path root, Path dir) {
        Path current = root;
        for (Path part : root.relativize(dir)) {
            current = current.resolve(part);
            BasicFileAttributes at = attributes(current);
            if (at != null && at.isSymbolicLink()) {
                return false;
            }
        }
        return true;
    }

    /** True when {@code file} exists as a symbolic link (of any target, dangling too). */
    static boolean isLink(Path file) {
        BasicFileAttributes at = attributes(file);
        return at != null && at.isSymbolicLink();
    }

    /** The entry's own attributes (a link is a link), or null when there is none. */
    static BasicFileAttributes attributes(Path p) {
        try {
            return Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            return null;
        }
    }
}
