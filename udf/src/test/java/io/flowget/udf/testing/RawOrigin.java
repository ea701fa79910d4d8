package io.flowget.udf.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An HTTP/1.1 origin on a plain {@link ServerSocket}, for the misbehaviour a well-behaved server like Jetty will not
 * produce on purpose: a body cut short of its Content-Length, a connection reset in the middle of a body, a chunked
 * body without its last chunk. One request per connection: the handler writes raw bytes and the connection is closed
 * when it returns (unless the handler already closed or reset it).
 *
 * <p>Loopback only; one daemon thread accepts and one per connection serves; {@link #close()} closes every socket.
 */
public final class RawOrigin implements AutoCloseable {
    /** Writes the raw answer to one request; {@code n} is the 1-based number of this request to its path. */
    @FunctionalInterface
    public interface Handler {
        void handle(Exchange exchange, int n) throws IOException;
    }

    /** One request and its connection. */
    public static final class Exchange {
        private final Socket socket;
        private final String head;
        private final OutputStream out;

        Exchange(Socket socket, String head) throws IOException {
            this.socket = socket;
            this.head = head;
            this.out = socket.getOutputStream();
        }

        /** The request line and headers as received. */
        public String head() {
            return head;
        }

        /** Writes a response head (status line, the given header lines, blank line). */
        public Exchange head(int status, String... headerLines) throws IOException {
            StringBuilder sb = new StringBuilder("HTTP/1.1 ").append(status).append(" X\r\n");
            for (String h : headerLines) {
                sb.append(h).append("\r\n");
            }
            sb.append("\r\n");
            out.write(sb.toString().getBytes(StandardCharsets.ISO_8859_1));
            return this;
        }

        /** Writes body bytes as they are (no framing). */
        public Exchange write(byte[] bytes, int off, int len) throws IOException {
            out.write(bytes, off, len);
            out.flush();
            return this;
        }

        /** Writes one chunk of a chunked body. */
        public Exchange chunk(byte[] bytes, int off, int len) throws IOException {
            out.write((Integer.toHexString(len) + "\r\n").getBytes(StandardCharsets.ISO_8859_1));
            out.write(bytes, off, len);
            out.write("\r\n".getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            return this;
        }

        /** Ends the connection with a TCP reset instead of an orderly close. */
        public void reset() throws IOException {
            socket.setSoLinger(true, 0);
            socket.close();
        }

        /** Ends the connection in an orderly way (FIN). */
        public void close() throws IOException {
            socket.close();
        }
    }

    private final String address;
    private final ServerSocket server;
    private final Map<String, Handler> routes = new ConcurrentHashMap<>();
    private final Map<String, AtomicInteger> hits = new ConcurrentHashMap<>();
    private final Set<Socket> open = ConcurrentHashMap.newKeySet();
    private final Thread acceptor;

    public RawOrigin() throws IOException {
        this("127.0.0.1");
    }

    /** An origin on a loopback address (any of 127.0.0.0/8 works on Linux) and a free port. */
    public RawOrigin(String loopbackAddress) throws IOException {
        address = loopbackAddress;
        server = new ServerSocket();
        server.bind(new InetSocketAddress(InetAddress.getByName(loopbackAddress), 0), 128);
        acceptor = new Thread(this::acceptLoop, "raw-origin-" + server.getLocalPort());
        acceptor.setDaemon(true);
        acceptor.start();
    }

    public RawOrigin route(String path, Handler handler) {
        routes.put(path, handler);
        return this;
    }

    public String host() {
        return address;
    }

    /** True once {@link #close} was called: handlers that hold a connection open should return. */
    public boolean isClosed() {
        return server.isClosed();
    }

    public int port() {
        return server.getLocalPort();
    }

    public String url(String path) {
        return "http://" + address + ":" + port() + path;
    }

    public int hits(String path) {
        AtomicInteger a = hits.get(path);
        return a == null ? 0 : a.get();
    }

    private void acceptLoop() {
        while (!server.isClosed()) {
            try {
                Socket s = server.accept();
                open.add(s);
                Thread t = new Thread(() -> serve(s), "raw-origin-conn");
                t.setDaemon(true);
                t.start();
            } catch (IOException e) {
                return; // closed
            }
        }
    }

    private void serve(Socket s) {
        try (s) {
            s.setSoTimeout(30_000);
            String head = readHead(s.getInputStream());
            if (head == null) {
                return;
            }
            String target = head.substring(head.indexOf(' ') + 1);
            String path = target.substring(0, target.indexOf(' '));
            int n = hits.computeIfAbsent(path, p -> new AtomicInteger()).incrementAndGet();
            Exchange ex = new Exchange(s, head);
            Handler h = routes.get(path);
            if (h == null) {
                ex.head(404, "Content-Length: 0", "Connection: close");
            } else {
                h.handle(ex, n);
            }
            if (!s.isClosed()) {
                s.getOutputStream().flush();
                s.shutdownOutput();
                // Let the client read to the end before the socket goes away.
                s.getInputStream().read(new byte[256]);
            }
        } catch (SocketException closedOrReset) {
            // the handler reset the connection, or the client went away
        } catch (IOException e) {
            // the exchange is over either way
        } finally {
            open.remove(s);
        }
    }

    private static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        int state = 0;
        while (state < 4) {
            int b = in.read();
            if (b < 0) {
                return null;
            }
            buf.write(b);
            state = (b == '\r' && (state == 0 || state == 2)) || (b == '\n' && (state == 1 || state == 3)) ? state + 1 : 0;
            if (buf.size() > 64 * 1024) {
                throw new IOException("request head too large");
            }
        }
        return buf.toString(StandardCharsets.ISO_8859_1);
    }

    @Override
    public void close() throws IOException {
        server.close();
        for (Socket s : open) {
            try {
                s.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
    }
}
