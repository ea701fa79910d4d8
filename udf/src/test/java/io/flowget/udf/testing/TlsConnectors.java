package io.flowget.udf.testing;

import org.eclipse.jetty.alpn.server.ALPNServerConnectionFactory;
import org.eclipse.jetty.http2.HTTP2Cipher;
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
 * ALPN), or offering {@code http/1.1} only.
 */
final class TlsConnectors {
    private TlsConnectors() {}

    static ServerConnector h2AndHttp11(Server server, TestCertificates certs) {
        return tls(server, certs, true, 0);
    }

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
}
