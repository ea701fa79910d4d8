package io.flowget.job.release;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.Optional;

/**
 * The few Kubernetes API calls a release needs, over the JDK's HTTP client: read a custom resource and change it
 * with a JSON merge patch ({@code application/merge-patch+json}, RFC 7386). No client library: the cluster jar stays
 * small, and the calls are plain REST on {@code /apis/GROUP/VERSION/namespaces/NS/PLURAL/NAME}.
 *
 * <p>In a pod, {@link #inCluster()} uses the service account (token, CA certificate, {@code KUBERNETES_SERVICE_HOST});
 * elsewhere give the API server's URL and, optionally, a bearer token and a CA file. Every call is bounded by
 * {@link #TIMEOUT}. Thread-safe (the JDK client is).
 */
public final class KubernetesApi {
    /** Bound of one call: connect plus response. */
    public static final Duration TIMEOUT = Duration.ofSeconds(30);

    static final Path SERVICE_ACCOUNT = Path.of("/var/run/secrets/kubernetes.io/serviceaccount");
    private static final ObjectMapper JSON = new ObjectMapper();

    private final URI server;
    private final Optional<String> token;
    private final HttpClient http;

    /** A failed call: the HTTP status (0 when no answer came) and the API server's message. */
    public static final class ApiException extends IOException {
        private final int status;

        ApiException(int status, String message) {
            super(message);
            this.status = status;
        }

        public int status() {
            return status;
        }
    }

    public KubernetesApi(URI server, Optional<String> token, Optional<Path> caCert) throws IOException {
        this.server = server;
        this.token = token;
        HttpClient.Builder b = HttpClient.newBuilder().connectTimeout(TIMEOUT);
        if (caCert.isPresent()) {
            b.sslContext(trusting(caCert.get()));
        }
        this.http = b.build();
    }

    /** The API server of the pod this runs in, with the pod's service account. */
    public static KubernetesApi inCluster() throws IOException {
        String host = System.getenv("KUBERNETES_SERVICE_HOST");
        String port = System.getenv().getOrDefault("KUBERNETES_SERVICE_PORT", "443");
        if (host == null) {
            throw new IOException("not in a pod (KUBERNETES_SERVICE_HOST unset): give --api-server");
        }
        String h = host.contains(":") ? "[" + host + "]" : host;
        return new KubernetesApi(
                URI.create("https://" + h + ":" + port),
                Optional.of(Files.readString(SERVICE_ACCOUNT.resolve("token")).trim()),
                Optional.of(SERVICE_ACCOUNT.resolve("ca.crt")));
    }

    /** GET of a resource path (e.g. {@code /apis/flink.apache.org/v1beta1/namespaces/flowget/flinkdeployments/flowget}). */
    public JsonNode get(String path) throws IOException, InterruptedException {
        return send(request(path).GET().build());
    }

    /** PATCH with a JSON merge patch; returns the resource as stored afterwards. */
    public JsonNode mergePatch(String path, JsonNode patch) throws IOException, InterruptedException {
        return send(request(path)
                .header("Content-Type", "application/merge-patch+json")
                .method("PATCH", HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(patch)))
                .build());
    }

    private HttpRequest.Builder request(String path) {
        HttpRequest.Builder b = HttpRequest.newBuilder(server.resolve(path)).timeout(TIMEOUT).header("Accept", "application/json");
        token.ifPresent(t -> b.header("Authorization", "Bearer " + t));
        return b;
    }

    private JsonNode send(HttpRequest request) throws IOException, InterruptedException {
        HttpResponse<String> r = http.send(request, HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() / 100 != 2) {
            String message = r.body();
            try {
                message = JSON.readTree(r.body()).path("message").asText(r.body());
            } catch (IOException notJson) {
                // keep the raw body
            }
            throw new ApiException(r.statusCode(), request.method() + " " + request.uri().getPath() + ": " + r.statusCode() + " " + message);
        }
        return JSON.readTree(r.body());
    }

    private static SSLContext trusting(Path caCert) throws IOException {
        try (InputStream in = Files.newInputStream(caCert)) {
            KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
            ks.load(null, null);
            int i = 0;
            for (Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                ks.setCertificateEntry("ca-" + i++, c);
            }
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(ks);
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(null, tmf.getTrustManagers(), null);
            return ctx;
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot use CA certificate " + caCert + ": " + e.getMessage(), e);
        }
    }

    /** Path of a namespaced custom resource. */
    public static String resourcePath(String group, String version, String namespace, String plural, String name) {
        return String.join("/", "/apis", group, version, "namespaces", namespace, plural, name);
    }
}
