package io.flowget.job.daemon;

import io.flowget.udf.config.FlowgetOptions;

import org.apache.flink.configuration.Configuration;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The shape of the warm-up's traffic (issue 16): the first run against nginx after a warm-up against Jetty's answers
 * only, at the default concurrency, deoptimized C2 code compiled in the warm-up (HttpCore's keep-alive decision on a
 * {@code Connection} header, the pool's pending leases), so the warm-up now answers half of its small files with
 * nginx's header set and runs every second round at the pool's per-route limit. Real Jetty on loopback, read over a
 * raw socket so the headers are seen as sent.
 */
class WarmUpShapeTest {
    @Test
    void oddSmallFilesAnswerWithNginxsHeadersAndEvenOnesWithJettysOwn() throws Exception {
        try (WarmUpOrigin o = WarmUpOrigin.start(1, 1024)) {
            Answer odd = get(o.smallUrl(1));
            assertThat(odd.status).isEqualTo("HTTP/1.1 200 OK");
            assertThat(odd.names()).containsSubsequence("server", "date", "content-type", "last-modified",
                    "connection", "etag", "accept-ranges").contains("content-length");
            assertThat(odd.value("connection")).isEqualTo("keep-alive");
            assertThat(odd.value("server")).isEqualTo("nginx");
            assertThat(odd.value("etag")).matches("\"[0-9a-f]+-[0-9a-f]+\"");
            assertThat(odd.body).hasSize(WarmUpOrigin.SMALL_SIZE);

            Answer even = get(o.smallUrl(2));
            assertThat(even.status).isEqualTo("HTTP/1.1 200 OK");
            assertThat(even.names()).doesNotContain("connection").contains("etag", "last-modified", "accept-ranges");
            assertThat(even.value("etag")).isEqualTo("\"s2\"");
            assertThat(even.body).hasSize(WarmUpOrigin.SMALL_SIZE);
            assertThat(o.requests()).isEqualTo(2);
        }
    }

    @Test
    void everySecondRoundRunsAtThePoolsPerRouteLimitAndTheDaemonsSettingsStayAsTheyAre() {
        Configuration daemon = new Configuration();
        daemon.setString("taskmanager.memory.network.max", "64mb");
        assertThat(DaemonWarmUp.roundSettings(daemon, 1).get(FlowgetOptions.HOST_MAX_CONCURRENCY))
                .isEqualTo(FlowgetOptions.HOST_MAX_CONCURRENCY.defaultValue());
        assertThat(DaemonWarmUp.roundSettings(daemon, 2).get(FlowgetOptions.HOST_MAX_CONCURRENCY))
                .isEqualTo(FlowgetOptions.HTTP_POOL_MAX_PER_ROUTE.defaultValue());
        assertThat(DaemonWarmUp.roundSettings(daemon, 3).get(FlowgetOptions.HOST_MAX_CONCURRENCY))
                .isEqualTo(FlowgetOptions.HOST_MAX_CONCURRENCY.defaultValue());
        assertThat(DaemonWarmUp.roundSettings(daemon, 2).getString("taskmanager.memory.network.max", null))
                .isEqualTo("64mb");

        daemon.set(FlowgetOptions.HTTP_POOL_MAX_PER_ROUTE, 16);
        assertThat(DaemonWarmUp.roundSettings(daemon, 4).get(FlowgetOptions.HOST_MAX_CONCURRENCY)).isEqualTo(16);
        assertThat(daemon.contains(FlowgetOptions.HOST_MAX_CONCURRENCY)).isFalse();
    }

    private record Answer(String status, List<String[]> headers, byte[] body) {
        List<String> names() {
            List<String> n = new ArrayList<>();
            for (String[] h : headers) {
                n.add(h[0]);
            }
            return n;
        }

        String value(String name) {
            for (String[] h : headers) {
                if (h[0].equals(name)) {
                    return h[1];
                }
            }
            return null;
        }
    }

    private static Answer get(String url) throws IOException {
        URI u = URI.create(url);
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(u.getHost(), u.getPort()), 10_000);
            s.setSoTimeout(10_000);
            OutputStream out = s.getOutputStream();
            out.write(("GET " + u.getPath() + " HTTP/1.1\r\nHost: " + u.getHost() + "\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = s.getInputStream();
            String status = line(in);
            List<String[]> headers = new ArrayList<>();
            int length = -1;
            for (String l = line(in); !l.isEmpty(); l = line(in)) {
                int colon = l.indexOf(':');
                String name = l.substring(0, colon).trim().toLowerCase(Locale.ROOT);
                String value = l.substring(colon + 1).trim();
                headers.add(new String[] {name, value});
                if (name.equals("content-length")) {
                    length = Integer.parseInt(value);
                }
            }
            byte[] body = in.readNBytes(Math.max(length, 0));
            return new Answer(status, headers, body);
        }
    }

    private static String line(InputStream in) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        for (int c = in.read(); c >= 0 && c != '\n'; c = in.read()) {
            if (c != '\r') {
                b.write(c);
            }
        }
        return b.toString(StandardCharsets.US_ASCII);
    }
}
