package io.flowget.udf.http;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.testing.TestCertificates;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.Configuration;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;

import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The HTTP client's own SSL context keeps at most {@code flowget.tls.session-cache-size} TLS sessions of at most
 * {@code flowget.tls.session-timeout}: against a real Jetty HTTPS origin on loopback (TLS 1.3), more connections
 * opened at once than the bound leave no more sessions than the bound in its client session cache, while a context
 * with the JDK's defaults keeps one per connection (s6: ~7.6 MiB after 2,200 connections). Connections opened one
 * after the other resume one session and add none.
 */
class TlsSessionCacheTest {
    private static final int CONNECTIONS = 24;

    private TestOrigin origin;

    @BeforeEach
    void start() throws Exception {
        origin = TestOrigin.startTls("127.0.0.1", TestCertificates.get());
        origin.file("/s", "s".getBytes(StandardCharsets.US_ASCII));
    }

    @AfterEach
    void stop() throws Exception {
        origin.close();
    }

    @Test
    void theClientKeepsNoMoreSessionsThanItsBound() throws Exception {
        Configuration conf = new Configuration();
        conf.set(FlowgetOptions.TLS_CA_CERT, TestCertificates.get().caPem().toString());
        conf.set(FlowgetOptions.TLS_SESSION_CACHE_SIZE, 8);
        conf.set(FlowgetOptions.TLS_SESSION_TIMEOUT, Duration.ofMinutes(10));
        SSLContext bounded = HttpClientHolder.sslContext(HttpClientSettings.from(conf));
        SSLContext jdkDefaults = HttpClientHolder.sslContextTrusting(TestCertificates.get().caPem());

        fetchOverConcurrentConnections(bounded);
        fetchOverConcurrentConnections(jdkDefaults);

        assertThat(sessions(jdkDefaults)).as("sessions kept with the JDK's defaults").isGreaterThan(8);
        assertThat(sessions(bounded)).as("sessions kept by flowget's context").isBetween(1, 8);
        assertThat(bounded.getClientSessionContext().getSessionTimeout()).isEqualTo(600);
        assertThat(origin.connectionsOpened()).isEqualTo(2 * CONNECTIONS);
    }

    @Test
    void theDefaultsAreBoundedAndBadValuesNameTheirOption() {
        SSLContext defaults = HttpClientHolder.sslContext(HttpClientSettings.from(new Configuration()));
        assertThat(defaults.getClientSessionContext().getSessionCacheSize()).isEqualTo(1024);
        assertThat(defaults.getClientSessionContext().getSessionTimeout()).isEqualTo(3600);

        Configuration zero = new Configuration();
        zero.set(FlowgetOptions.TLS_SESSION_CACHE_SIZE, 0);
        assertThatThrownBy(() -> HttpClientHolder.sslContext(HttpClientSettings.from(zero)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("flowget.tls.session-cache-size");
        Configuration instant = new Configuration();
        instant.set(FlowgetOptions.TLS_SESSION_TIMEOUT, Duration.ofMillis(500));
        assertThatThrownBy(() -> HttpClientHolder.sslContext(HttpClientSettings.from(instant)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("flowget.tls.session-timeout");
    }

    /**
     * One HTTP/1.1 request over each of {@link #CONNECTIONS} new TLS connections, all handshaken before any is read:
     * as a pool opening connections to a busy origin at once, none can resume a session (a TLS 1.3 session ticket
     * arrives after its handshake), so each brings its own session to the cache.
     */
    private void fetchOverConcurrentConnections(SSLContext ctx) throws Exception {
        List<SSLSocket> sockets = new ArrayList<>();
        try {
            for (int i = 0; i < CONNECTIONS; i++) {
                SSLSocket socket = (SSLSocket) ctx.getSocketFactory().createSocket(origin.host(), origin.port());
                sockets.add(socket);
                socket.setSoTimeout(30_000);
                socket.startHandshake();
            }
            for (SSLSocket socket : sockets) {
                OutputStream out = socket.getOutputStream();
                out.write(("GET /s HTTP/1.1\r\nHost: " + origin.host() + "\r\nConnection: close\r\n\r\n")
                        .getBytes(StandardCharsets.US_ASCII));
                out.flush();
                InputStream in = socket.getInputStream();
                assertThat(new String(in.readAllBytes(), StandardCharsets.US_ASCII)).startsWith("HTTP/1.1 200");
            }
        } finally {
            for (SSLSocket socket : sockets) {
                socket.close();
            }
        }
    }

    private static int sessions(SSLContext ctx) {
        return Collections.list(ctx.getClientSessionContext().getIds()).size();
    }
}
