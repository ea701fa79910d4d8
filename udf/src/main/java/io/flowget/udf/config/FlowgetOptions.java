package io.flowget.udf.config;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.MemorySize;

import java.time.Duration;

/**
 * Every option of the fetch side of flowget, as Flink {@link ConfigOption}s under the {@code flowget.} prefix.
 * The same keys work in {@code conf/config.yaml}, in a FlinkDeployment's {@code flinkConfiguration} and on the
 * command line with {@code --set key=value}. README's option table is generated from this class and
 * {@code JobOptions} (see {@code OptionsDocTest}).
 */
public final class FlowgetOptions {
    private FlowgetOptions() {}

    /** Version string used in the default User-Agent. */
    public static final String VERSION = "0.1.0";

    // ---- scheduling ------------------------------------------------------------------------------

    public static final ConfigOption<Integer> FETCH_MAX_IN_FLIGHT =
            ConfigOptions.key("flowget.fetch.max-in-flight")
                    .intType()
                    .defaultValue(256)
                    .withDescription(
                            "Most requests in flight per subtask, all hosts together. Hosts share these"
                                    + " permits round-robin.");

    public static final ConfigOption<Integer> HOST_MAX_CONCURRENCY =
            ConfigOptions.key("flowget.host.max-concurrency")
                    .intType()
                    .defaultValue(8)
                    .withDescription("Most requests in flight to one host at once.");

    public static final ConfigOption<Integer> FETCH_MAX_BACKLOG =
            ConfigOptions.key("flowget.fetch.max-backlog")
                    .intType()
                    .defaultValue(50_000)
                    .withDescription(
                            "Most requests waiting in one subtask's queues; beyond it the operator stops"
                                    + " reading input until the backlog shrinks, so Kafka holds the rest.");

    public static final ConfigOption<MemorySize> FETCH_MAX_BYTES =
            ConfigOptions.key("flowget.fetch.max-bytes")
                    .memoryType()
                    .noDefaultValue()
                    .withDescription(
                            "Default max_bytes for requests that do not set it: a body whose stored size"
                                    + " would exceed it is refused (FAILED). Unset: no limit.");

    public static final ConfigOption<Integer> FETCH_MAX_DECODE_RATIO =
            ConfigOptions.key("flowget.fetch.max-decode-ratio")
                    .intType()
                    .defaultValue(1000)
                    .withDescription(
                            "Second guard against decompression bombs, next to max_bytes: a compressed body"
                                    + " (Content-Encoding) whose decoded size grows beyond this many times the"
                                    + " compressed bytes received (checked once past its first MiB) is refused"
                                    + " (FAILED 'decode ratio exceeded'). gzip and deflate top out near 1032:1,"
                                    + " so real data rarely comes close; 0 turns the guard off.");

    public static final ConfigOption<Boolean> FETCH_CONDITIONAL =
            ConfigOptions.key("flowget.fetch.conditional")
                    .booleanType()
                    .defaultValue(true)
                    .withDescription(
                            "Conditional re-fetch for mirror sync: when a request's path holds the file that"
                                    + " flowget stored for the same URL, unchanged since, the request carries the"
                                    + " ETag and Last-Modified recorded with it (If-None-Match,"
                                    + " If-Modified-Since); a 304 answer gives NOT_MODIFIED and leaves the file"
                                    + " untouched. false: always fetch the whole body.");

    public static final ConfigOption<Boolean> DIGEST_BLAKE3 =
            ConfigOptions.key("flowget.digest.blake3")
                    .booleanType()
                    .defaultValue(false)
                    .withDescription(
                            "Also compute BLAKE3 (256 bit) of every stored body while it streams, and report it"
                                    + " in the result's `blake3` field. SHA-256 is always computed.");

    public static final ConfigOption<MemorySize> CHUNK_SIZE =
            ConfigOptions.key("flowget.chunk.size")
                    .memoryType()
                    .defaultValue(MemorySize.parse("8mb"))
                    .withDescription("Range chunk size for large files.");

    public static final ConfigOption<Integer> CHUNK_MAX_CHUNKS =
            ConfigOptions.key("flowget.chunk.max-chunks")
                    .intType()
                    .defaultValue(4096)
                    .withDescription(
                            "Most chunks per file: a file larger than max-chunks x chunk.size gets larger chunks.");

    public static final ConfigOption<Integer> CHUNK_MAX_RESTARTS =
            ConfigOptions.key("flowget.chunk.max-restarts")
                    .intType()
                    .defaultValue(3)
                    .withDescription(
                            "How often a download may start over because the resource changed under it (new"
                                    + " ETag, Last-Modified or length) before it FAILs with 'resource changed'.");

