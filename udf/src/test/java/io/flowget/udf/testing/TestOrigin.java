package io.flowget.udf.testing;

import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.SocketChannelEndPoint;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A real HTTP origin for tests: Jetty 12 on a loopback address, serving programmable routes. Counts requests per
 * path and tracks the most requests it ever served at once, so tests can assert politeness and retries.
 *
 * <p>{@link #startTls} serves HTTPS with HTTP/2 and HTTP/1.1 (ALPN) under a test CA, {@link #startH2c} plain HTTP/1.1
 * and HTTP/2 with prior knowledge. {@link #connectionsOpened()}
 * counts accepted TCP connections, for keep-alive and multiplexing tests.
 *
 * <p>Routes: {@link #file(String, byte[])} serves bytes; {@link #route(String, Route)} runs custom logic (status
 * sequences, redirects, slow bodies). Unknown paths answer 404.
 */
public final class TestOrigin implements AutoCloseable {
    /** Custom behaviour of one path; {@code n} is the 1-based number of this request to the path. */
    @FunctionalInterface
    public interface Route {
        void handle(Request request, Response response, Callback callback, int n) throws Exception;
    }

    private final Server server;
    private final ServerConnector connector;
    private final String host;
    private final String scheme;
    private final AtomicInteger connections = new AtomicInteger();
    private final Map<String, Route> routes = new ConcurrentHashMap<>();
    private final Map<String, AtomicInteger> hits = new ConcurrentHashMap<>();
    private final Map<String, List<String>> ranges = new ConcurrentHashMap<>();
    private final AtomicInteger active = new AtomicInteger();
    private final AtomicInteger maxActive = new AtomicInteger();
    private final AtomicInteger total = new AtomicInteger();

    /** Starts an origin on {@code 127.0.0.1} and a free port. */
    public static TestOrigin start() throws Exception {
        return start("127.0.0.1");
    }

    /** Starts an origin on a loopback address (any of 127.0.0.0/8 works on Linux) and a free port. */
    public static TestOrigin start(String loopbackAddress) throws Exception {
        return new TestOrigin(loopbackAddress, 0, null, false, 0);
    }

    /**
     * Starts an origin on a fixed loopback address and port, for tests whose URLs must be the same in every run
     * (a committed state snapshot holds them). Fails, naming the address, when the port cannot be bound.
     */
    public static TestOrigin start(String loopbackAddress, int port) throws Exception {
        if (port <= 0) {
            throw new IllegalArgumentException("a fixed port is positive: " + port);
        }
        return new TestOrigin(loopbackAddress, port, null, false, 0);
    }

    /**
     * Starts an HTTPS origin that offers HTTP/2 and HTTP/1.1 through ALPN, with a server certificate issued by
     * the test CA of {@code certs} (trust {@link TestCertificates#caPem()} on the client side).
     */
    public static TestOrigin startTls(String loopbackAddress, TestCertificates certs) throws Exception {
        return new TestOrigin(loopbackAddress, 0, certs, false, 0);
    }

    /**
     * Starts an HTTPS origin like {@link #startTls}, whose HTTP/2 connections allow {@code maxStreams} concurrent
     * streams (0: Jetty's default, 128).
     */
    public static TestOrigin startTls(String loopbackAddress, TestCertificates certs, int maxStreams)
            throws Exception {
        return new TestOrigin(loopbackAddress, 0, certs, false, maxStreams);
    }

    /**
     * Starts a plain-text origin that speaks HTTP/1.1 and HTTP/2 with prior knowledge (h2c, what
     * {@code flowget.http.version=HTTP_2} sends on {@code http://}), {@code maxStreams} concurrent streams per
     * HTTP/2 connection (0: Jetty's default, 128).
     */
    public static TestOrigin startH2c(String loopbackAddress, int maxStreams) throws Exception {
        return new TestOrigin(loopbackAddress, 0, null, true, maxStreams);
    }

    private TestOrigin(String host, int port, TestCertificates certs, boolean h2c, int maxStreams) throws Exception {
        this.host = host;
        this.scheme = certs == null ? "http" : "https";
        QueuedThreadPool threads = new QueuedThreadPool(64, 4);
        threads.setName("origin-" + host);
        threads.setDaemon(true);
        server = new Server(threads);
        // The TLS connector lives in its own class so that users of plain origins need no HTTP/2 jars.
        connector =
                certs != null
                        ? TlsConnectors.tls(server, certs, true, maxStreams)
                        : h2c ? TlsConnectors.h2c(server, maxStreams) : new ServerConnector(server);
        connector.addEventListener(
                new Connection.Listener() {
                    @Override
                    public void onOpened(Connection c) {
                        // TLS and ALPN stack several Connection objects on one socket: count the socket's.
                        if (c.getEndPoint() instanceof SocketChannelEndPoint) {
                            connections.incrementAndGet();
                        }
                    }
                });
        connector.setHost(host);
        connector.setPort(port);
        server.addConnector(connector);
        server.setHandler(
                new Handler.Abstract() {
                    @Override
                    public boolean handle(Request request, Response response, Callback callback) throws Exception {
                        String path = request.getHttpURI().getPathQuery();
                        int n = hits.computeIfAbsent(path, p -> new AtomicInteger()).incrementAndGet();
                        String range = request.getHeaders().get("Range");
                        ranges.computeIfAbsent(path, p -> new CopyOnWriteArrayList<>())
                                .add(range == null ? "" : range);
                        total.incrementAndGet();
                        int now = active.incrementAndGet();
                        maxActive.accumulateAndGet(now, Math::max);
                        Callback done =
                                Callback.from(callback, () -> active.decrementAndGet());
                        Route r = routes.get(path);
                        if (r == null) {
                            r = routes.get(request.getHttpURI().getPath());
                        }
                        if (r == null) {
                            response.setStatus(404);
                            response.write(true, ByteBuffer.wrap("not found".getBytes()), done);
                        } else {
                            r.handle(request, response, done, n);
                        }
                        return true;
                    }
                });
        try {
            server.start();
        } catch (Exception e) {
            server.stop();
            if (port == 0) {
                throw e;
            }
            throw new IllegalStateException(
                    "cannot bind the test origin to " + host + ":" + port + " (is another process using it?)", e);
        }
    }

    public String host() {
        return host;
    }

    public int port() {
        return connector.getLocalPort();
    }

    /** Absolute URL of a path on this origin. */
    public String url(String path) {
        return scheme + "://" + host + ":" + port() + path;
    }

    /** Serves fixed bytes at a path. */
    public TestOrigin file(String path, byte[] body) {
        routes.put(path, (req, resp, cb, n) -> send(resp, cb, 200, body));
        return this;
    }

    /** Installs custom behaviour at a path. */
    public TestOrigin route(String path, Route route) {
        routes.put(path, route);
        return this;
    }

    /** Answers with a status and body. */
    public static void send(Response response, Callback callback, int status, byte[] body) {
        response.setStatus(status);
        response.getHeaders().put(HttpHeader.CONTENT_LENGTH, body.length);
        response.write(true, ByteBuffer.wrap(body), callback);
    }

    /** Answers with a redirect to {@code location}. */
    public static void redirect(Response response, Callback callback, int status, String location) {
        response.setStatus(status);
        response.getHeaders().put(HttpHeader.LOCATION, location);
        response.getHeaders().put(HttpHeader.CONTENT_LENGTH, 0);
        response.write(true, ByteBuffer.allocate(0), callback);
    }

    /** Deterministic pseudo-random bytes for a name, so tests can re-create expected content. */
    public static byte[] content(String name, int size) {
        byte[] b = new byte[size];
        new Random(name.hashCode() * 31L + size).nextBytes(b);
        return b;
    }

    /**
     * The {@code Range} header of each request for {@code path} so far, in arrival order ({@code ""} for a request
     * without one); element {@code i} belongs to the request {@link #hits} counted as {@code i + 1}.
     */
    public List<String> ranges(String path) {
        List<String> r = ranges.get(path);
        return r == null ? List.of() : List.copyOf(r);
    }

    public int hits(String path) {
        AtomicInteger a = hits.get(path);
        return a == null ? 0 : a.get();
    }

    public int totalRequests() {
        return total.get();
    }

    /** TCP connections accepted so far (keep-alive and HTTP/2 multiplexing keep this low). */
    public int connectionsOpened() {
        return connections.get();
    }

    /** Requests being served right now. */
    public int activeRequests() {
        return active.get();
    }

    /** Most requests this origin ever served at the same time. */
    public int maxConcurrent() {
        return maxActive.get();
    }

    @Override
    public void close() throws Exception {
        server.stop();
    }
}
