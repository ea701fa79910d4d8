package io.flowget.job.demo;

import io.flowget.udf.body.Digests;

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
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The data set and origin of {@code flowget demo}: Jetty on four loopback addresses (127.0.0.1–127.0.0.4, four
 * "hosts" to the fetcher), serving deterministic generated files — many small ones (1–64 KiB), a few large
 * ones (16 MiB), a redirect, and files that answer 503 once so that retries show. The request list carries the
 * expected SHA-256 of every file, so the run itself proves the bytes. The {@code demo} command
 * ({@code io.flowget.job.cli.FlowgetCli}) starts it, downloads {@link #requestLines()} with {@code run}, and closes it.
 *
 * <p>Thread-safe: Jetty's threads serve requests concurrently from concurrent maps; whoever started it owns it
 * and closes it.
 */
public final class DemoOrigin implements AutoCloseable {
    /** Loopback addresses served: 127.0.0.1 to 127.0.0.{HOSTS}. */
    public static final int HOSTS = 4;
    static final int LARGE_SIZE = 16 * 1024 * 1024;

    private final List<Server> servers = new ArrayList<>();
    private final Map<String, byte[]> files = new ConcurrentHashMap<>();
    private final Map<String, AtomicInteger> hits = new ConcurrentHashMap<>();
    private final List<String> requestLines = new ArrayList<>();

    private DemoOrigin() {}

    /** Starts the origin with {@code small} small files and {@code large} 16 MiB files spread over the hosts. */
    public static DemoOrigin start(int small, int large) throws Exception {
        DemoOrigin o = new DemoOrigin();
        List<String> bases = new ArrayList<>();
        for (int h = 1; h <= HOSTS; h++) {
            bases.add(o.startServer("127.0.0." + h));
        }
        SplittableRandom sizes = new SplittableRandom(20261128);
        for (int i = 0; i < small + large; i++) {
            boolean isLarge = i >= small;
            int size = isLarge ? LARGE_SIZE : 1024 + sizes.nextInt(63 * 1024);
            String path = (isLarge ? "/large/" : "/files/") + String.format("f%05d.bin", i);
            byte[] body = generate(i, size);
            o.files.put(path, body);
            String base = bases.get(i % HOSTS);
            String url = base + path;
            if (!isLarge && i % 50 == 7) {
                // flaky: the first request answers 503 (the fetcher retries with backoff)
                o.files.put(path + "#flaky", body);
            }
            if (!isLarge && i % 97 == 3) {
                url = base + "/go" + path; // redirect to the file
            }
            o.requestLines.add(
                    "{\"url\":\"" + url + "\",\"sha256\":\"" + Digests.sha256Hex(body) + "\"}");
        }
        return o;
    }

    private String startServer(String address) throws Exception {
        QueuedThreadPool pool = new QueuedThreadPool(32, 2);
        pool.setDaemon(true);
        pool.setName("demo-origin-" + address);
        Server server = new Server(pool);
        ServerConnector c = new ServerConnector(server);
        c.setHost(address);
        c.setPort(0);
        server.addConnector(c);
        server.setHandler(
                new Handler.Abstract() {
                    @Override
                    public boolean handle(Request request, Response response, Callback callback) {
                        String path = request.getHttpURI().getPath();
                        if (path.startsWith("/go/")) {
                            response.setStatus(302);
                            response.getHeaders().put(HttpHeader.LOCATION, path.substring(3));
                            response.getHeaders().put(HttpHeader.CONTENT_LENGTH, 0);
                            response.write(true, ByteBuffer.allocate(0), callback);
                            return true;
                        }
                        byte[] body = files.get(path);
                        int n = hits.computeIfAbsent(path, p -> new AtomicInteger()).incrementAndGet();
                        if (body == null) {
                            response.setStatus(404);
                            response.write(true, ByteBuffer.wrap("not found\n".getBytes(StandardCharsets.UTF_8)), callback);
                        } else if (n == 1 && files.containsKey(path + "#flaky")) {
                            response.setStatus(503);
                            response.getHeaders().put("Retry-After", "1");
                            response.write(true, ByteBuffer.allocate(0), callback);
                        } else {
                            response.setStatus(200);
                            response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/octet-stream");
                            response.getHeaders().put(HttpHeader.CONTENT_LENGTH, body.length);
                            response.write(true, ByteBuffer.wrap(body), callback);
                        }
                        return true;
                    }
                });
        server.start();
        servers.add(server);
        return "http://" + address + ":" + c.getLocalPort();
    }

    /** One JSON request per file, with its expected SHA-256. */
    public List<String> requestLines() {
        return requestLines;
    }

    /** Total bytes served once per file. */
    public long totalBytes() {
        return files.entrySet().stream()
                .filter(e -> !e.getKey().endsWith("#flaky"))
                .mapToLong(e -> e.getValue().length)
                .sum();
    }

    @Override
    public void close() throws Exception {
        for (Server s : servers) {
            s.stop();
        }
    }

    static byte[] generate(int index, int size) {
        byte[] b = new byte[size];
        SplittableRandom r = new SplittableRandom(index * 0x9E3779B97F4A7C15L);
        for (int i = 0; i < size; i += 8) {
            long v = r.nextLong();
            for (int k = 0; k < 8 && i + k < size; k++) {
                b[i + k] = (byte) (v >>> (8 * k));
            }
        }
        return b;
    }
}