    public static final ConfigOption<MemorySize> CHUNK_MIN_SPLIT =
            ConfigOptions.key("flowget.chunk.min-split")
                    .memoryType()
                    .defaultValue(MemorySize.parse("1mb"))
                    .withDescription(
                            "Slow tail: when a file has nothing left to plan, the in-flight chunk with the most"
                                    + " bytes left is split in two (its second half fetched on another connection)"
                                    + " while at least twice this much is left.");

    // ---- retries ---------------------------------------------------------------------------------

    public static final ConfigOption<Integer> RETRY_MAX_ATTEMPTS =
            ConfigOptions.key("flowget.retry.max-attempts")
                    .intType()
                    .defaultValue(5)
                    .withDescription(
                            "HTTP attempts per request before it FAILs on transient errors (connect errors,"
                                    + " resets, timeouts, 408, 429, 5xx). Other 4xx are never retried.");

    public static final ConfigOption<Duration> RETRY_INITIAL_BACKOFF =
            ConfigOptions.key("flowget.retry.initial-backoff")
                    .durationType()
                    .defaultValue(Duration.ofMillis(500))
                    .withDescription(
                            "Backoff before the first retry; doubles per attempt, with full jitter in"
                                    + " [50%, 100%].");

    public static final ConfigOption<Duration> RETRY_MAX_BACKOFF =
            ConfigOptions.key("flowget.retry.max-backoff")
                    .durationType()
                    .defaultValue(Duration.ofSeconds(30))
                    .withDescription("Cap of the exponential backoff.");

    public static final ConfigOption<Duration> RETRY_MAX_RETRY_AFTER =
            ConfigOptions.key("flowget.retry.max-retry-after")
                    .durationType()
                    .defaultValue(Duration.ofMinutes(5))
                    .withDescription(
                            "Longest Retry-After (seconds or HTTP-date) that is honoured; a longer one is"
                                    + " capped to it.");

    // ---- HTTP ------------------------------------------------------------------------------------

    public static final ConfigOption<Duration> HTTP_CONNECT_TIMEOUT =
            ConfigOptions.key("flowget.http.connect-timeout")
                    .durationType()
                    .defaultValue(Duration.ofSeconds(10))
                    .withDescription("TCP (and TLS) connect timeout.");

    public static final ConfigOption<Duration> HTTP_RESPONSE_TIMEOUT =
            ConfigOptions.key("flowget.http.response-timeout")
                    .durationType()
                    .defaultValue(Duration.ofSeconds(30))
                    .withDescription("Longest wait for the response headers after the request is sent.");

    public static final ConfigOption<Duration> HTTP_IDLE_TIMEOUT =
            ConfigOptions.key("flowget.http.idle-timeout")
                    .durationType()
                    .defaultValue(Duration.ofSeconds(30))
                    .withDescription("Longest silence on a connection while a body is being received.");

    public static final ConfigOption<Duration> HTTP_REQUEST_TIMEOUT =
            ConfigOptions.key("flowget.http.request-timeout")
                    .durationType()
                    .defaultValue(Duration.ofHours(1))
                    .withDescription(
                            "Whole-attempt deadline (connect to last byte); a request's own deadline, when"
                                    + " earlier, wins.");

    public static final ConfigOption<Integer> HTTP_POOL_MAX_TOTAL =
            ConfigOptions.key("flowget.http.pool.max-total")
                    .intType()
                    .defaultValue(1024)
                    .withDescription("Most open connections of the TaskManager's shared HTTP client.");

    public static final ConfigOption<Integer> HTTP_POOL_MAX_PER_ROUTE =
            ConfigOptions.key("flowget.http.pool.max-per-route")
                    .intType()
                    .defaultValue(64)
                    .withDescription("Most open connections to one scheme://host:port.");

    public static final ConfigOption<Duration> HTTP_POOL_CONNECTION_TTL =
            ConfigOptions.key("flowget.http.pool.connection-ttl")
                    .durationType()
                    .defaultValue(Duration.ofMinutes(10))
                    .withDescription("Longest life of a pooled connection (re-resolves DNS after it).");

    public static final ConfigOption<Duration> HTTP_POOL_IDLE_EVICTION =
            ConfigOptions.key("flowget.http.pool.idle-eviction")
                    .durationType()
                    .defaultValue(Duration.ofSeconds(60))
                    .withDescription("Idle connections are closed after this long.");

    public static final ConfigOption<Duration> HTTP_POOL_VALIDATE_AFTER_INACTIVITY =
            ConfigOptions.key("flowget.http.pool.validate-after-inactivity")
                    .durationType()
                    .defaultValue(Duration.ofSeconds(2))
                    .withDescription("A pooled connection idle for longer is checked before reuse.");

