package io.flowget.job.daemon;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * The client side of a daemon ({@link DaemonProtocol}): connects to the daemon serving a state dir, sends a request
 * and copies what the daemon streams back to this process's stdout and stderr until the exit status comes.
 *
 * <p>Used by {@code flowget run} before it loads anything of Flink or Kafka, so a run through a daemon costs a small
 * JVM; and by {@code flowget daemon status|stop}. If this process dies (Ctrl-C, SIGKILL) the connection closes and
 * the daemon aborts the run: the state dir then holds a resumable run.
 *
 * <p>Not thread-safe: one request per instance, on the caller's thread.
 */
public final class DaemonClient implements AutoCloseable {
    /** The exit status when the daemon closed the connection without sending one (it died mid-run). */
    public static final int LOST = 70;

    private final SocketChannel channel;
    private final DataInputStream in;
    private final DataOutputStream out;
    private final DaemonFiles.Pointer pointer;

    private DaemonClient(SocketChannel channel, DaemonFiles.Pointer pointer) {
        this.channel = channel;
        this.pointer = pointer;
        this.in = new DataInputStream(new BufferedInputStream(DaemonProtocol.inputStream(channel)));
        this.out = new DataOutputStream(new BufferedOutputStream(DaemonProtocol.outputStream(channel)));
    }

    /**
     * Connects to the daemon serving {@code stateDir}; empty when there is no pointer or nothing answers on its socket
     * (no daemon, or a killed one's stale pointer).
     */
    public static Optional<DaemonClient> connect(Path stateDir) {
        Optional<DaemonFiles.Pointer> p = DaemonFiles.read(stateDir.toAbsolutePath().normalize());
        if (p.isEmpty()) {
            return Optional.empty();
        }
        SocketChannel ch = null;
        try {
            ch = SocketChannel.open(StandardProtocolFamily.UNIX);
            ch.connect(UnixDomainSocketAddress.of(p.get().socket()));
            return Optional.of(new DaemonClient(ch, p.get()));
        } catch (IOException | RuntimeException refusedOrGone) {
            if (ch != null) {
                try {
                    ch.close();
                } catch (IOException ignored) {
                    // nothing to do
                }
            }
            return Optional.empty();
        }
    }

    /** The daemon's pointer (pid, socket). */
    public DaemonFiles.Pointer pointer() {
        return pointer;
    }

    /**
     * Has the daemon run {@code flowget run <args>} as if in {@code cwd}; copies its output to {@code stdout} and
     * {@code stderr}; returns its exit status.
     *
     * @param stdin all of standard input for {@code --urls -}, else null
     */
    public int run(List<String> args, Path cwd, String flowgetHome, boolean interactive, InputStream stdin,
            OutputStream stdout, OutputStream stderr) throws IOException {
        DaemonProtocol.write(out, DaemonProtocol.KIND, "run");
        DaemonProtocol.write(out, DaemonProtocol.CWD, cwd.toAbsolutePath().toString());
        DaemonProtocol.write(out, DaemonProtocol.HOME, flowgetHome == null ? "" : flowgetHome);
        DaemonProtocol.write(out, DaemonProtocol.INTERACTIVE, interactive ? "1" : "0");
        for (String a : args) {
            DaemonProtocol.write(out, DaemonProtocol.ARG, a);
        }
        if (stdin != null) {
            DaemonProtocol.writeStdin(out, stdin);
        }
        DaemonProtocol.write(out, DaemonProtocol.GO, "");
        return follow(stdout, stderr);
    }

    /**
     * Sends a {@code status} or {@code stop} request with its arguments (stop: {@code --wait-for-run DURATION}) and
     * copies the answer; returns the daemon's status.
     */
    public int request(String kind, List<String> args, OutputStream stdout, OutputStream stderr) throws IOException {
        DaemonProtocol.write(out, DaemonProtocol.KIND, kind);
        for (String a : args) {
            DaemonProtocol.write(out, DaemonProtocol.ARG, a);
        }
        DaemonProtocol.write(out, DaemonProtocol.GO, "");
        return follow(stdout, stderr);
    }

    private int follow(OutputStream stdout, OutputStream stderr) throws IOException {
        while (true) {
            DaemonProtocol.Frame f;
            try {
                f = DaemonProtocol.read(in);
            } catch (EOFException daemonGone) {
                stderr.write(("flowget: the daemon (pid " + pointer.pid() + ") closed the connection without an"
                        + " exit status; rerun the same command to resume\n").getBytes());
                stderr.flush();
                return LOST;
            }
            switch (f.type()) {
                case DaemonProtocol.OUT -> {
                    stdout.write(f.payload());
                    stdout.flush();
                }
                case DaemonProtocol.ERR -> {
                    stderr.write(f.payload());
                    stderr.flush();
                }
                case DaemonProtocol.EXIT -> {
                    return f.status();
                }
                default -> throw new IOException("unexpected frame type " + (char) f.type());
            }
        }
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
