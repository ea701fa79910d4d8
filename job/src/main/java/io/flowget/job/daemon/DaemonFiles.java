package io.flowget.job.daemon;

import java.io.IOException;
import java.io.Reader;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Optional;
import java.util.Properties;

/**
 * Where a daemon of a state dir is found: its Unix-domain socket
 * {@code ${XDG_RUNTIME_DIR:-/tmp}/flowget-<uid>/<first 16 hex digits of SHA-256(state dir)>.sock} (a short path:
 * socket paths are limited to 107 bytes, a state dir's path is not; the directory is the user's own, mode 700), and
 * the pointer file {@code <state-dir>/daemon.json} (properties {@code pid}, {@code socket}, {@code parallelism})
 * that a client reads first. The pointer may outlive its daemon (SIGKILL): a client whose connect is refused treats
 * it as stale and runs cold; the cold run, holding the state dir's lock, deletes it.
 *
 * <p>Stateless. Deliberately free of Flink and Kafka classes: the client's JVM loads this before it decides to
 * attach.
 */
public final class DaemonFiles {
    /** The pointer file's name in the state dir (same as {@code StateDirLock.DAEMON_POINTER}). */
    public static final String POINTER = "daemon.json";

    private DaemonFiles() {}

    /** What the pointer says. */
    public record Pointer(long pid, Path socket, int parallelism) {}

    /** The socket path of {@code stateDir}'s daemon (absolute, normalized state dir). */
    public static Path socketPath(Path stateDir) {
        String runtime = System.getenv("XDG_RUNTIME_DIR");
        Path base = runtime != null && !runtime.isBlank() && Files.isDirectory(Path.of(runtime))
                ? Path.of(runtime)
                : Path.of("/tmp");
        return base.resolve("flowget-" + uid()).resolve(hash(stateDir.toAbsolutePath().normalize()) + ".sock");
    }

    /** Creates the socket's directory (mode 700) if missing. */
    public static void createSocketDir(Path socket) throws IOException {
        Path dir = socket.getParent();
        if (!Files.isDirectory(dir)) {
            Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        }
    }

    /** Reads the pointer of {@code stateDir}; empty when there is none or it is unreadable. */
    public static Optional<Pointer> read(Path stateDir) {
        Path f = stateDir.resolve(POINTER);
        if (!Files.isRegularFile(f)) {
            return Optional.empty();
        }
        Properties p = new Properties();
        try (Reader r = Files.newBufferedReader(f, StandardCharsets.UTF_8)) {
            p.load(r);
            return Optional.of(new Pointer(Long.parseLong(p.getProperty("pid")), Path.of(p.getProperty("socket")),
                    Integer.parseInt(p.getProperty("parallelism", "0"))));
        } catch (IOException | RuntimeException unreadable) {
            return Optional.empty();
        }
    }

    /** Writes the pointer atomically (temp file and rename). */
    public static void write(Path stateDir, Pointer pointer) throws IOException {
        Properties p = new Properties();
        p.setProperty("pid", Long.toString(pointer.pid()));
        p.setProperty("socket", pointer.socket().toString());
        p.setProperty("parallelism", Integer.toString(pointer.parallelism()));
        Path tmp = stateDir.resolve(POINTER + ".tmp");
        try (Writer w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
            p.store(w, "flowget daemon");
        }
        Files.move(tmp, stateDir.resolve(POINTER), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private static String uid() {
        try {
            return String.valueOf(Files.getAttribute(Path.of("/proc/self"), "unix:uid"));
        } catch (IOException | RuntimeException e) {
            return System.getProperty("user.name", "user");
        }
    }

    private static String hash(Path p) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(p.toString().getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(d, 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
