package io.flowget.job.run;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;

/**
 * One owner per {@code --state-dir}: an exclusive lock on {@code <state-dir>/lock}, held by a cold {@code flowget
 * run} for its whole life and by a {@code flowget daemon} for its. Two runs on one state dir would delete each
 * other's broker data and checkpoints and fetch each other's requests; with the lock the second one is refused at
 * once ({@link InUse}, the command line's usage status) — or, when the holder is a daemon that answers, it attaches
 * to it instead (decided by the command line before it gets here).
 *
 * <p>The lock is the operating system's ({@code fcntl} through {@link FileChannel#tryLock()}), so a process killed
 * with SIGKILL releases it with its last breath: a stale lock cannot exist. The file's content says who holds it
 * ({@code <pid> <kind>}, e.g. {@code 4711 daemon}), for the refusal message only; it is rewritten by each holder.
 *
 * <p>Thread-safe for {@link #close()}; acquired once by the thread that starts the run or the daemon.
 */
public final class StateDirLock implements AutoCloseable {
    /** The lock file's name in the state dir. */
    public static final String FILE = "lock";
    /**
     * The daemon's pointer file in the state dir (its pid and socket); a cold run that got the lock deletes a stale
     * one (its daemon is gone).
     */
    public static final String DAEMON_POINTER = "daemon.json";

    /** Who holds a state dir. */
    public enum Kind {
        RUN,
        DAEMON
    }

    /** The state dir is held by another process (or another run in this JVM). */
    public static final class InUse extends IllegalStateException {
        private final Kind holderKind;

        InUse(String message, Kind holderKind) {
            super(message);
            this.holderKind = holderKind;
        }

        /** What the holder says it is (RUN when it cannot be told). */
        public Kind holderKind() {
            return holderKind;
        }
    }

    private final Path stateDir;
    private final FileChannel channel;
    private final FileLock lock;

    private StateDirLock(Path stateDir, FileChannel channel, FileLock lock) {
        this.stateDir = stateDir;
        this.channel = channel;
        this.lock = lock;
    }

    /**
     * Takes the lock of {@code stateDir} (created if missing) for this process, or fails at once.
     *
     * @throws InUse when another process (or this one) holds it; the message names the holder and what to do
     */
    public static StateDirLock acquire(Path stateDir, Kind kind) throws IOException {
        Path dir = stateDir.toAbsolutePath().normalize();
        Files.createDirectories(dir);
        Path file = dir.resolve(FILE);
        FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE);
        FileLock l;
        try {
            l = ch.tryLock();
        } catch (OverlappingFileLockException sameJvm) {
            l = null;
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
        if (l == null) {
            ch.close();
            Holder h = holder(dir);
            throw new InUse(inUseMessage(dir, h), h.kind());
        }
        ch.truncate(0);
        ch.write(ByteBuffer.wrap((ProcessHandle.current().pid() + " " + kind.name().toLowerCase() + "\n")
                .getBytes(StandardCharsets.US_ASCII)), 0);
        ch.force(false);
        return new StateDirLock(dir, ch, l);
    }

    /** Who the lock file says holds (or held) {@code stateDir}; pid 0 when it cannot be read. */
    public record Holder(long pid, Kind kind) {}

    /** Reads the lock file's holder line (the lock itself may be free: the holder then ended). */
    public static Holder holder(Path stateDir) {
        try {
            String[] parts = Files.readString(stateDir.resolve(FILE), StandardCharsets.US_ASCII).trim().split(" ");
            Kind kind = parts.length > 1 && parts[1].equals("daemon") ? Kind.DAEMON : Kind.RUN;
            return new Holder(Long.parseLong(parts[0]), kind);
        } catch (IOException | RuntimeException unreadable) {
            return new Holder(0, Kind.RUN);
        }
    }

    /** The refusal text: who holds the state dir and what the user can do. */
    static String inUseMessage(Path stateDir, Holder h) {
        String who = h.kind() == Kind.DAEMON
                ? "a flowget daemon" + (h.pid() > 0 ? " (pid " + h.pid() + ")" : "") + " that does not answer"
                : "another flowget run" + (h.pid() > 0 ? " (pid " + h.pid() + ")" : "");
        return "state dir " + stateDir + " is in use by " + who
                + "; wait for it to end, or use another --state-dir"
                + (h.kind() == Kind.DAEMON ? " (flowget daemon stop --state-dir " + stateDir + ")" : "");
    }

    /**
     * The refusal text for a run that waited {@code waited} for the run a daemon is serving in {@code stateDir}: the
     * cold refusal's, naming the daemon and the wait.
     */
    public static String busyDaemonMessage(Path stateDir, long daemonPid, Duration waited) {
        return "state dir " + stateDir + " is in use by another flowget run (served by the daemon, pid " + daemonPid
                + ", still running after " + waited + "); wait for it to end (a longer --wait-for-daemon), or use"
                + " another --state-dir";
    }

    /** The state dir this lock holds (absolute). */
    public Path stateDir() {
        return stateDir;
    }

    /** Releases the lock (the file stays: deleting it would race with the next holder). Idempotent. */
    @Override
    public synchronized void close() throws IOException {
        if (channel.isOpen()) {
            try {
                lock.release();
            } finally {
                channel.close();
            }
        }
    }
}
