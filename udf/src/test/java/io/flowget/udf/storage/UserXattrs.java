package io.flowget.udf.storage;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.UserDefinedFileAttributeView;
import java.util.List;

/** Test access to user extended attributes: a support probe, and raw reads that pin the persisted names. */
final class UserXattrs {
    private UserXattrs() {}

    /** Whether files in {@code dir} take user xattrs (tmpfs without user_xattr, some overlays do not). */
    static boolean supported(Path dir) {
        Path probe = null;
        try {
            probe = Files.createTempFile(dir, "xattr-probe", "");
            UserDefinedFileAttributeView view = Files.getFileAttributeView(probe, UserDefinedFileAttributeView.class);
            if (view == null) {
                return false;
            }
            view.write("flowget.probe", StandardCharsets.UTF_8.encode("1"));
            return view.list().contains("flowget.probe");
        } catch (IOException | UnsupportedOperationException e) {
            return false;
        } finally {
            if (probe != null) {
                try {
                    Files.deleteIfExists(probe);
                } catch (IOException ignored) {
                    // @TempDir cleans up
                }
            }
        }
    }

    /** The names of the file's user xattrs, without the {@code user.} namespace. */
    static List<String> names(Path file) throws IOException {
        return view(file).list();
    }

    /** The value of a user xattr as UTF-8, or null when absent. */
    static String read(Path file, String name) throws IOException {
        UserDefinedFileAttributeView view = view(file);
        if (!view.list().contains(name)) {
            return null;
        }
        ByteBuffer buf = ByteBuffer.allocate(view.size(name));
        view.read(name, buf);
        buf.flip();
        return StandardCharsets.UTF_8.decode(buf).toString();
    }

    static void write(Path file, String name, String value) throws IOException {
        view(file).write(name, StandardCharsets.UTF_8.encode(value));
    }

    private static UserDefinedFileAttributeView view(Path file) {
        return Files.getFileAttributeView(file, UserDefinedFileAttributeView.class);
    }
}
