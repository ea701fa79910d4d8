package io.flowget.job.daemon;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;

/**
 * The framed protocol between {@code flowget run} (or {@code flowget daemon status|stop}) and a daemon, over its
 * Unix-domain socket. Every frame is one type byte, a 4-byte big-endian length and that many bytes of payload
 * (at most {@link #MAX_PAYLOAD}).
 *
 * <p>Client to daemon, in this order: {@link #KIND} ({@code run}, {@code status} or {@code stop}), then for a run
 * {@link #CWD}, {@link #HOME} (the client's {@code FLOWGET_HOME}, may be empty), {@link #INTERACTIVE} ({@code 1}
 * when the client's stdout is a terminal), one {@link #ARG} per command-line argument of {@code run}, any number of
 * {@link #STDIN} chunks (the whole of standard input for {@code --urls -}), and {@link #GO}. After {@link #GO} the
 * client sends nothing more; closing the connection (the client ended, e.g. Ctrl-C) tells the daemon to abort the
 * run.
 *
 * <p>Daemon to client: any number of {@link #OUT} and {@link #ERR} chunks (the client writes them to its stdout and
 * stderr as they come: the progress line, the summary, messages), then one {@link #EXIT} with the 4-byte exit
 * status; the daemon closes the connection after it.
 *
 * <p>Stateless; a stream is owned by one thread at a time ({@link #write} callers synchronize on the stream).
 */
public final class DaemonProtocol {
    public static final byte KIND = 'K';
    public static final byte CWD = 'C';
    public static final byte HOME = 'H';
    public static final byte INTERACTIVE = 'I';
    public static final byte ARG = 'A';
    public static final byte STDIN = 'S';
    public static final byte GO = 'G';
    public static final byte OUT = 'O';
    public static final byte ERR = 'E';
    public static final byte EXIT = 'X';

    /** Largest payload of one frame; longer data goes in several. */
    public static final int MAX_PAYLOAD = 1 << 20;

    private DaemonProtocol() {}

    /** One frame read. */
    public record Frame(byte type, byte[] payload) {
        public String text() {
            return new String(payload, StandardCharsets.UTF_8);
        }

        /** The exit status of an {@link #EXIT} frame. */
        public int status() {
            if (payload.length != 4) {
                throw new IllegalStateException("bad exit frame of " + payload.length + " bytes");
            }
            return ((payload[0] & 0xff) << 24) | ((payload[1] & 0xff) << 16) | ((payload[2] & 0xff) << 8)
                    | (payload[3] & 0xff);
        }
    }

    /** Writes one frame (flushes). */
    public static void write(DataOutputStream out, byte type, byte[] payload, int off, int len) throws IOException {
        if (len > MAX_PAYLOAD) {
            throw new IllegalArgumentException("frame payload of " + len + " bytes");
        }
        out.writeByte(type);
        out.writeInt(len);
        out.write(payload, off, len);
        out.flush();
    }

    public static void write(DataOutputStream out, byte type, String text) throws IOException {
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        write(out, type, b, 0, b.length);
    }

    public static void writeExit(DataOutputStream out, int status) throws IOException {
        write(out, EXIT, new byte[] {(byte) (status >>> 24), (byte) (status >>> 16), (byte) (status >>> 8),
            (byte) status}, 0, 4);
    }

    /** Sends all of {@code in} as {@link #STDIN} frames. */
    public static void writeStdin(DataOutputStream out, InputStream in) throws IOException {
        byte[] buf = new byte[64 * 1024];
        int n;
        while ((n = in.read(buf)) > 0) {
            write(out, STDIN, buf, 0, n);
        }
    }

    /**
     * Reads one frame.
     *
     * @throws EOFException when the stream ends before a frame starts or in the middle of one
     * @throws IOException when a frame is larger than {@link #MAX_PAYLOAD}
     */
    public static Frame read(DataInputStream in) throws IOException {
        byte type = in.readByte();
        int len = in.readInt();
        if (len < 0 || len > MAX_PAYLOAD) {
            throw new IOException("bad frame length " + len);
        }
        byte[] b = new byte[len];
        in.readFully(b);
        return new Frame(type, b);
    }

    /**
     * An input stream reading {@code ch} directly. Not {@link java.nio.channels.Channels#newInputStream}: its blocking
     * read holds the channel's blocking lock, and a write through {@code Channels.newOutputStream} from another thread
     * (the daemon's answer while its watcher waits for the client to leave) would wait for it forever.
     */
    public static InputStream inputStream(SocketChannel ch) {
        return new InputStream() {
            @Override
            public int read() throws IOException {
                byte[] one = new byte[1];
                int n = read(one, 0, 1);
                return n < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                if (len == 0) {
                    return 0;
                }
                return ch.read(ByteBuffer.wrap(b, off, len));
            }
        };
    }

    /** An output stream whose single-byte write is a one-byte array write. */
    private abstract static class ArrayOutputStream extends OutputStream {
        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public abstract void write(byte[] b, int off, int len) throws IOException;
    }

    /** An output stream writing {@code ch} directly (see {@link #inputStream}). */
    public static OutputStream outputStream(SocketChannel ch) {
        return new ArrayOutputStream() {
            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                ByteBuffer buf = ByteBuffer.wrap(b, off, len);
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
            }
        };
    }

    /** An output stream that sends what is written to it as frames of one type (text of the progress line etc.). */
    public static OutputStream framing(DataOutputStream out, byte type) {
        return new ArrayOutputStream() {
            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                synchronized (out) {
                    while (len > 0) {
                        int n = Math.min(len, MAX_PAYLOAD);
                        DaemonProtocol.write(out, type, b, off, n);
                        off += n;
                        len -= n;
                    }
                }
            }
        };
    }
}
