package io.flowget.udf.testing;

import io.flowget.udf.body.Codecs;

import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A slow origin meant to run in its own JVM (so that its objects stay out of a heap measurement of the client):
 * {@code /hold/...}, {@code /hold-gz/...}, {@code /hold-deflate/...}, {@code /hold-zstd/...} and {@code /hold-br/...}
 * answer with the head and the first 1 KiB of the body (identity, or coded gzip, deflate, zstd, br), then hold the
 * response open until told to finish it; {@code /quick/...} answers at once. Every
 * answer carries {@code Connection: close}, so the client keeps no idle connection afterwards. The body of every
 * path is {@link TestOrigin#content(String, int)} of {@code ("trickle", size)}.
 *
 * <p>Optional arguments: the bytes sent before holding (default 1 KiB), then {@code tls} (HTTPS offering HTTP/1.1
 * only in ALPN) or {@code tls-h2} (HTTPS offering {@code h2} as well, 4,096 concurrent streams per connection) and
 * the directory of a {@link TestCertificates} PKI the parent JVM made (its clients trust that CA).
 *
 * <p>Protocol on stdin/stdout, one line each: prints {@code port N} when listening; then {@code count} is answered
 * with {@code held N} (responses whose first KiB was flushed and that wait), {@code release} finishes all held
 * responses and answers {@code released N}; end of input stops the server and the JVM.
 *
 * <p>Usage: {@code java -cp <test classpath> io.flowget.udf.testing.TricklingOrigin <body-size> [<first-bytes>
 * [tls|tls-h2 <pki-dir>]]}
 */
public final class TricklingOrigin {
    /** Bytes of each held body sent before holding it, unless the second argument says otherwise. */
    static final int FIRST = 1024;

    private record Held(Response response, Callback callback, byte[] body) {}

    private TricklingOrigin() {}

    public static void main(String[] args) throws Exception {
        int size = Integer.parseInt(args[0]);
        int first = args.length > 1 ? Integer.parseInt(args[1]) : FIRST;
        String tls = args.length > 2 ? args[2] : null;
        byte[] plain = TestOrigin.content("trickle", size);
        // path segment after "/hold" -> Content-Encoding
        Map<String, String> codings =
                Map.of("-gz", "gzip", "-deflate", "deflate", "-zstd", "zstd", "-br", "br");
        Map<String, byte[]> coded = new java.util.HashMap<>();
        codings.values().forEach(c -> coded.put(c, Codecs.encode(plain, c)));
        Queue<Held> held = new ConcurrentLinkedQueue<>();
        AtomicInteger heldCount = new AtomicInteger();

        QueuedThreadPool threads = new QueuedThreadPool(64, 4);
        threads.setDaemon(true);
        threads.setName("trickle");
        Server server = new Server(threads);
        TestCertificates certs = tls == null ? null : TestCertificates.in(Path.of(args[3]));
        ServerConnector connector =
                certs == null
                        ? new ServerConnector(server, 1, 2)
                        : TlsConnectors.tls(server, certs, tls.equals("tls-h2"), 4096);
        connector.setHost("127.0.0.1");
        connector.setPort(0);
        connector.setAcceptQueueSize(4096);
        connector.setIdleTimeout(600_000);
        server.addConnector(connector);
        server.setHandler(
                new Handler.Abstract() {
                    @Override
                    public boolean handle(Request request, Response response, Callback callback) {
                        String path = request.getHttpURI().getPath();
                        String coding = null;
                        if (path.startsWith("/hold-")) {
                            coding = codings.get(path.substring("/hold".length(), path.indexOf('/', 1)));
                        }
                        byte[] body = coding == null ? plain : coded.get(coding);
                        response.setStatus(200);
                        response.getHeaders().put(HttpHeader.CONTENT_LENGTH, body.length);
                        response.getHeaders().put(HttpHeader.CONNECTION, "close");
                        if (coding != null) {
                            response.getHeaders().put(HttpHeader.CONTENT_ENCODING, coding);
                        }
                        if (!path.startsWith("/hold")) {
                            response.write(true, ByteBuffer.wrap(body), callback);
                            return true;
                        }
                        response.write(
                                false,
                                ByteBuffer.wrap(body, 0, first),
                                Callback.from(
                                        () -> {
                                            held.add(new Held(response, callback, body));
                                            heldCount.incrementAndGet();
                                        },
                                        callback::failed));
                        return true;
                    }
                });
        server.start();
        System.out.println("port " + connector.getLocalPort());
        System.out.flush();

        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            switch (line.trim()) {
                case "count":
                    System.out.println("held " + heldCount.get());
                    break;
                case "release":
                    int n = 0;
                    Held h;
                    while ((h = held.poll()) != null) {
                        heldCount.decrementAndGet();
                        h.response.write(true, ByteBuffer.wrap(h.body, first, h.body.length - first), h.callback);
                        n++;
                    }
                    System.out.println("released " + n);
                    break;
                default:
                    System.out.println("unknown " + line);
            }
            System.out.flush();
        }
        server.stop();
    }
}
