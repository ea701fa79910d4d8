package io.flowget.udf.testing;

import org.eclipse.jetty.alpn.server.ALPNServerConnectionFactory;
import org.eclipse.jetty.http2.HTTP2Cipher;
import org.eclipse.jetty.http2.server.HTTP2CServerConnectionFactory;
import org.eclipse.jetty.http2.server.HTTP2ServerConnectionFactory;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.SecureRequestCustomizer;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.SslConnectionFactory;
import org.eclipse.jetty.util.ssl.SslContextFactory;

/**
 * Builds Jetty's HTTPS connectors for {@link TestOrigin#startTls} and {@link TricklingOrigin}: TLS with the test
 * server certificate, ALPN choosing between {@code h2} and {@code http/1.1} (HTTP/1.1 for clients that offer no
 * ALPN), or offering {@code http/1.1} only; and the plain-text connector of {@link TestOrigin#startH2c} (HTTP/1.1 and
 * h2c with prior knowledge).
 */
final class TlsConnectors {
    private TlsConnectors() {}

    /**
     * TLS with the test server certificate, HTTP/1.1 only ({@code h2} false: ALPN offers nothing else), or with
     * {@code h2} and HTTP/1.1 where each HTTP/2 connection allows {@code maxStreams} concurrent streams (0: Jetty's default).
     */
    static ServerConnector tls(Server server, TestCertificates certs, boolean h2, int maxStreams) {
        HttpConfiguration http = new HttpConfiguration();
        SecureRequestCustomizer secure = new SecureRequestCustomizer();
        // Clients address the origin by IP; the certificate carries the IP as a SAN, SNI carries nothing.
        secure.setSniHostCheck(false);
        http.addCustomizer(secure);
        HttpConnectionFactory http11 = new HttpConnectionFactory(http);
        HTTP2ServerConnectionFactory http2 = new HTTP2ServerConnectionFactory(http);
        if (maxStreams > 0) {
            http2.setMaxConcurrentStreams(maxStreams);
        }
        // Negotiates among the connector's protocols: h2 only where the HTTP/2 factory is on it.
        ALPNServerConnectionFactory alpn = new ALPNServerConnectionFactory();
        alpn.setDefaultProtocol(http11.getProtocol());
        SslContextFactory.Server tls = new SslContextFactory.Server();
        tls.setKeyStorePath(certs.serverKeyStore().toString());
        tls.setKeyStorePassword(certs.password());
        tls.setKeyStoreType("PKCS12");
        tls.setCipherComparator(HTTP2Cipher.COMPARATOR);
        SslConnectionFactory ssl = new SslConnectionFactory(tls, alpn.getProtocol());
        return h2
                ? new ServerConnector(server, ssl, alpn, http2, http11)
                : new ServerConnector(server, ssl, alpn, http11);
    }

    /** Plain text: HTTP/1.1, and HTTP/2 for a client that starts with the HTTP/2 preface (prior knowledge). */
    static ServerConnector h2c(Server server, int maxStreams) {
        HttpConfiguration http = new HttpConfiguration();
        HTTP2CServerConnectionFactory h2c = new HTTP2CServerConnectionFactory(http);
        if (maxStreams > 0) {
            h2c.setMaxConcurrentStreams(maxStreams);
        }
        return new ServerConnector(server, new HttpConnectionFactory(http), h2c);
    }
}
