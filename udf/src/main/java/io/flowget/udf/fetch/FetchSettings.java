package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.crypto.DecryptScheme;
import io.flowget.udf.crypto.Decryption;
import io.flowget.udf.crypto.KeyProvider;
import io.flowget.udf.crypto.KeyProviders;
import io.flowget.udf.http.AddressPolicy;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.secret.Secrets;

import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.ReadableConfig;

import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;

/**
 * The fetch operator's settings, read once from the configuration ({@link #from}) and immutable after: limits,
 * timeouts, retry policy, chunking, digests and where files go. Every other fetch class takes what it needs from
 * here instead of reading {@code Configuration} itself, so one option is parsed in one place.
 *
 * <p>Immutable, so safe to share between the task thread and the operator's helper threads.
 */
public final class FetchSettings {
    /** What the stored bytes may be decoded from (CONTRACT.md: stored bytes are the decoded representation). */
    static final String ACCEPT_ENCODING = "gzip, deflate, br, zstd";

    final int maxInFlight;
    /** Permits that hosts which never answered may hold together ({@code flowget.fetch.unproven-share}). */
    final int unprovenCap;
    final int maxBacklog;
    final int maxHostBacklog;
    final long defaultMaxBytes;
    final long requestTimeoutMillis;
    final long responseTimeoutMillis;
    final Duration idleTimeout;
    final int maxRedirects;
    /** What a redirect hop may carry (credentials stay on the request's origin) and where it may go. */
    final RedirectSecurity redirects;
    /** Where header values given as {@code {"secret": name}} come from, at send time. */
    final Secrets headerSecrets;
    /** The SSRF guard's port list (its address rules run in the HTTP client's resolver). */
    final AddressPolicy addressPolicy;
    final RetryPolicy retry;
    final boolean digestOnly;
    final long chunkSize;
    final int maxChunks;
    final int maxRestarts;
    final long minSplit;
    final long maxDecodeRatio;
    final boolean blake3;
    final boolean conditional;
    final Path outDir;
    final Path stagingDir;
    final FlowgetOptions.OnConflict onConflict;
    final FlowgetOptions.Durability durability;
    /** The per-host politeness settings (limits, breaker, rates, the TTL of {@code host-state}). */
    final HostPoliteness.Settings politeness;
    final int topHosts;
    /** The low-speed guard of attempts in flight. */
    final LowSpeedGuard lowSpeed;
    /** Most time a request may spend in attempts without progress ({@code flowget.fetch.no-progress-budget}). */
    final long noProgressBudgetMillis;
    /** The scheme of a {@code decrypt} request that names none ({@code flowget.decrypt.scheme}). */
    final DecryptScheme defaultScheme;
    /** Where decryption keys come from; reading the configuration did no I/O (thread-safe). */
    final KeyProvider keys;

    private FetchSettings(ReadableConfig config) {
        maxInFlight = config.get(FlowgetOptions.FETCH_MAX_IN_FLIGHT);
        unprovenCap =
                (int) Math.max(1, Math.min(maxInFlight, Math.floor(maxInFlight * config.get(FlowgetOptions.FETCH_UNPROVEN_SHARE))));
        maxBacklog = config.get(FlowgetOptions.FETCH_MAX_BACKLOG);
        maxHostBacklog = config.get(FlowgetOptions.FETCH_MAX_HOST_BACKLOG);
        defaultMaxBytes =
                config.getOptional(FlowgetOptions.FETCH_MAX_BYTES).map(MemorySize::getBytes).orElse(Long.MAX_VALUE);
        requestTimeoutMillis = config.get(FlowgetOptions.HTTP_REQUEST_TIMEOUT).toMillis();
        responseTimeoutMillis = config.get(FlowgetOptions.HTTP_RESPONSE_TIMEOUT).toMillis();
        idleTimeout = config.get(FlowgetOptions.HTTP_IDLE_TIMEOUT);
        maxRedirects = config.get(FlowgetOptions.HTTP_MAX_REDIRECTS);
        redirects = RedirectSecurity.from(config);
        headerSecrets = Secrets.from(config);
        addressPolicy = AddressPolicy.from(config);
        retry = RetryPolicy.from(config);
        digestOnly = config.get(FlowgetOptions.SINK_MODE) == FlowgetOptions.SinkMode.DIGEST_ONLY;
        chunkSize = Math.max(1, config.get(FlowgetOptions.CHUNK_SIZE).getBytes());
        maxChunks = Math.max(1, config.get(FlowgetOptions.CHUNK_MAX_CHUNKS));
        maxRestarts = config.get(FlowgetOptions.CHUNK_MAX_RESTARTS);
        minSplit = config.get(FlowgetOptions.CHUNK_MIN_SPLIT).getBytes();
        maxDecodeRatio = config.get(FlowgetOptions.FETCH_MAX_DECODE_RATIO);
        blake3 = config.get(FlowgetOptions.DIGEST_BLAKE3);
        conditional = config.get(FlowgetOptions.FETCH_CONDITIONAL);
        String out =
                config.getOptional(FlowgetOptions.STORAGE_OUT_DIR)
                        .orElseThrow(
                                () -> new IllegalArgumentException(FlowgetOptions.STORAGE_OUT_DIR.key() + " is not set"));
        outDir = Paths.get(out);
        stagingDir =
                config.getOptional(FlowgetOptions.STORAGE_STAGING_DIR)
                        .map(Paths::get)
                        .orElse(outDir.resolve(".flowget-partial"));
        onConflict = config.get(FlowgetOptions.STORAGE_ON_CONFLICT);
        durability = config.get(FlowgetOptions.STORAGE_DURABILITY);
        politeness = HostPoliteness.Settings.from(config);
        topHosts = config.get(FlowgetOptions.METRICS_TOP_HOSTS);
        lowSpeed =
                new LowSpeedGuard(
                        config.get(FlowgetOptions.FETCH_LOW_SPEED_LIMIT).getBytes(),
                        config.get(FlowgetOptions.FETCH_LOW_SPEED_TIME));
        noProgressBudgetMillis = config.get(FlowgetOptions.FETCH_NO_PROGRESS_BUDGET).toMillis();
        defaultScheme = DecryptScheme.forToken(config.get(FlowgetOptions.DECRYPT_SCHEME));
        if (defaultScheme == null) {
            throw new IllegalArgumentException(
                    FlowgetOptions.DECRYPT_SCHEME.key() + " must be one of " + DecryptScheme.tokens());
        }
        keys = KeyProviders.from(config);
    }

    /** Reads and checks the settings; throws {@link IllegalArgumentException} naming a missing or bad option. */
    public static FetchSettings from(ReadableConfig config) {
        return new FetchSettings(config);
    }

    /** The stored-size limit of a request: its own {@code max_bytes}, else {@code flowget.fetch.max-bytes}. */
    long maxBytes(FetchRequest req) {
        return req.maxBytes != null ? req.maxBytes : defaultMaxBytes;
    }

    /** What a request decrypts, or null for a body stored as received. */
    Decryption decryption(FetchRequest req) {
        if (req.decryptKeyId == null) {
            return null;
        }
        DecryptScheme scheme = DecryptScheme.forToken(req.decryptScheme);
        return new Decryption(scheme != null ? scheme : defaultScheme, req.decryptKeyId, req.decryptEncoding);
    }

    /** The chunk size for a file of {@code length} bytes: the configured size, or larger to stay in max-chunks. */
    long chunkSizeFor(long length) {
        return Math.max(chunkSize, (length + maxChunks - 1) / maxChunks);
    }
}
