package io.flowget.udf.model;

import java.util.Map;
import java.util.Objects;

/**
 * One validated download request, as it travels from the parser to the fetch operator and as it waits in
 * the per-host queue (RocksDB keyed state).
 *
 * <p>A Flink POJO (public fields, no-arg constructor) so that it is serialised by the PojoSerializer and
 * never by Kryo; {@code pipeline.generic-types: false} guards that. Nullable fields are boxed.
 */
public class FetchRequest {
    /** Request id, unique per request (see CONTRACT.md for the defaults). */
    public String id;
    /** Absolute http(s) URL, already validated. */
    public String url;
    /** Key of the request: the lower-case host of {@link #url}, without port. */
    public String host;
    /** Output path relative to the output directory, already sanitised. */
    public String path;
    /** Expected SHA-256 (lower-case hex) of the stored bytes, or null. */
    public String sha256;
    /** Most bytes to store, or null for the configured default. */
    public Long maxBytes;
    /**
     * Extra request headers (already filtered of hop-by-hop and client-owned ones), or null. A value may be a
     * {@link SecretRef} (the secret's name, resolved when the request is sent): keyed state never holds the secret.
     */
    public Map<String, String> headers;
    /** Give up at this epoch millisecond, or null for no deadline. */
    public Long deadline;
    /**
     * Key id of an encrypted payload (the request's {@code decrypt.key_id}; never key material), or null for a
     * body stored as received. Added after the first savepoints: older state restores with null.
     */
    public String decryptKeyId;
    /** The {@code decrypt.scheme} token, or null for {@code flowget.decrypt.scheme}. */
    public String decryptScheme;
    /** The {@code decrypt.encoding} inside the encryption ({@code gzip}, {@code identity}...), or null to detect. */
    public String decryptEncoding;

    public FetchRequest() {}

    public FetchRequest(String id, String url, String host, String path) {
        this.id = id;
        this.url = url;
        this.host = host;
        this.path = path;
    }

    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        if (!(o instanceof FetchRequest)) {
            return false;
        }
        FetchRequest that = (FetchRequest) o;
        return Objects.equals(id, that.id)
                && Objects.equals(url, that.url)
                && Objects.equals(host, that.host)
                && Objects.equals(path, that.path)
                && Objects.equals(sha256, that.sha256)
                && Objects.equals(maxBytes, that.maxBytes)
                && Objects.equals(headers, that.headers)
                && Objects.equals(deadline, that.deadline)
                && Objects.equals(decryptKeyId, that.decryptKeyId)
                && Objects.equals(decryptScheme, that.decryptScheme)
                && Objects.equals(decryptEncoding, that.decryptEncoding);
    }

    @Override
    public int hashCode() {
        return Objects.hash(id, url, host, path);
    }

    @Override
    public String toString() {
        return "FetchRequest{" + id + ' ' + url + " -> " + path + '}';
    }
}
