package io.flowget.job.daemon;

import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The loopback origin of the daemon's warm-up ({@link DaemonWarmUp}): Jetty on {@code 127.0.0.1} to
 * {@code 127.0.0.<hosts>} (each address one "host" to the fetcher, so politeness, connection pools and per-host
 * state work as for a real list), serving what a user's list usually holds: small files ({@code /s/N.bin}, 16 KiB,
 * one of {@link #VARIANTS} generated bodies) and one large file ({@code /large.bin}) that answers byte ranges with a
 * strong ETag, so the fetcher plans and fetches it in chunks. Bodies are generated once and shared, so the origin
 * holds {@code VARIANTS × 16 KiB + large} bytes however many requests a round makes.
 *
 * <p>Thread-safe: Jetty's threads serve from immutable bodies; {@link #requests()} counts what was answered. The
 * warm-up thread that started it closes it.
 */
final class WarmUpOrigin implements AutoCloseable {
    static final int SMALL_SIZE = 16 * 1024;
    static final int VARIANTS = 8;
    private static final Pattern RANGE = Pattern.compile("bytes=(\\d+)-(\\d*)");
    private static final String ETAG = "\"flowget-warm-up-1\"";
    private static final String LAST_MODIFIED = "Sat, 05 Dec 2026 00:00:00 GMT";
    private static final String DATE = "Sun, 06 Dec 2026 00:00:00 GMT";

    private final List<Server> servers = new ArrayList<>();
    private final List<String> bases = new ArrayList<>();
    private final byte[][] small = new byte[VARIANTS][];
    private final byte[] large;
    private final AtomicLong requests = new AtomicLong();

    private WarmUpOrigin(int largeSize) {
        for (int i = 0; i < VARIANTS; i++) {
            small[i] = generate(i, SMALL_SIZE);
        }
        large = generate(VARIANTS, largeSize);
    }

    /** Starts Jetty on {@code hosts} loopback addresses (1 to 16) with a large file of {@code largeSize} bytes. */
    static WarmUpOrigin start(int hosts, int largeSize) throws Exception {
        WarmUpOrigin o = new WarmUpOrigin(largeSize);
        try {
            for (int h = 1; h <= hosts; h++) {
                o.bases.add(o.startServer("127.0.0." + h));
            }
            return o;
        } catch (Exception | Error e) {
            o.close();
            throw e;
        }
    }

    /** The URL of small file {@code n}, on host {@code n mod hosts}. */
    String smallUrl(int n) {
        return bases.get(n % bases.size()) + "/s/" + n + ".bin";
    }

    /** The URL of the large file (on the first host). */
    String largeUrl() {
        return bases.get(0) + "/large.bin";
    }

    /** Responses sent so far. */
    long requests() {
        return requests.get();
    }

    private String startServer(String address) throws Exception {
        QueuedThreadPool pool = new QueuedThreadPool(16, 2);
        pool.setDaemon(true);
        pool.setName("flowget-warm-up-origin-" + address);
        Server server = new Server(pool);
        server.setStopTimeout(0); // no graceful wait for the fetcher's idle keep-alive connections at close
        servers.add(server);
        ServerConnector c = new ServerConnector(server, 1, 1);
        c.setHost(address);
        c.setPort(0);
        server.addConnector(c);
        server.setHandler(new Handler.Abstract() {
            @Override
            public boolean handle(Request request, Response response, Callback callback) {
                requests.incrementAndGet();
                String path = request.getHttpURI().getPath();
                if (path.equals("/large.bin")) {
                    serveLarge(request, response, callback);
                } else if (path.startsWith("/s/") && path.endsWith(".bin")) {
                    int n = parseIndex(path.substring(3, path.length() - 4));
                    if (n < 0) {
                        notFound(response, callback);
                    } else {
                        response.setStatus(200);
                        if (n % 2 == 1) {
                            nginxShape(response, n);
                        } else {
                            response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/octet-stream");
                            // the validators and range support a static file server sends (flowget keeps them)
                            response.getHeaders().put(HttpHeader.LAST_MODIFIED, LAST_MODIFIED);
                            response.getHeaders().put(HttpHeader.ETAG, "\"s" + n % VARIANTS + "\"");
                            response.getHeaders().put(HttpHeader.ACCEPT_RANGES, "bytes");
                            response.getHeaders().put(HttpHeader.CONTENT_LENGTH, SMALL_SIZE);
                        }
                        response.write(true, ByteBuffer.wrap(small[n % VARIANTS]).asReadOnlyBuffer(), callback);
                    }
                } else {
                    notFound(response, callback);
                }
                return true;
            }
        });
        server.start();
        return "http://" + address + ":" + c.getLocalPort();
    }

    /**
     * The header set and order nginx answers a static file with (HTTP/1.1 keep-alive): {@code Server}, {@code Date},
     * {@code Content-Type}, {@code Last-Modified}, {@code Connection: keep-alive}, an
     * {@code ETag} of nginx's form ({@code "mtime-length"} in hex) and {@code Accept-Ranges} (Jetty writes
     * {@code Content-Length} last). Half of the small files
     * answer this way: a round that only ever saw Jetty's set (no {@code Connection} header) left C2 code compiled for
     * that shape, which the first run against nginx deoptimized (HttpCore's {@code DefaultConnectionReuseStrategy
     * .keepAlive}, its header iterator and tokenizer: issue 16), so those methods climbed to C2 again inside the next
     * runs' fetch windows.
     */
    private static void nginxShape(Response response, int n) {
        response.getHeaders().put(HttpHeader.SERVER, "nginx");
        response.getHeaders().put(HttpHeader.DATE, DATE);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/octet-stream");
        response.getHeaders().put(HttpHeader.CONTENT_LENGTH, SMALL_SIZE);
        response.getHeaders().put(HttpHeader.LAST_MODIFIED, LAST_MODIFIED);
        // Jetty drops a known Connection: keep-alive from an HTTP/1.1 answer; as a field of no known header it is sent
        response.getHeaders().add(new HttpField((HttpHeader) null, "Connection", "keep-alive"));
        response.getHeaders().put(HttpHeader.ETAG, "\"6931f900-" + Integer.toHexString(SMALL_SIZE + n % VARIANTS) + "\"");
        response.getHeaders().put(HttpHeader.ACCEPT_RANGES, "bytes");
    }

    private void serveLarge(Request request, Response response, Callback callback) {
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/octet-stream");
        response.getHeaders().put(HttpHeader.ACCEPT_RANGES, "bytes");
        response.getHeaders().put(HttpHeader.ETAG, ETAG);
        response.getHeaders().put(HttpHeader.LAST_MODIFIED, LAST_MODIFIED);
        String range = request.getHeaders().get(HttpHeader.RANGE);
        Matcher m = range == null ? null : RANGE.matcher(range.trim());
        if (m == null || !m.matches()) {
            response.setStatus(200);
            response.getHeaders().put(HttpHeader.CONTENT_LENGTH, large.length);
            response.write(true, ByteBuffer.wrap(large).asReadOnlyBuffer(), callback);
            return;
        }
        long first = Long.parseLong(m.group(1));
        long last = m.group(2).isEmpty() ? large.length - 1 : Math.min(Long.parseLong(m.group(2)), large.length - 1);
        if (first >= large.length || last < first) {
            response.setStatus(416);
            response.getHeaders().put(HttpHeader.CONTENT_RANGE, "bytes */" + large.length);
            response.write(true, ByteBuffer.allocate(0), callback);
            return;
        }
        response.setStatus(206);
        response.getHeaders().put(HttpHeader.CONTENT_RANGE, "bytes " + first + "-" + last + "/" + large.length);
        response.getHeaders().put(HttpHeader.CONTENT_LENGTH, last - first + 1);
        response.write(true, ByteBuffer.wrap(large, (int) first, (int) (last - first + 1)).asReadOnlyBuffer(), callback);
    }

    private static void notFound(Response response, Callback callback) {
        response.setStatus(404);
        response.write(true, ByteBuffer.wrap("not found\n".getBytes(StandardCharsets.US_ASCII)), callback);
    }

    private static int parseIndex(String s) {
        if (s.isEmpty() || s.length() > 9) {
            return -1;
        }
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) < '0' || s.charAt(i) > '9') {
                return -1;
            }
        }
        return Integer.parseInt(s);
    }

    private static byte[] generate(int seed, int size) {
        byte[] b = new byte[size];
        new SplittableRandom(0x5EED0000L + seed).nextBytes(b);
        return b;
    }

    @Override
    public void close() throws Exception {
        Exception failure = null;
        for (Server s : servers) {
            try {
                s.stop();
            } catch (Exception e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }
}