    public static final ConfigOption<Integer> HTTP_IO_THREADS =
            ConfigOptions.key("flowget.http.io-threads")
                    .intType()
                    .defaultValue(Math.max(1, Runtime.getRuntime().availableProcessors()))
                    .withDescription(
                            "I/O reactor threads of the shared HTTP client (default: number of cores).");

    public static final ConfigOption<MemorySize> HTTP_BUFFER_SIZE =
            ConfigOptions.key("flowget.http.buffer-size")
                    .memoryType()
                    .defaultValue(MemorySize.parse("8kb"))
                    .withDescription(
                            "Size of each of the three I/O buffers of an HTTP/1.1 connection (the heap cost of a"
                                    + " download in flight is about three times this, plus 16 KiB while a"
                                    + " Content-Encoding is decoded). Larger buffers mean fewer, bigger reads"
                                    + " for fast single transfers; smaller ones more downloads per GiB of heap.");

    public static final ConfigOption<Integer> HTTP_MAX_REDIRECTS =
            ConfigOptions.key("flowget.http.max-redirects")
                    .intType()
                    .defaultValue(10)
                    .withDescription(
                            "Most redirect hops per attempt; more FAIL with 'too many redirects', a hop back"
                                    + " to a URL already visited FAILs with 'redirect loop'.");

    public static final ConfigOption<String> HTTP_USER_AGENT =
            ConfigOptions.key("flowget.http.user-agent")
                    .stringType()
                    .defaultValue("flowget/" + VERSION)
                    .withDescription("User-Agent header of every request.");

    public static final ConfigOption<String> TLS_CA_CERT =
            ConfigOptions.key("flowget.tls.ca-cert")
                    .stringType()
                    .noDefaultValue()
                    .withDescription(
                            "PEM file of CA certificates to trust in addition to the JVM's (`--ca-cert`).");

    // ---- storage ---------------------------------------------------------------------------------

    public static final ConfigOption<String> STORAGE_OUT_DIR =
            ConfigOptions.key("flowget.storage.out-dir")
                    .stringType()
                    .noDefaultValue()
                    .withDescription(
                            "Directory that receives the files (`--out`). Nothing is written outside it.");

    public static final ConfigOption<String> STORAGE_STAGING_DIR =
            ConfigOptions.key("flowget.storage.staging-dir")
                    .stringType()
                    .noDefaultValue()
                    .withDescription(
                            "Directory for partial files; must be on the same file system as the output"
                                    + " directory (renames are atomic). Unset: `<out-dir>/.flowget-partial`;"
                                    + " `run` uses `<state-dir>/partial` when it shares the output's file"
                                    + " system.");

    public static final ConfigOption<Durability> STORAGE_DURABILITY =
            ConfigOptions.key("flowget.storage.durability")
                    .enumType(Durability.class)
                    .defaultValue(Durability.CHECKPOINT)
                    .withDescription(
                            "CHECKPOINT: files finished since the last checkpoint (and their directories)"
                                    + " are fsynced before the checkpoint completes, so a committed result"
                                    + " always names a durable file (group commit). NONE: leave flushing to"
                                    + " the OS (a process crash still loses nothing; a machine crash may).");

    public static final ConfigOption<OnConflict> STORAGE_ON_CONFLICT =
            ConfigOptions.key("flowget.storage.on-conflict")
                    .enumType(OnConflict.class)
                    .defaultValue(OnConflict.FAIL)
                    .withDescription(
                            "What happens when a request's path holds a file that a different URL wrote"
                                    + " (or that flowget did not write): FAIL the request with 'path"
                                    + " conflict', or REPLACE the file.");

    public static final ConfigOption<SinkMode> SINK_MODE =
            ConfigOptions.key("flowget.sink.mode")
                    .enumType(SinkMode.class)
                    .defaultValue(SinkMode.FILES)
                    .withDescription(
                            "FILES: store bodies under the output directory. DIGEST_ONLY (`digest-only`): fetch,"
                                    + " decode and digest every body but store nothing; results carry bytes and"
                                    + " sha256 as usual (for a shadow pipeline that verifies a candidate build).");

    /** What happens to the bytes of a body. */
    public enum SinkMode {
        FILES,
        DIGEST_ONLY;

        @Override
        public String toString() {
            return name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
        }
    }

    /** Durability policy for finished files. */
    public enum Durability {
        CHECKPOINT,
        NONE
    }

    /** Policy for a final path that already holds somebody else's file. */
    public enum OnConflict {
        FAIL,
        REPLACE
    }
}
