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
 *
 * <p>Over 450 lines on purpose: it is the one catalogue of options (STYLE.md 10), a list of declarations with
 * their descriptions; splitting it would scatter the keys users look up in one place.
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
                    .withDescription(
                            "Most requests in flight to one host at once; the adaptive per-host limit moves"
                                    + " between `flowget.host.min-concurrency` and this (or a"
                                    + " `flowget.host.overrides` value).");

    public static final ConfigOption<Boolean> HOST_SLOW_START =
            ConfigOptions.key("flowget.host.slow-start")
                    .booleanType()
                    .defaultValue(true)
                    .withDescription(
                            "Ramp: a host without a learned limit doubles its limit with each fast answer or"
                                    + " response head while it is busy (TCP's slow start), up to"
                                    + " `flowget.host.max-concurrency`, until its first drop, queueing answer or"
                                    + " 429/503; then it grows by one per answer (AIMD). false: AIMD from the start.");

    public static final ConfigOption<Integer> HOST_MIN_CONCURRENCY =
            ConfigOptions.key("flowget.host.min-concurrency")
                    .intType()
                    .defaultValue(1)
                    .withDescription("Floor of the adaptive per-host limit.");

    public static final ConfigOption<Integer> HOST_INITIAL_CONCURRENCY =
            ConfigOptions.key("flowget.host.initial-concurrency")
                    .intType()
                    .defaultValue(4)
                    .withDescription(
                            "Limit a host starts with (clamped to min/max) once its first request has"
                                    + " answered, or its HTTP/1.1 response head arrived; the very first request to"
                                    + " a host goes alone, so the next connections resume its TLS session. The"
                                    + " limit then doubles per fast"
                                    + " answer or response head while the host is busy (`flowget.host.slow-start`)"
                                    + " until the first drop, then grows by one per success while the host is"
                                    + " busy (AIMD); it shrinks by 10% on 429/503,"
                                    + " 5xx, timeouts and connection errors, and is kept in keyed state across"
                                    + " restarts.");

    public static final ConfigOption<String> HOST_OVERRIDES =
            ConfigOptions.key("flowget.host.overrides")
                    .stringType()
                    .noDefaultValue()
                    .withDescription(
                            "Per-host maximum concurrency by host pattern, comma-separated `pattern=N`,"
                                    + " e.g. `*.cdn.example.com=32,slow.example.org=2`. `*.` matches any"
                                    + " subdomain; the first matching entry wins and replaces"
                                    + " `flowget.host.max-concurrency` for that host.");

    public static final ConfigOption<Duration> HOST_PROBE_INTERVAL =
            ConfigOptions.key("flowget.host.probe-interval")
                    .durationType()
                    .defaultValue(Duration.ofSeconds(5))
                    .withDescription(
                            "A 429 or 503 for a request sent while N were in flight to the host caps the"
                                    + " host at N-1; the cap rises by one after each interval without another"
                                    + " one, so flowget probes an overloaded host gently instead of every few"
                                    + " requests, yet a host that refused once is back at full speed within"
                                    + " a few intervals.");

    public static final ConfigOption<Double> HOST_LATENCY_DROP_FACTOR =
            ConfigOptions.key("flowget.host.latency-drop-factor")
                    .doubleType()
                    .defaultValue(3.0)
                    .withDescription(
                            "Rising latency shrinks a host's limit like an error does: an answer whose time to"
                                    + " first byte (response headers, not the whole body) exceeds this factor"
                                    + " times the host's smoothed minimum time to first byte counts as a drop"
                                    + " (limit x0.9), at most once per round of requests; answers half-way there"
                                    + " hold the limit instead of growing it. 0 turns it off.");

    public static final ConfigOption<Duration> HOST_LATENCY_DROP_MIN =
            ConfigOptions.key("flowget.host.latency-drop-min")
                    .durationType()
                    .defaultValue(Duration.ofMillis(50))
                    .withDescription(
                            "A slow first byte counts as a drop only when it is also at least this much above"
                                    + " the host's minimum, so jitter at fast (nearby) hosts never throttles"
                                    + " them.");

    public static final ConfigOption<Integer> METRICS_TOP_HOSTS =
            ConfigOptions.key("flowget.metrics.top-hosts")
                    .intType()
                    .defaultValue(20)
                    .withDescription(
                            "Per-host metrics for this many busiest hosts of each fetch subtask (most requests"
                                    + " in the last 5 s interval): gauge groups topHost.<rank> with host (name,"
                                    + " a string gauge), requests, limit and inFlight, re-assigned as the top set"
                                    + " changes, so cardinality stays bounded. 0 turns them off.");

    public static final ConfigOption<Integer> HOST_BREAKER_FAILURES =
            ConfigOptions.key("flowget.host.breaker.failures")
                    .intType()
                    .defaultValue(5)
                    .withDescription(
                            "Consecutive attempts without any HTTP answer (connect errors and timeouts,"
                                    + " resets, DNS failures) that open a host's circuit: its requests wait"
                                    + " (they are not failed) and one probe goes after"
                                    + " `flowget.host.breaker.open`, doubling per failed probe up to"
                                    + " `flowget.host.breaker.max-open`. Any HTTP answer closes it.");

    public static final ConfigOption<Duration> HOST_BREAKER_OPEN =
            ConfigOptions.key("flowget.host.breaker.open")
                    .durationType()
                    .defaultValue(Duration.ofSeconds(10))
                    .withDescription("How long a circuit stays open before its first probe.");

    public static final ConfigOption<Duration> HOST_BREAKER_MAX_OPEN =
            ConfigOptions.key("flowget.host.breaker.max-open")
                    .durationType()
                    .defaultValue(Duration.ofMinutes(5))
                    .withDescription("Longest wait between two probes of a dead host.");

    public static final ConfigOption<Duration> HOST_GIVE_UP_AFTER =
            ConfigOptions.key("flowget.host.give-up-after")
                    .durationType()
                    .defaultValue(Duration.ofMinutes(5))
                    .withDescription(
                            "Retry budget of a dead host: once it has given no HTTP answer for this long"
                                    + " and its circuit is open, its waiting requests FAIL at once with 'host"
                                    + " unreachable: <last error>' instead of holding backlog, until a probe"
                                    + " gets an answer.");

    public static final ConfigOption<Double> HOST_MAX_REQUESTS_PER_SECOND =
            ConfigOptions.key("flowget.host.max-requests-per-second")
                    .doubleType()
                    .defaultValue(0.0)
                    .withDescription(
                            "Most requests started per second to one host (token bucket, bursts of one"
                                    + " second's worth). 0: no rate limit, only the concurrency limit.");

    public static final ConfigOption<MemorySize> HOST_MAX_BYTES_PER_SECOND =
            ConfigOptions.key("flowget.host.max-bytes-per-second")
                    .memoryType()
                    .noDefaultValue()
                    .withDescription(
                            "Average body bytes per second from one host (token bucket charged when a"
                                    + " response ends: a large file is not slowed while it streams, the host"
                                    + " waits after it until the average is met). Unset: no limit.");

    public static final ConfigOption<Duration> HOST_STATE_TTL =
            ConfigOptions.key("flowget.host.state-ttl")
                    .durationType()
                    .defaultValue(Duration.ofHours(24))
                    .withDescription(
                            "How long a host's learned limit, cap and pause stay in keyed state after their"
                                    + " last change or read (bounds the state of hosts seen once).");

    public static final ConfigOption<String> HOST_SPREAD =
            ConfigOptions.key("flowget.host.spread")
                    .stringType()
                    .noDefaultValue()
                    .withDescription(
                            "Busy hosts spread over several keys (shards), comma-separated `pattern=S`, e.g."
                                    + " `big.example.com=2,*.cdn.example.com=4` (patterns as in"
                                    + " `flowget.host.overrides`): a matching host's requests are split by their"
                                    + " path over S keys, which may run on different Fetch subtasks (shard k is"
                                    + " placed k/S of the key groups away from the host's own), and each shard"
                                    + " enforces 1/S of the host's politeness: its concurrency (the shares add up to"
                                    + " the host's max; S is capped by it), request and byte rates. Shard 0 keeps the"
                                    + " host's own key. Keep the same value across restores, like"
                                    + " `pipeline.max-parallelism`. Not set: every host is one key. `flowget run` sets"
                                    + " it from its input (`flowget.run.spread-min-requests`) unless it is set.");

    public static final ConfigOption<Integer> FETCH_MAX_BACKLOG =
            ConfigOptions.key("flowget.fetch.max-backlog")
                    .intType()
                    .defaultValue(1_000_000)
                    .withDescription(
                            "Requests waiting in one subtask's queues (RocksDB) beyond which a new request FAILs"
                                    + " with 'queue full' if its host already holds more than its fair share"
                                    + " (this value divided by the hosts with work); other hosts' requests are"
                                    + " still taken. Input is never stopped, so one host cannot hold the others"
                                    + " or the checkpoints back.");

    public static final ConfigOption<Integer> FETCH_MAX_HOST_BACKLOG =
            ConfigOptions.key("flowget.fetch.max-host-backlog")
                    .intType()
                    .defaultValue(250_000)
                    .withDescription(
                            "Most requests one host may have waiting or active in one subtask; a further request"
                                    + " for that host FAILs at once with 'queue full'.");

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

    public static final ConfigOption<MemorySize> FETCH_LOW_SPEED_LIMIT =
            ConfigOptions.key("flowget.fetch.low-speed-limit")
                    .memoryType()
                    .defaultValue(MemorySize.parse("1kb"))
                    .withDescription(
                            "Low-speed guard (curl's --speed-limit): an attempt whose body arrives slower than this"
                                    + " many bytes per second on average for flowget.fetch.low-speed-time ends with"
                                    + " 'timeout: below N bytes/s for Ts' and is retried; the request is blamed, not"
                                    + " its host. 0 turns the guard off (the idle timeout still ends a silent body).");

    public static final ConfigOption<Duration> FETCH_LOW_SPEED_TIME =
            ConfigOptions.key("flowget.fetch.low-speed-time")
                    .durationType()
                    .defaultValue(Duration.ofSeconds(30))
                    .withDescription(
                            "How long a body may stay below flowget.fetch.low-speed-limit before its attempt ends"
                                    + " (curl's --speed-time).");

    public static final ConfigOption<Duration> FETCH_NO_PROGRESS_BUDGET =
            ConfigOptions.key("flowget.fetch.no-progress-budget")
                    .durationType()
                    .defaultValue(Duration.ofSeconds(60))
                    .withDescription(
                            "Most time one request may spend in attempts that make no progress (no connection,"
                                    + " no response head, a silent or crawling body), summed over its attempts:"
                                    + " past it the request FAILs with 'timeout: no progress ...' instead of"
                                    + " retrying. Once an attempt stalled for a second or more, the time waiting for"
                                    + " the next attempt counts too (fast failures such as a 500 start no clock), and"
                                    + " an attempt that stored a chunk resets it. With the defaults a URL that stalls,"
                                    + " trickles or never answers ends within 2 minutes of its first request.");

    public static final ConfigOption<Double> FETCH_UNPROVEN_SHARE =
            ConfigOptions.key("flowget.fetch.unproven-share")
                    .doubleType()
                    .defaultValue(0.25)
                    .withDescription(
                            "Share of flowget.fetch.max-in-flight that hosts which have never given an HTTP answer"
                                    + " may hold together (at least one permit). Such a host also stays at one"
                                    + " request in flight until it answers, so a crowd of dead or silent hosts cannot"
                                    + " starve the ones that work.");

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

    // ---- encrypted payloads (README "Encrypted payloads") -------------------------------------------

    public static final ConfigOption<String> DECRYPT_SCHEME =
            ConfigOptions.key("flowget.decrypt.scheme")
                    .stringType()
                    .defaultValue("aes-256-gcm")
                    .withDescription(
                            "Scheme of a request whose `decrypt` object names no `scheme`: `aes-256-gcm`"
                                    + " (nonce || ciphertext || tag), `tink-aes256-gcm-hkdf-4kb` or"
                                    + " `tink-aes256-gcm-hkdf-1mb` (Tink streaming AEAD). Requests without"
                                    + " `decrypt` are stored as received.");

    public static final ConfigOption<String> DECRYPT_KEY_DIR =
            ConfigOptions.key("flowget.decrypt.key-dir")
                    .stringType()
                    .noDefaultValue()
                    .withDescription(
                            "Directory of key files, one per key id, named by the id (e.g. a mounted"
                                    + " Kubernetes secret); a file holds 32 raw bytes, 64 hex digits or base64."
                                    + " Unset: no key files.");

    public static final ConfigOption<String> DECRYPT_KEY_ENV_PREFIX =
            ConfigOptions.key("flowget.decrypt.key-env-prefix")
                    .stringType()
                    .defaultValue("FLOWGET_KEY_")
                    .withDescription(
                            "Environment lookup of keys: key id `backup-2026` is read from"
                                    + " `FLOWGET_KEY_BACKUP_2026` (hex or base64). Empty turns the lookup off.");

    public static final ConfigOption<String> DECRYPT_KEY_PROVIDER =
            ConfigOptions.key("flowget.decrypt.key-provider")
                    .stringType()
                    .noDefaultValue()
                    .withDescription(
                            "Class name of a deployment's own `io.flowget.udf.crypto.KeyProvider` (public"
                                    + " no-argument constructor, e.g. a KMS client), asked before the key"
                                    + " directory and the environment. Unset: none.");

    public static final ConfigOption<String> SECRETS_DIR =
            ConfigOptions.key("flowget.secrets.dir")
                    .stringType()
                    .noDefaultValue()
                    .withDescription(
                            "Directory of secret files, one per name (e.g. a mounted Kubernetes secret), for"
                                    + " request header values given as `{\"secret\": \"name\"}`: the file's"
                                    + " content (without a trailing newline) is sent, read when the request is"
                                    + " sent and never stored. Unset: no secret files.");

    public static final ConfigOption<String> SECRETS_ENV_PREFIX =
            ConfigOptions.key("flowget.secrets.env-prefix")
                    .stringType()
                    .defaultValue("FLOWGET_SECRET_")
                    .withDescription(
                            "Environment lookup of header secrets, after `flowget.secrets.dir`: secret"
                                    + " `api-token` is read from `FLOWGET_SECRET_API_TOKEN`. Empty turns the"
                                    + " lookup off.");

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
                            "Slow tail: when a file has nothing left to plan, the in-flight chunk that can give"
                                    + " away the most is split in two (its second half fetched on another"
                                    + " connection) while at least twice this much is left. Chunks are asked for in"
                                    + " windows of a quarter chunk (at least this much; a chunk's later windows grow"
                                    + " while much of the file is left), and a split takes over only bytes not asked"
                                    + " for yet: the origin sends no byte twice.");

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
                                    + " capped to it. A 429 or 503 with Retry-After pauses the whole host, not"
                                    + " just the request.");

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
                    .defaultValue(Duration.ofMinutes(30))
                    .withDescription(
                            "Whole-attempt deadline (connect to last byte), a backstop behind the idle timeout and"
                                    + " the low-speed guard (30 minutes is 1.8 GB at 1 MB/s; large files with Range"
                                    + " support are fetched in chunks, each its own attempt); a request's own"
                                    + " deadline, when earlier, wins.");

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

    public static final ConfigOption<Duration> HTTP_CLIENT_LINGER =
            ConfigOptions.key("flowget.http.client-linger")
                    .durationType()
                    .defaultValue(Duration.ZERO)
                    .withDescription(
                            "How long the shared HTTP client (its I/O threads, TLS sessions and idle connections,"
                                    + " each still closed after `flowget.http.pool.idle-eviction`) outlives the last"
                                    + " run that used it, for the next run in the same JVM with the same HTTP"
                                    + " settings. 0 closes it with the run (a cold run); a daemon's runs keep it 5 min"
                                    + " unless set (its warm-up's rounds never).");

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
                    .defaultValue(MemorySize.parse("6kb"))
                    .withDescription(
                            "Size of each of the three I/O buffers of an HTTP/1.1 connection. The heap cost of a"
                                    + " download in flight is about three times this plus 8 KiB, whatever its"
                                    + " Content-Encoding (decoders borrow their buffers from a shared pool only"
                                    + " while they decode): measured 27 KiB with the default 6 KiB, 32-33 KiB"
                                    + " with 8 KiB, 21-22 KiB with 4 KiB. Large bodies read in"
                                    + " `flowget.http.large-buffer-size` buffers while their budget has room (chunks,"
                                    + " and every request to a host whose last HTTP/1.1 answer was 256 KiB or"
                                    + " more); beyond it, smaller buffers mean more, smaller reads (on 1 MiB files"
                                    + " 4 KiB gave 0.79x the throughput of 8 KiB, 6 KiB 0.9x).");

    public static final ConfigOption<MemorySize> HTTP_LARGE_BUFFER_SIZE =
            ConfigOptions.key("flowget.http.large-buffer-size")
                    .memoryType()
                    .defaultValue(MemorySize.parse("64kb"))
                    .withDescription(
                            "Size of each of the three I/O buffers of the HTTP/1.1 connections that Range chunks"
                                    + " of large files, and requests to a host whose last HTTP/1.1 answer was a body"
                                    + " of 256 KiB or more, use while `flowget.http.large-buffer-budget` has room:"
                                    + " fewer, bigger reads and writes for large bodies (64 KiB: about 41 syscalls"
                                    + " per MiB, 8 KiB: about 300). Not larger than `flowget.http.buffer-size`: off.");

    public static final ConfigOption<MemorySize> HTTP_LARGE_BUFFER_BUDGET =
            ConfigOptions.key("flowget.http.large-buffer-budget")
                    .memoryType()
                    .defaultValue(MemorySize.parse("4mb"))
                    .withDescription(
                            "Heap the large buffers of all large-buffer connections of the TaskManager may"
                                    + " hold together (each connection holds three of"
                                    + " `flowget.http.large-buffer-size`; 4 MiB pays for 21 connections of 64 KiB"
                                    + " buffers). Requests beyond it use the small buffers, as every request to a"
                                    + " host of small bodies always does, so heap per in-flight download does not"
                                    + " grow with the count. 0: off.");

    public static final ConfigOption<Integer> HTTP_MAX_REDIRECTS =
            ConfigOptions.key("flowget.http.max-redirects")
                    .intType()
                    .defaultValue(10)
                    .withDescription(
                            "Most redirect hops per attempt; more FAIL with 'too many redirects', a hop back"
                                    + " to a URL already visited FAILs with 'redirect loop'.");

    public static final ConfigOption<Boolean> HTTP_REDIRECT_ALLOW_INSECURE =
            ConfigOptions.key("flowget.http.redirect.allow-insecure")
                    .booleanType()
                    .defaultValue(false)
                    .withDescription(
                            "Follow a redirect from https to http. Off by default: such a hop FAILs the request"
                                    + " with 'insecure redirect ...' (the rest of the chain would travel in clear"
                                    + " text). Credentials are still dropped on the downgraded hop.");

    public static final ConfigOption<String> HTTP_REDIRECT_STRIP_HEADERS =
            ConfigOptions.key("flowget.http.redirect.strip-headers")
                    .stringType()
                    .noDefaultValue()
                    .withDescription(
                            "Comma-separated request header names that, like Authorization, Cookie and"
                                    + " Proxy-Authorization (always), are sent only to the request URL's own"
                                    + " origin: a redirect hop to another scheme, host or port goes without"
                                    + " them (e.g. `X-Api-Key,X-Auth-Token`).");

    public static final ConfigOption<String> HTTP_PROXY =
            ConfigOptions.key("flowget.http.proxy")
                    .stringType()
                    .noDefaultValue()
                    .withDescription(
                            "Forward proxy for every origin, `http://host:port` (https origins are reached"
                                    + " through a CONNECT tunnel). Unset: the environment as curl reads it"
                                    + " (`http_proxy` for http URLs, `HTTPS_PROXY`/`https_proxy` for https ones)"
                                    + " unless `flowget.http.proxy-from-env` is false. The SSRF guard judges the"
                                    + " origin's addresses (resolved by flowget), never the proxy's.");

    public static final ConfigOption<String> HTTP_NO_PROXY =
            ConfigOptions.key("flowget.http.no-proxy")
                    .stringType()
                    .noDefaultValue()
                    .withDescription(
                            "Hosts reached directly, curl's NO_PROXY rules: comma-separated host names (a name"
                                    + " matches itself and its subdomains; a leading dot is ignored), IP addresses"
                                    + " or CIDRs, or `*` for all. Unset: `NO_PROXY`/`no_proxy` of the environment"
                                    + " (with `flowget.http.proxy-from-env`).");

    public static final ConfigOption<Boolean> HTTP_PROXY_FROM_ENV =
            ConfigOptions.key("flowget.http.proxy-from-env")
                    .booleanType()
                    .defaultValue(true)
                    .withDescription(
                            "Read `http_proxy`, `HTTPS_PROXY`/`https_proxy` and `NO_PROXY`/`no_proxy` from the"
                                    + " environment when `flowget.http.proxy` (`flowget.http.no-proxy`) is unset.");

    public static final ConfigOption<String> HTTP_PROXY_CREDENTIALS_SECRET =
            ConfigOptions.key("flowget.http.proxy-credentials-secret")
                    .stringType()
                    .noDefaultValue()
                    .withDescription(
                            "Name of the secret (see `flowget.secrets.dir`) that holds the proxy's"
                                    + " `user:password`, answered to a 407 challenge (Basic) on requests and"
                                    + " CONNECT tunnels. Read when the HTTP client starts; never logged.");

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

    public static final ConfigOption<Boolean> TLS_INSECURE =
            ConfigOptions.key("flowget.tls.insecure")
                    .booleanType()
                    .defaultValue(false)
                    .withDescription(
                            "Trust every server certificate and skip the host name check. For tests against"
                                    + " self-signed origins only: it disables TLS authentication, and flowget"
                                    + " logs a WARN when the client is created with it on. Prefer"
                                    + " `flowget.tls.ca-cert`.");

    public static final ConfigOption<TlsBufferMode> TLS_BUFFER_MODE =
            ConfigOptions.key("flowget.tls.buffer-mode")
                    .enumType(TlsBufferMode.class)
                    .defaultValue(TlsBufferMode.DYNAMIC)
                    .withDescription(
                            "How an HTTPS connection holds its TLS buffers (two of the packet size, ~16.7 KiB,"
                                    + " one of the record size, 16 KiB). DYNAMIC: only while a read or write"
                                    + " needs them, released when empty (an allocation per read event). STATIC:"
                                    + " for the connection's whole life, ~49 KiB more heap per connection that"
                                    + " waits for bytes (an HTTPS download in flight: 43 KiB DYNAMIC, 93 KiB"
                                    + " STATIC). The large-buffer connections (`flowget.http.large-buffer-budget`),"
                                    + " few and moving large bodies, always keep theirs.");

    public static final ConfigOption<Integer> TLS_SESSION_CACHE_SIZE =
            ConfigOptions.key("flowget.tls.session-cache-size")
                    .intType()
                    .defaultValue(1024)
                    .withDescription(
                            "Most TLS sessions the HTTP client keeps for resumption (at least 1), by session and,"
                                    + " separately, the latest per origin: a new connection to one of the last this"
                                    + " many origins resumes its session (an abbreviated handshake). Each takes"
                                    + " about 3.5 KiB of heap; the JDK's own bound, 20,480 per cache, let a client"
                                    + " that opened many HTTPS connections hold ~70 MiB.");

    public static final ConfigOption<Duration> TLS_SESSION_TIMEOUT =
            ConfigOptions.key("flowget.tls.session-timeout")
                    .durationType()
                    .defaultValue(Duration.ofHours(1))
                    .withDescription(
                            "A cached TLS session older than this is not resumed and leaves the cache (whole"
                                    + " seconds, at least 1 s; the JDK's default is 24 hours).");

    public static final ConfigOption<HttpVersion> HTTP_VERSION =
            ConfigOptions.key("flowget.http.version")
                    .enumType(HttpVersion.class)
                    .defaultValue(HttpVersion.NEGOTIATE)
                    .withDescription(
                            "NEGOTIATE: HTTP/2 over TLS when the server offers it in ALPN (one request at a"
                                    + " time per connection, as HTTP/1.1), else HTTP/1.1; plain http:// is HTTP/1.1."
                                    + " HTTP_1_1: never HTTP/2. HTTP_2: HTTP/2 only (prior knowledge on"
                                    + " http://), for origins known to speak it.");

    public static final ConfigOption<MemorySize> HTTP_H2_INITIAL_WINDOW =
            ConfigOptions.key("flowget.http.h2.initial-window")
                    .memoryType()
                    .defaultValue(MemorySize.parse("1mb"))
                    .withDescription(
                            "HTTP/2 per-stream receive window advertised to servers (the connection window is"
                                    + " raised to the maximum). The protocol default of 64 KiB caps a stream at"
                                    + " 64 KiB per round trip; bodies are written as they arrive, so a large"
                                    + " window costs no memory.");

    public static final ConfigOption<Integer> HTTP_H2_MAX_CONCURRENT_STREAMS =
            ConfigOptions.key("flowget.http.h2.max-concurrent-streams")
                    .intType()
                    .defaultValue(256)
                    .withDescription(
                            "SETTINGS_MAX_CONCURRENT_STREAMS that flowget advertises on HTTP/2 connections"
                                    + " (streams the server may open; flowget refuses pushes). flowget itself runs"
                                    + " one request at a time on each HTTP/2 connection, as on HTTP/1.1 (README"
                                    + " \"Connections\").");

    // ---- network guard and DNS -------------------------------------------------------------------

    /** What the SSRF guard refuses before any deny or allow list: see {@link #NET_POSTURE}. */
    public enum NetPosture {
        /** A service taking URLs from many producers: only public unicast addresses are reachable. */
        SERVICE,
        /** One user's own downloads: loopback and private ranges are reachable too. */
        LOCAL
    }

    public static final ConfigOption<NetPosture> NET_POSTURE =
            ConfigOptions.key("flowget.net.posture")
                    .enumType(NetPosture.class)
                    .defaultValue(NetPosture.SERVICE)
                    .withDescription(
                            "SSRF guard posture. SERVICE (the default, and what `flowget job` uses): refuse"
                                    + " loopback, private (RFC 1918), CGNAT, unique-local and site-local IPv6,"
                                    + " multicast, reserved, documentation and benchmarking ranges, on top of"
                                    + " what is always refused (unspecified, link-local and cloud metadata"
                                    + " addresses), also when embedded in IPv4-mapped, IPv4-compatible, NAT64 or"
                                    + " 6to4 IPv6 addresses. LOCAL (what `flowget run` and `flowget demo` use"
                                    + " unless this is set): loopback and private ranges are reachable.");

    public static final ConfigOption<String> NET_ALLOWED_PORTS =
            ConfigOptions.key("flowget.net.allowed-ports")
                    .stringType()
                    .noDefaultValue()
                    .withDescription(
                            "SSRF guard: comma-separated ports and port ranges flowget may connect to, e.g."
                                    + " `80,443,8000-8999`, checked on every hop. A URL on another port FAILs"
                                    + " with 'blocked port: ...', never retried. Unset: any port.");

    public static final ConfigOption<String> NET_DENY_CIDRS =
            ConfigOptions.key("flowget.net.deny-cidrs")
                    .stringType()
                    .noDefaultValue()
                    .withDescription(
                            "SSRF guard: comma-separated CIDRs flowget never connects to, checked after DNS"
                                    + " resolution on every connection (every redirect hop too), in addition to"
                                    + " what `flowget.net.posture` refuses. Always refused: 0.0.0.0/8 and ::"
                                    + " (unspecified), 169.254.0.0/16 and fe80::/10 (link-local), the cloud"
                                    + " metadata addresses fd00:ec2::254, fd00:ec2::23, 100.100.100.200,"
                                    + " 168.63.129.16 and 192.0.0.192. A refused address FAILs the request with"
                                    + " 'blocked address: ...', never retried.");

    public static final ConfigOption<String> NET_ALLOW_CIDRS =
            ConfigOptions.key("flowget.net.allow-cidrs")
                    .stringType()
                    .noDefaultValue()
                    .withDescription(
                            "SSRF guard: comma-separated CIDRs that are allowed even though a deny rule"
                                    + " covers them. The most specific rule (longest prefix) decides; at equal"
                                    + " length allow wins. `deny-cidrs: 0.0.0.0/0,::/0` plus an allow list"
                                    + " admits only the allowed ranges.");

    public static final ConfigOption<Duration> DNS_TTL =
            ConfigOptions.key("flowget.dns.ttl")
                    .durationType()
                    .defaultValue(Duration.ofSeconds(60))
                    .withDescription(
                            "How long a resolved name is cached by the HTTP client's resolver (all its"
                                    + " addresses; a connection tries them in order).");

    public static final ConfigOption<Duration> DNS_NEGATIVE_TTL =
            ConfigOptions.key("flowget.dns.negative-ttl")
                    .durationType()
                    .defaultValue(Duration.ofSeconds(5))
                    .withDescription("How long a failed lookup (unknown host, timeout) is remembered.");

    public static final ConfigOption<Duration> DNS_TIMEOUT =
            ConfigOptions.key("flowget.dns.timeout")
                    .durationType()
                    .defaultValue(Duration.ofSeconds(5))
                    .withDescription(
                            "Longest wait for one name lookup; a slower one fails the attempt with 'dns:"
                                    + " lookup of HOST timed out', which is retried.");

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

    /** When an HTTPS connection holds its TLS buffers (HttpCore's {@code SSLBufferMode}). */
    public enum TlsBufferMode {
        DYNAMIC,
        STATIC
    }

    /** Which HTTP versions the client speaks. */
    public enum HttpVersion {
        NEGOTIATE,
        HTTP_1_1,
        HTTP_2
    }

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
