package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.body.Digests;
import io.flowget.udf.http.Attempt;
import io.flowget.udf.http.ContentRange;
import io.flowget.udf.http.BodyPolicy;
import io.flowget.udf.http.FetchOutcome;
import io.flowget.udf.http.HttpClientHolder;
import io.flowget.udf.http.HttpClientSettings;
import io.flowget.udf.http.RangeResponseConsumer;
import io.flowget.udf.http.StagingResponseConsumer;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.storage.OutputStore;

import org.apache.flink.api.common.operators.MailboxExecutor;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.metrics.Counter;
import org.apache.flink.runtime.state.StateInitializationContext;
import org.apache.flink.runtime.state.StateSnapshotContext;
import org.apache.flink.runtime.state.VoidNamespace;
import org.apache.flink.runtime.state.VoidNamespaceSerializer;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.InternalTimer;
import org.apache.flink.streaming.api.operators.InternalTimerService;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.operators.StreamOperatorParameters;
import org.apache.flink.streaming.api.operators.Triggerable;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;

import org.apache.hc.client5.http.protocol.HttpClientContext;
import org.apache.hc.core5.concurrent.FutureCallback;
import org.apache.hc.core5.http.nio.AsyncRequestProducer;
import org.apache.hc.core5.http.nio.AsyncResponseConsumer;
import org.apache.hc.core5.http.nio.support.AsyncRequestBuilder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * The keyed, non-blocking fetch operator (DESIGN.md, "FetchOperator"). Input is keyed by host; output is exactly
 * one {@link FetchResult} per request.
 *
 * <p><b>Durable state, per host (RocksDB):</b> {@code queue} (FIFO of waiting requests by sequence number) with
 * its {@code queue-cursor}, and {@code active} (requests that left the queue and are in flight or waiting for
 * a retry, by sequence number). The checkpoint invariant: a request handed over before a barrier is, in that
 * checkpoint, either in {@code queue}/{@code active} or already emitted; so after a restore every unfinished
 * request is issued again and none is reported twice. A host's state is cleared when it has no work left,
 * except {@code host-state} (its learned limit, cap and pause, see {@link HostPoliteness}), which a TTL bounds.
 *
 * <p><b>Derived, in memory (rebuilt on restore):</b> per-host counters and ready lists, the round-robin ring of
 * hosts that have work and a free permit, the global in-flight count and the index of waiting retries.
 *
 * <p><b>Scheduling:</b> a request is issued when the subtask has a free global permit
 * ({@code flowget.fetch.max-in-flight}) and {@link HostPoliteness} lets its host take one more (adaptive limit,
 * Retry-After pause, circuit breaker, rate limits); hosts take turns one request at a time. HTTP runs on the shared client's I/O threads; completions come back
 * through the mailbox, where the key is set and state updated. Retries wait on keyed processing-time timers.
 * Because timers stop firing once a bounded input has ended, a sweeper thread also posts a mail every
 * {@value #SWEEP_MILLIS} ms that promotes due retries and enforces attempt timeouts, which keeps
 * {@link #finish()} moving.
 *
 * <p>Not thread-safe: everything but the HTTP callbacks and the sweeper's mail posting runs on the task thread.
 */
public class FetchOperator extends AbstractStreamOperator<FetchResult>
        implements OneInputStreamOperator<FetchRequest, FetchResult>, Triggerable<String, VoidNamespace> {

    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(FetchOperator.class);

    static final String QUEUE_STATE = "queue";
    static final String CURSOR_STATE = "queue-cursor";
    static final String ACTIVE_STATE = "active";
    static final long SWEEP_MILLIS = 200;
    static final String ACCEPT_ENCODING = "gzip, deflate, br, zstd";

    private final Configuration config;
    private final transient MailboxExecutor mailbox;

    // ---- settings (from config, in open) ----
    private transient int maxInFlight;
    private transient int maxBacklog;
    private transient long defaultMaxBytes;
    private transient long requestTimeoutMillis;
    private transient long responseTimeoutMillis;
    private transient Duration idleTimeout;
    private transient int maxRedirects;
    private transient RetryPolicy retry;
    private transient boolean digestOnly;
    private transient long chunkSize;
    private transient int maxChunks;
    private transient int maxRestarts;
    private transient long minSplit;
    private transient long maxDecodeRatio;
    private transient boolean blake3;
    private transient ConditionalFetch conditional;

    // ---- state ----
    private transient MapState<Long, FetchRequest> queue;
    private transient ValueState<QueueCursor> cursor;
    private transient MapState<Long, Download> active;
    private transient ValueState<HostState> hostState;
    private transient InternalTimerService<VoidNamespace> timers;

    // ---- derived, in memory ----
    private transient Map<String, HostRuntime> hosts;
    /** Per-host limit, overload cap and Retry-After pause (see HostPoliteness). */
    private transient HostPoliteness politeness;
    private transient ArrayDeque<HostRuntime> ring;
    private transient PriorityQueue<Waiting> waiting;
    private transient Set<Attempt> inFlight;
    private transient long queuedTotal;
    private transient long readyTotal;
    private transient int finalizing;
    private transient List<HostRuntime> restoredHosts;
    /** Hosts whose cached queue cursor is newer than its keyed state (flushed in snapshotState). */
    private transient Set<HostRuntime> dirtyCursors;

    // ---- resources ----
    private transient HttpClientHolder.Lease http;
    private transient OutputStore store;
    private transient ScheduledExecutorService sweeper;
    private transient ExecutorService hasher;
    private transient AtomicBoolean sweepPending;
    private transient SplittableRandom random;

    // ---- metrics ----
    private transient Counter requestsOk;
    private transient Counter requestsNotModified;
    private transient Counter requestsFailed;
    private transient Counter attemptsStarted;
    private transient Counter retries;
    private transient Counter bytesStored;
    private transient Counter restarts;
    private transient FetchMetrics metrics;

    public FetchOperator(
            StreamOperatorParameters<FetchResult> parameters, Configuration config, MailboxExecutor mailbox) {
        super(parameters);
        this.config = config;
        this.mailbox = mailbox;
    }

    // ------------------------------------------------------------------------------------------------
    // lifecycle
    // ------------------------------------------------------------------------------------------------

    @Override
    public void initializeState(StateInitializationContext context) throws Exception {
        super.initializeState(context);
        hosts = new HashMap<>();
        ring = new ArrayDeque<>();
        waiting = new PriorityQueue<>();
        inFlight = new HashSet<>();
        restoredHosts = new ArrayList<>();
        dirtyCursors = new HashSet<>();

        queue =
                getPartitionedState(
                        VoidNamespace.INSTANCE,
                        VoidNamespaceSerializer.INSTANCE,
                        new MapStateDescriptor<>(
                                QUEUE_STATE, Types.LONG, TypeInformation.of(FetchRequest.class)));
        cursor =
                getPartitionedState(
                        VoidNamespace.INSTANCE,
                        VoidNamespaceSerializer.INSTANCE,
                        new ValueStateDescriptor<>(CURSOR_STATE, TypeInformation.of(QueueCursor.class)));
        active =
                getPartitionedState(
                        VoidNamespace.INSTANCE,
                        VoidNamespaceSerializer.INSTANCE,
                        new MapStateDescriptor<>(ACTIVE_STATE, Types.LONG, TypeInformation.of(Download.class)));
        hostState =
                getPartitionedState(
                        VoidNamespace.INSTANCE,
                        VoidNamespaceSerializer.INSTANCE,
                        HostPoliteness.stateDescriptor(config.get(FlowgetOptions.HOST_STATE_TTL)));
        // Here, not in open(): rebuilding from state already schedules hosts.
        politeness =
                new HostPoliteness(HostPoliteness.Settings.from(config), RetryPolicy.from(config), hostState, this);

        if (context.isRestored()) {
            rebuildFromState();
        }
    }

    /** Rebuilds the in-memory view from keyed state: counts queues, re-readies every active download. */
    private void rebuildFromState() throws Exception {
        Set<String> keys = new HashSet<>();
        try (Stream<?> k = getKeyedStateBackend().getKeys(CURSOR_STATE, VoidNamespace.INSTANCE)) {
            k.forEach(key -> keys.add(key.toString()));
        }
        long now = ptNow();
        int reissued = 0;
        for (String host : keys) {
            setCurrentKey(host);
            HostRuntime h = host(host);
            QueueCursor c = cursor.value();
            if (c != null) {
                h.cursor = c;
                h.queued = c.size();
                queuedTotal += h.queued;
            }
            for (Map.Entry<Long, Download> e : active.entries()) {
                Active act = new Active(e.getKey(), e.getValue());
                h.downloads.put(act.seq, act);
                if (act.d.retryAt > now) {
                    waiting.add(new Waiting(act.d.retryAt, host, act.seq));
                } else {
                    markReady(h, act);
                    reissued++;
                }
            }
            restoredHosts.add(h);
        }
        LOG.info(
                "Restored {} hosts: {} requests queued, {} unfinished downloads to continue",
                keys.size(),
                queuedTotal,
                reissued);
    }

    @Override
    public void open() throws Exception {
        super.open();
        maxInFlight = config.get(FlowgetOptions.FETCH_MAX_IN_FLIGHT);
        maxBacklog = config.get(FlowgetOptions.FETCH_MAX_BACKLOG);
        defaultMaxBytes =
                config.getOptional(FlowgetOptions.FETCH_MAX_BYTES).map(MemorySize::getBytes).orElse(Long.MAX_VALUE);
        requestTimeoutMillis = config.get(FlowgetOptions.HTTP_REQUEST_TIMEOUT).toMillis();
        responseTimeoutMillis = config.get(FlowgetOptions.HTTP_RESPONSE_TIMEOUT).toMillis();
        idleTimeout = config.get(FlowgetOptions.HTTP_IDLE_TIMEOUT);
        maxRedirects = config.get(FlowgetOptions.HTTP_MAX_REDIRECTS);
        retry = RetryPolicy.from(config);
        digestOnly = config.get(FlowgetOptions.SINK_MODE) == FlowgetOptions.SinkMode.DIGEST_ONLY;
        chunkSize = Math.max(1, config.get(FlowgetOptions.CHUNK_SIZE).getBytes());
        maxChunks = Math.max(1, config.get(FlowgetOptions.CHUNK_MAX_CHUNKS));
        maxRestarts = config.get(FlowgetOptions.CHUNK_MAX_RESTARTS);
        minSplit = config.get(FlowgetOptions.CHUNK_MIN_SPLIT).getBytes();
        maxDecodeRatio = config.get(FlowgetOptions.FETCH_MAX_DECODE_RATIO);
        blake3 = config.get(FlowgetOptions.DIGEST_BLAKE3);
        random = new SplittableRandom();

        String out =
                config.getOptional(FlowgetOptions.STORAGE_OUT_DIR)
                        .orElseThrow(
                                () -> new IllegalArgumentException(FlowgetOptions.STORAGE_OUT_DIR.key() + " is not set"));
        Path outDir = Paths.get(out);
        Path stagingDir =
                config.getOptional(FlowgetOptions.STORAGE_STAGING_DIR)
                        .map(Paths::get)
                        .orElse(outDir.resolve(".flowget-partial"));
        store =
                new OutputStore(
                        outDir,
                        stagingDir,
                        config.get(FlowgetOptions.STORAGE_ON_CONFLICT),
                        config.get(FlowgetOptions.STORAGE_DURABILITY));
        conditional =
                new ConditionalFetch(digestOnly ? null : store, config.get(FlowgetOptions.FETCH_CONDITIONAL), blake3);

        timers = getInternalTimerService("fetch-retries", VoidNamespaceSerializer.INSTANCE, this);
        http = HttpClientHolder.acquire(HttpClientSettings.from(config));

        requestsOk = getMetricGroup().counter("requestsOk");
        requestsNotModified = getMetricGroup().counter("requestsNotModified");
        requestsFailed = getMetricGroup().counter("requestsFailed");
        attemptsStarted = getMetricGroup().counter("attempts");
        retries = getMetricGroup().counter("retries");
        bytesStored = getMetricGroup().counter("bytesStored");
        restarts = getMetricGroup().counter("restarts");
        getMetricGroup().gauge("inFlight", () -> inFlight.size());
        getMetricGroup().gauge("backlog", this::backlog);
        getMetricGroup().gauge("hostsWithWork", () -> hosts.size());
        metrics = new FetchMetrics(getMetricGroup(), http, config.get(FlowgetOptions.METRICS_TOP_HOSTS));

        int subtask = getRuntimeContext().getTaskInfo().getIndexOfThisSubtask();
        sweepPending = new AtomicBoolean();
        sweeper = Executors.newSingleThreadScheduledExecutor(daemon("flowget-sweeper-" + subtask));
        sweeper.scheduleWithFixedDelay(this::postSweep, SWEEP_MILLIS, SWEEP_MILLIS, TimeUnit.MILLISECONDS);
        // Whole-file digests of chunked downloads run here, off the task thread (a 1 GiB file takes ~1 s).
        hasher = Executors.newSingleThreadExecutor(daemon("flowget-hasher-" + subtask));

        for (HostRuntime h : restoredHosts) {
            enqueueIfReady(h);
        }
        restoredHosts.clear();
        pump();
    }

    private static java.util.concurrent.ThreadFactory daemon(String name) {
        return r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        };
    }

    @Override
    public void processElement(StreamRecord<FetchRequest> element) throws Exception {
        FetchRequest req = element.getValue();
        String host = (String) getCurrentKey();
        HostRuntime h = host(host);
        QueueCursor c = cursorOf(h);
        queue.put(c.tail, req);
        c.tail++;
        markCursorDirty(h);
        h.queued++;
        queuedTotal++;
        enqueueIfReady(h);
        pump();
        // Backpressure: beyond max-backlog, stop taking input until completions shrink the backlog; Kafka
        // keeps the rest. yield() runs other mail (completions, timers) and may change the current key.
        while (backlog() > maxBacklog) {
            mailbox.yield();
        }
    }

    @Override
    public void prepareSnapshotPreBarrier(long checkpointId) throws Exception {
        super.prepareSnapshotPreBarrier(checkpointId);
        // Group commit: files published and chunks recorded before this barrier become durable before the
        // checkpoint (and with it the result or chunk progress that refers to them) can complete.
        store.syncPending();
    }

    @Override
    public void snapshotState(StateSnapshotContext context) throws Exception {
        // Write-behind of the queue cursors: they change twice per request, but only their value at a
        // checkpoint matters (the keyed backend is snapshotted right after this method returns).
        for (HostRuntime h : dirtyCursors) {
            setCurrentKey(h.host);
            cursor.update(h.cursor);
        }
        dirtyCursors.clear();
        super.snapshotState(context);
    }

    /** The host's queue cursor, cached in memory (the current key must be the host's). */
    private QueueCursor cursorOf(HostRuntime h) throws Exception {
        if (h.cursor == null) {
            QueueCursor c = cursor.value();
            h.cursor = c != null ? c : new QueueCursor(0, 0);
        }
        return h.cursor;
    }

    private void markCursorDirty(HostRuntime h) {
        dirtyCursors.add(h);
    }

    @Override
    public void finish() throws Exception {
        // Bounded input: wait, yielding to the mailbox, until every request is terminal. Timers no longer fire
        // here, so due retries are promoted by the sweeper's mail.
        while (hasWork()) {
            promoteDue(ptNow());
            pump();
            if (!hasWork()) {
                break;
            }
            mailbox.yield();
        }
        store.syncPending();
        super.finish();
    }

    private boolean hasWork() {
        return backlog() > 0 || !inFlight.isEmpty() || finalizing > 0;
    }

    @Override
    public void close() throws Exception {
        try {
            if (sweeper != null) {
                sweeper.shutdownNow();
            }
            if (hasher != null) {
                hasher.shutdownNow();
            }
            if (inFlight != null) {
                for (Attempt a : new ArrayList<>(inFlight)) {
                    a.cancel("shutdown");
                }
                inFlight.clear();
            }
            if (http != null) {
                HttpClientHolder.release(http);
                http = null;
            }
        } finally {
            super.close();
        }
    }

    // ------------------------------------------------------------------------------------------------
    // scheduling
    // ------------------------------------------------------------------------------------------------

    private HostRuntime host(String host) {
        return hosts.computeIfAbsent(host, HostRuntime::new);
    }

    private void enqueueIfReady(HostRuntime h) {
        if (!h.inRing && h.hasReadyWork() && politeness.mayIssue(h.host, h.inFlight, ptNow())) {
            h.inRing = true;
            ring.addLast(h);
        }
    }

    /** Puts a download on its host's ready list (once) and the host in the ring. */
    private void markReady(HostRuntime h, Active act) {
        if (!act.inReady) {
            act.inReady = true;
            h.ready.addLast(act.seq);
            readyTotal++;
        }
        enqueueIfReady(h);
    }

    /** Issues requests while permits are free, one per host per turn. */
    private void pump() throws Exception {
        while (inFlight.size() < maxInFlight && !ring.isEmpty()) {
            HostRuntime h = ring.pollFirst();
            h.inRing = false;
            if (!h.hasReadyWork() || !politeness.mayIssue(h.host, h.inFlight, ptNow())) {
                continue;
            }
            issueNext(h);
            enqueueIfReady(h);
        }
    }

    /**
     * Issues the host's next piece of work. Downloads with work (retries, restored downloads, further chunks of
     * large files) and new requests from the queue take turns, so a large file's chunks interleave fairly with
     * the host's other requests.
     */
    private void issueNext(HostRuntime h) throws Exception {
        setCurrentKey(h.host);
        long now = System.currentTimeMillis();
        boolean fromReady = !h.ready.isEmpty() && (h.queued == 0 || !h.preferQueue);
        h.preferQueue = fromReady;
        Active act;
        if (fromReady) {
            long seq = h.ready.pollFirst();
            readyTotal--;
            act = h.downloads.get(seq);
            if (act == null) {
                return;
            }
            act.inReady = false;
        } else {
            QueueCursor c = cursorOf(h);
            long seq = c.head;
            FetchRequest req = queue.get(seq);
            queue.remove(seq);
            c.head++;
            markCursorDirty(h);
            h.queued--;
            queuedTotal--;
            if (req == null) {
                return;
            }
            Download d = new Download(req, now);
            // A digest-only run stores nothing, so it has no staging file to write chunks into.
            d.mode = digestOnly ? Download.SINGLE : Download.PROBE;
            act = new Active(seq, d);
            h.downloads.put(seq, act);
        }
        Download d = act.d;
        if (d.request.deadline != null && now >= d.request.deadline) {
            fail(h, act, null, "deadline exceeded" + lastErrorSuffix(d));
            return;
        }
        if (act.attempts.isEmpty()) {
            String refused = politeness.refusal(h.host, ptNow()); // a dead host past its retry budget
            if (refused != null) {
                fail(h, act, d.lastHttpStatus, refused);
                return;
            }
        }
        if (act.finalizing) {
            return;
        }
        if (!Download.CHUNKED.equals(d.mode)) {
            if (act.attempts.isEmpty()) {
                start(h, act, null);
            }
            return;
        }
        if (Intervals.complete(d.done, d.length)) {
            if (act.attempts.isEmpty()) {
                finalizeChunked(h, act);
            }
            return;
        }
        if (act.plan == null) {
            if (!Files.exists(staging(h, act))) {
                // the partial file is gone (cleaned state dir): start over, nothing to resume from
                startOver(h, act, false);
                return;
            }
            act.plan = new RangePlan(d.length, effectiveChunkSize(d.length), d.done);
        }
        long[] range = act.plan.next();
        if (range == null) {
            return;
        }
        start(h, act, range);
        if (act.plan.hasPending()) {
            markReady(h, act);
        }
    }

    private long effectiveChunkSize(long length) {
        return Math.max(chunkSize, (length + maxChunks - 1) / maxChunks);
    }

    private Path staging(HostRuntime h, Active act) {
        return store.stagingFile(h.host, act.seq, act.d.generation);
    }

    /** Starts an HTTP attempt: the whole body (range null; a probe asks for the first chunk) or one chunk. */
    private void start(HostRuntime h, Active act, long[] range) throws Exception {
        Download d = act.d;
        d.attempts++;
        d.retryAt = 0;
        active.put(act.seq, d);
        long now = System.currentTimeMillis();
        long deadlineAt = now + requestTimeoutMillis;
        if (d.request.deadline != null) {
            deadlineAt = Math.min(deadlineAt, d.request.deadline);
        }
        Attempt a = new Attempt(h.host, act.seq, d.request.url, now, deadlineAt);
        a.generation = d.generation;
        a.probe = Download.PROBE.equals(d.mode);
        if (range != null) {
            a.range = range;
            a.rangeStart = range[0];
            a.rangeLimit = range[1];
            a.progress = range[0];
        }
        h.inFlight++;
        a.hostInFlight = h.inFlight;
        politeness.onIssued(h.host, ptNow());
        inFlight.add(a);
        act.attempts.add(a);
        attemptsStarted.inc();
        send(a, act);
    }

    /** Sends the current hop of an attempt. The completion comes back as mail. */
    private void send(Attempt a, Active act) {
        Download d = act.d;
        FetchRequest req = d.request;
        a.startHop(); // hop clocks: response timeout and the host's time to first byte
        AsyncRequestBuilder rb = AsyncRequestBuilder.get(a.url);
        if (req.headers != null) {
            for (Map.Entry<String, String> e : req.headers.entrySet()) {
                rb.addHeader(e.getKey(), e.getValue());
            }
        }
        AsyncResponseConsumer<FetchOutcome> consumer;
        Path staging = store.stagingFile(a.host, a.seq, a.generation);
        if (a.range != null) {
            // Ranges apply to the coded bytes, so chunks ask for identity; If-Range makes a changed resource
            // answer 200 (whole new body) instead of a 206 of the new version.
            rb.addHeader("Range", "bytes=" + a.range[0] + "-" + a.range[1]);
            rb.addHeader("If-Range", d.validator);
            rb.addHeader("Accept-Encoding", "identity");
            consumer = new RangeResponseConsumer(staging, a, d.length, d.validator, d.validatorIsEtag);
        } else {
            long maxBytes = maxBytes(req);
            if (a.probe) {
                rb.addHeader("Range", "bytes=0-" + (chunkSize - 1));
                rb.addHeader("Accept-Encoding", "identity");
            } else {
                // Stored bytes are the decoded representation (CONTRACT.md): offer what the pipeline decodes.
                rb.addHeader("Accept-Encoding", ACCEPT_ENCODING);
            }
            // Conditional re-fetch: the validators recorded with the file an earlier run stored
            // (ConditionalFetch); they replace conditional headers of the request event, which could not
            // describe that file. On a probe, a matching validator wins over Range (RFC 9110 §13.2.2): 304.
            conditional.headers(req, maxBytes).forEach(rb::setHeader);
            consumer =
                    new StagingResponseConsumer(
                            digestOnly ? null : staging, new BodyPolicy(maxBytes, maxDecodeRatio, blake3), a);
        }
        AsyncRequestProducer producer = rb.build();
        a.future =
                http.client()
                        .execute(
                                producer,
                                consumer,
                                null,
                                HttpClientContext.create(),
                                new FutureCallback<>() {
                                    @Override
                                    public void completed(FetchOutcome result) {
                                        post(a, result);
                                    }

                                    @Override
                                    public void failed(Exception ex) {
                                        post(a, FetchOutcome.failure(ex));
                                    }

                                    @Override
                                    public void cancelled() {
                                        post(a, FetchOutcome.failure(new CancellationException()));
                                    }
                                });
        // A cancel() that raced with execute() (sweeper timeout) must still reach the new future.
        if (a.cancelReason != null) {
            a.future.cancel(true);
        }
    }

    private void post(Attempt a, FetchOutcome o) {
        try {
            mailbox.execute(() -> onOutcome(a, o), "fetch-complete");
        } catch (RejectedExecutionException closing) {
            // The task is shutting down: the request is still in keyed state and is issued again on restore.
        }
    }

    // ------------------------------------------------------------------------------------------------
    // completions
    // ------------------------------------------------------------------------------------------------

    private void onOutcome(Attempt a, FetchOutcome o) throws Exception {
        if (!inFlight.contains(a)) {
            return; // superseded (download restarted or finished) or cancelled at shutdown
        }
        HostRuntime h = host(a.host);
        setCurrentKey(a.host);
        Active act = h.downloads.get(a.seq);
        if (act == null || act.d.generation != a.generation) {
            release(h, act, a);
            return;
        }
        Download d = act.d;
        if (o.status > 0) {
            d.lastHttpStatus = o.status;
        }
        if (o.isRedirect()) {
            String next = nextHop(a, o.location);
            if (next.startsWith("!")) {
                release(h, act, a);
                fail(h, act, o.status, next.substring(1));
            } else {
                a.url = next;
                a.hops++;
                a.visited.add(next);
                send(a, act);
            }
            return;
        }
        release(h, act, a);
        // Politeness: feed the host's limiter; a Retry-After or an open circuit parks the whole host until a
        // timer wakes it.
        long pausedUntil =
                politeness.onOutcome(
                        a.host, o, a.cancelReason, a.hostInFlight, h.inFlight + 1,
                        (System.currentTimeMillis() - a.hopStartedAt) * 1_000_000L, a.ttfbNanos(), ptNow());
        if (pausedUntil > 0) {
            timers.registerProcessingTimeTimer(VoidNamespace.INSTANCE, pausedUntil);
        }
        metrics.attemptFinished(System.currentTimeMillis() - a.startedAt);
        if (a.range != null) {
            onChunkOutcome(h, act, a, o);
        } else {
            onWholeOutcome(h, act, a, o);
        }
        enqueueIfReady(h);
        pump();
    }

    /** Outcome of a probe or of a whole-body GET. */
    private void onWholeOutcome(HostRuntime h, Active act, Attempt a, FetchOutcome o) throws Exception {
        Download d = act.d;
        Path staging = staging(h, act);
        int s = o.status;
        if (o.error != null) {
            Failures.Failure f = Failures.classify(o.error, a.cancelReason, idleTimeout);
            store.discard(staging);
            if (f.retryable()) {
                retryOrFail(h, act, f.reason(), -1);
            } else {
                fail(h, act, d.lastHttpStatus, f.reason());
            }
            return;
        }
        if (a.probe && s == 206) {
            ContentRange cr = o.contentRange;
            if (o.stored && cr != null && cr.complete() >= 0 && cr.last() + 1 == cr.complete()) {
                succeed(h, act, o, staging); // the whole file came with the first answer
                return;
            }
            String validator = strongValidator(o);
            if (o.stored && cr != null && cr.complete() > 0 && validator != null) {
                planChunks(h, act, o, cr, validator, staging);
                return;
            }
            // An unusable 206, or no validator that could keep two versions apart: one plain GET instead.
            toSingle(h, act);
            return;
        }
        if (a.probe && s == 416) {
            toSingle(h, act); // e.g. an empty file: no byte 0 to range over
            return;
        }
        if (s >= 200 && s < 300 && s != 206) {
            succeed(h, act, o, staging);
            return;
        }
        if (s == 304) {
            store.discard(staging);
            notModified(h, act);
            return;
        }
        store.discard(staging);
        if (s == 206) {
            fail(h, act, s, "http 206 to a request without Range");
        } else if (RetryPolicy.isRetryableStatus(s)) {
            retryOrFail(h, act, "http " + s, retry.retryAfterMillis(o.retryAfter, System.currentTimeMillis()));
        } else {
            fail(h, act, s, s >= 300 && s < 400 ? "http " + s + " without usable Location" : "http " + s);
        }
    }

    /** The probe's 206 showed a large file with a strong validator: plan parallel chunks. */
    private void planChunks(HostRuntime h, Active act, FetchOutcome o, ContentRange cr, String validator, Path staging)
            throws Exception {
        Download d = act.d;
        d.mode = Download.CHUNKED;
        d.length = cr.complete();
        d.validator = validator;
        d.validatorIsEtag = o.etag != null && validator.equals(o.etag.trim());
        d.done = Intervals.add(Intervals.EMPTY, 0, cr.last());
        d.failures = 0;
        // Pre-size the staging file (sparse): chunks are positional writes into it.
        try (RandomAccessFile f = new RandomAccessFile(staging.toFile(), "rw")) {
            f.setLength(d.length);
        }
        store.markDirty(staging);
        active.put(act.seq, d);
        act.plan = new RangePlan(d.length, effectiveChunkSize(d.length), d.done);
        markReady(h, act);
    }

    /** Chunk requests carry a strong ETag in If-Range, or else Last-Modified; weak ETags never. */
    static String strongValidator(FetchOutcome o) {
        if (o.etag != null) {
            String e = o.etag.trim();
            if (!e.startsWith("W/") && e.length() >= 2 && e.startsWith("\"") && e.endsWith("\"")) {
                return e;
            }
        }
        if (o.lastModified != null && !o.lastModified.isBlank()) {
            return o.lastModified.trim();
        }
        return null;
    }

    /** Outcome of one chunk of a chunked download. */
    private void onChunkOutcome(HostRuntime h, Active act, Attempt a, FetchOutcome o) throws Exception {
        Download d = act.d;
        long[] range = a.range;
        long end = Math.min(range[1], a.rangeLimit);
        Path staging = staging(h, act);
        int s = o.status;
        if (o.error != null) {
            // Bytes written before the failure belong to the validated version: keep them.
            long written = a.progress - 1;
            if (written >= range[0]) {
                d.done = Intervals.add(d.done, range[0], written);
                store.markDirty(staging);
            }
            act.plan.finished(range, new long[] {Math.max(range[0], written + 1), end});
            Failures.Failure f = Failures.classify(o.error, a.cancelReason, idleTimeout);
            if (f.retryable()) {
                chunkRetry(h, act, f.reason(), -1);
            } else {
                fail(h, act, d.lastHttpStatus, f.reason());
            }
            return;
        }
        if (s == 206 && o.stored) {
            if (o.rangeLast >= o.rangeFirst) {
                d.done = Intervals.add(d.done, o.rangeFirst, o.rangeLast);
            }
            long[] rest = o.rangeLast < end ? new long[] {Math.max(range[0], o.rangeLast + 1), end} : null;
            act.plan.finished(range, rest);
            d.failures = 0;
            store.markDirty(staging);
            active.put(act.seq, d);
            if (Intervals.complete(d.done, d.length)) {
                cancelAttempts(h, act); // split halves that are no longer needed
                finalizeChunked(h, act);
            } else if (act.plan.hasPending()) {
                markReady(h, act);
            } else {
                splitStraggler(h, act);
            }
            return;
        }
        act.plan.finished(range, range);
        if (o.changed || s == 412 || s == 416 || (s == 200 && !sameValidator(d, o))) {
            startOver(h, act, true);
        } else if (s == 200 || s == 206) {
            // Same resource, but ranges stopped working (or an unusable 206): fall back to one plain GET;
            // the 200 body is never written at an offset.
            toSingle(h, act);
        } else if (RetryPolicy.isRetryableStatus(s)) {
            chunkRetry(h, act, "http " + s, retry.retryAfterMillis(o.retryAfter, System.currentTimeMillis()));
        } else {
            fail(h, act, s, "http " + s);
        }
    }

    private static boolean sameValidator(Download d, FetchOutcome o) {
        String v = d.validatorIsEtag ? o.etag : o.lastModified;
        return v != null && v.trim().equals(d.validator);
    }

    /**
     * Slow tail: with nothing left to plan, the in-flight chunk with the most bytes left gives its second half
     * to a new attempt (its own limit is lowered), so one slow connection cannot hold the file at 99 %.
     */
    private void splitStraggler(HostRuntime h, Active act) {
        Attempt best = null;
        long bestLeft = 0;
        for (Attempt a : act.attempts) {
            long left = a.rangeLimit - Math.max(a.progress, a.rangeStart) + 1;
            if (a.range != null && left > bestLeft) {
                best = a;
                bestLeft = left;
            }
        }
        if (best == null || bestLeft < 2 * minSplit) {
            return;
        }
        long from = Math.max(best.progress, best.rangeStart);
        long mid = from + bestLeft / 2;
        long[] second = {mid, best.rangeLimit};
        best.rangeLimit = mid - 1;
        act.plan.addFirst(second);
        markReady(h, act);
    }

    /** The resource changed (or its partial file vanished): discard everything, start a new generation. */
    private void startOver(HostRuntime h, Active act, boolean changed) throws Exception {
        Download d = act.d;
        if (changed) {
            d.restarts++;
            restarts.inc();
            if (d.restarts > maxRestarts) {
                fail(h, act, d.lastHttpStatus, "resource changed during download (" + d.restarts + " times)");
                return;
            }
            LOG.info("{} changed during download; starting over (generation {})", d.request.url, d.generation + 1);
        }
        newGeneration(h, act, Download.PROBE);
    }

    /** Ranges do not work (or cannot be trusted) for this resource: one plain GET of the whole body. */
    private void toSingle(HostRuntime h, Active act) throws Exception {
        newGeneration(h, act, Download.SINGLE);
    }

    private void newGeneration(HostRuntime h, Active act, String mode) throws Exception {
        Download d = act.d;
        cancelAttempts(h, act);
        store.discard(staging(h, act));
        d.generation++;
        d.mode = mode;
        d.length = -1;
        d.done = Intervals.EMPTY;
        d.validator = null;
        d.validatorIsEtag = false;
        act.plan = null;
        active.put(act.seq, d);
        markReady(h, act);
    }

    private void cancelAttempts(HostRuntime h, Active act) {
        for (Attempt a : new ArrayList<>(act.attempts)) {
            a.cancel("superseded");
            release(h, act, a);
        }
    }

    private void chunkRetry(HostRuntime h, Active act, String reason, long retryAfterMillis) throws Exception {
        Download d = act.d;
        d.failures++;
        d.lastError = reason;
        if (d.failures >= retry.maxAttempts()) {
            fail(h, act, d.lastHttpStatus, reason + " (after " + d.failures + " failed chunk attempts)");
            return;
        }
        scheduleRetry(h, act, retryAfterMillis >= 0 ? retryAfterMillis : retry.backoffMillis(d.failures, random));
    }

    /** Digest and length check of a completed chunked file, off the task thread; publishes on return. */
    private void finalizeChunked(HostRuntime h, Active act) {
        if (act.finalizing) {
            return;
        }
        act.finalizing = true;
        finalizing++;
        Download d = act.d;
        Path staging = staging(h, act);
        long seq = act.seq;
        int generation = d.generation;
        String host = h.host;
        boolean withBlake3 = blake3;
        hasher.execute(
                () -> {
                    Digests.FileDigest digest = null;
                    Exception error = null;
                    try {
                        Path file = staging;
                        if (!Files.exists(file)) {
                            // published before a crash that came ahead of the checkpoint: verify the final file
                            file = store.resolve(d.request.path);
                        }
                        digest = Digests.digest(file, withBlake3);
                    } catch (Exception e) {
                        error = e;
                    }
                    Digests.FileDigest result = digest;
                    Exception failure = error;
                    try {
                        mailbox.execute(() -> onFinalized(host, seq, generation, result, failure), "fetch-finalize");
                    } catch (RejectedExecutionException closing) {
                        // shutting down: finalize runs again after the restore
                    }
                });
    }

    private void onFinalized(String host, long seq, int generation, Digests.FileDigest digest, Exception error)
            throws Exception {
        HostRuntime h = host(host);
        setCurrentKey(host);
        Active act = h.downloads.get(seq);
        if (act == null || act.d.generation != generation || !act.finalizing) {
            return;
        }
        act.finalizing = false;
        finalizing--;
        Download d = act.d;
        Path staging = staging(h, act);
        if (error != null) {
            fail(h, act, d.lastHttpStatus, "storage error: " + error.getMessage());
        } else if (digest.bytes() != d.length) {
            store.discard(staging);
            fail(h, act, d.lastHttpStatus, "length mismatch (expected " + d.length + ", got " + digest.bytes() + ")");
        } else {
            FetchOutcome o = new FetchOutcome();
            o.status = d.lastHttpStatus == null ? 206 : d.lastHttpStatus;
            o.bytes = digest.bytes();
            o.sha256 = digest.sha256();
            o.blake3 = digest.blake3();
            o.stored = true;
            if (d.validatorIsEtag) {
                o.etag = d.validator;
            } else {
                o.lastModified = d.validator;
            }
            succeed(h, act, o, staging);
        }
        enqueueIfReady(h);
        pump();
    }

    /** Resolves a redirect target; a result starting with '!' is the reason to fail instead. */
    private String nextHop(Attempt a, String location) {
        if (a.hops >= maxRedirects) {
            return "!too many redirects (more than " + maxRedirects + ")";
        }
        URI target;
        try {
            target = new URI(a.url).resolve(new URI(location.trim()));
        } catch (URISyntaxException | IllegalArgumentException e) {
            return "!invalid redirect Location: " + location;
        }
        String scheme = target.getScheme() == null ? "" : target.getScheme().toLowerCase(Locale.ROOT);
        if (!scheme.equals("http") && !scheme.equals("https")) {
            return "!redirect to unsupported URL scheme '" + scheme + "'";
        }
        if (target.getHost() == null) {
            return "!invalid redirect Location: " + location;
        }
        String next = stripFragment(target).toString();
        if (a.visited.contains(next)) {
            return "!redirect loop at " + next;
        }
        return next;
    }

    private static URI stripFragment(URI u) {
        if (u.getRawFragment() == null) {
            return u;
        }
        String s = u.toString();
        return URI.create(s.substring(0, s.indexOf('#')));
    }

    private void succeed(HostRuntime h, Active act, FetchOutcome o, Path staging) throws Exception {
        Download d = act.d;
        FetchRequest req = d.request;
        if (req.sha256 != null && !req.sha256.equalsIgnoreCase(o.sha256)) {
            store.discard(staging);
            fail(h, act, o.status, "checksum mismatch (expected " + req.sha256 + ", got " + o.sha256 + ")");
            return;
        }
        try {
            if (!digestOnly && Files.exists(staging)) {
                store.publish(
                        staging,
                        req.path,
                        req.url,
                        new OutputStore.FileMeta(o.etag, o.lastModified, o.sha256, o.blake3));
            }
        } catch (IOException e) {
            store.discard(staging);
            String msg =
                    e instanceof OutputStore.PathConflictException
                            ? e.getMessage()
                            : "storage error: " + e.getMessage();
            fail(h, act, o.status, msg);
            return;
        }
        FetchResult r = base(d);
        r.status = ResultStatus.OK;
        r.httpStatus = o.status;
        r.bytes = o.bytes;
        r.sha256 = o.sha256;
        r.blake3 = o.blake3;
        r.path = req.path;
        r.contentEncoding = o.decodedCoding;
        requestsOk.inc();
        bytesStored.inc(o.bytes);
        terminal(h, act, r);
    }

    /**
     * A 304: the origin confirmed the validators sent with the request, so the file at the path is current and
     * stays untouched. Without a usable recorded file (it changed or vanished meanwhile) the 304 cannot be
     * honoured and the request FAILs.
     */
    private void notModified(HostRuntime h, Active act) throws Exception {
        Download d = act.d;
        FetchResult r = base(d);
        if (!conditional.notModified(d.request, maxBytes(d.request), r)) {
            fail(h, act, 304, "http 304 without a recorded copy at " + d.request.path);
            return;
        }
        requestsNotModified.inc();
        terminal(h, act, r);
    }

    private long maxBytes(FetchRequest req) {
        return req.maxBytes != null ? req.maxBytes : defaultMaxBytes;
    }

    private void retryOrFail(HostRuntime h, Active act, String reason, long retryAfterMillis) throws Exception {
        Download d = act.d;
        d.lastError = reason;
        if (d.attempts >= retry.maxAttempts()) {
            fail(h, act, d.lastHttpStatus, reason + " (after " + d.attempts + " attempts)");
            return;
        }
        scheduleRetry(h, act, retryAfterMillis >= 0 ? retryAfterMillis : retry.backoffMillis(d.attempts, random));
    }

    private void scheduleRetry(HostRuntime h, Active act, long delay) throws Exception {
        Download d = act.d;
        long due = ptNow() + delay;
        if (d.request.deadline != null && System.currentTimeMillis() + delay >= d.request.deadline) {
            fail(h, act, d.lastHttpStatus, "deadline exceeded" + lastErrorSuffix(d));
            return;
        }
        d.retryAt = due;
        active.put(act.seq, d);
        waiting.add(new Waiting(due, h.host, act.seq));
        retries.inc();
        timers.registerProcessingTimeTimer(VoidNamespace.INSTANCE, due);
    }

    private static String lastErrorSuffix(Download d) {
        return d.lastError == null ? "" : " (last error: " + d.lastError + ")";
    }

    private void fail(HostRuntime h, Active act, Integer httpStatus, String reason) throws Exception {
        store.discard(staging(h, act));
        FetchResult r = base(act.d);
        r.status = ResultStatus.FAILED;
        r.httpStatus = httpStatus;
        r.error = reason;
        requestsFailed.inc();
        metrics.failed(reason);
        terminal(h, act, r);
    }

    private FetchResult base(Download d) {
        FetchResult r = new FetchResult();
        r.id = d.request.id;
        r.url = d.request.url;
        r.attempts = d.attempts;
        r.elapsedMs = Math.max(0, System.currentTimeMillis() - d.firstAttemptAt);
        r.restarts = d.restarts > 0 ? d.restarts : null;
        return r;
    }

    /** Emits the one result of a request and drops its state; clears the host's state when it is idle. */
    private void terminal(HostRuntime h, Active act, FetchResult r) throws Exception {
        cancelAttempts(h, act);
        if (act.finalizing) {
            act.finalizing = false;
            finalizing--;
        }
        if (act.inReady) {
            h.ready.remove(act.seq);
            readyTotal--;
            act.inReady = false;
        }
        if (act.d.retryAt > 0) {
            waiting.removeIf(w -> w.seq == act.seq && w.host.equals(h.host));
        }
        active.remove(act.seq);
        h.downloads.remove(act.seq);
        output.collect(new StreamRecord<>(r));
        if (h.queued == 0 && h.downloads.isEmpty()) {
            cursor.clear();
            h.cursor = null;
            dirtyCursors.remove(h);
            hosts.remove(h.host);
        }
    }

    private void release(HostRuntime h, Active act, Attempt a) {
        if (inFlight.remove(a)) {
            h.inFlight--;
        }
        if (act != null) {
            act.attempts.remove(a);
        }
    }

    // ------------------------------------------------------------------------------------------------
    // timers and the sweeper
    // ------------------------------------------------------------------------------------------------

    @Override
    public void onProcessingTime(InternalTimer<String, VoidNamespace> timer) throws Exception {
        promoteDue(ptNow());
        pump();
    }

    @Override
    public void onEventTime(InternalTimer<String, VoidNamespace> timer) {}

    /** Moves retries that are due to their host's ready list. */
    private void promoteDue(long now) {
        for (String resumed : politeness.resumeDue(now)) {
            HostRuntime h = hosts.get(resumed);
            if (h != null) {
                enqueueIfReady(h);
            }
        }
        while (!waiting.isEmpty() && waiting.peek().dueAt <= now) {
            Waiting w = waiting.poll();
            HostRuntime h = hosts.get(w.host);
            Active act = h == null ? null : h.downloads.get(w.seq);
            if (act != null) {
                act.d.retryAt = 0;
                markReady(h, act);
            }
        }
    }

    private void postSweep() {
        if (!sweepPending.compareAndSet(false, true)) {
            return;
        }
        try {
            mailbox.execute(this::sweep, "fetch-sweep");
        } catch (RejectedExecutionException closing) {
            sweepPending.set(false);
        }
    }

    /** Enforces attempt deadlines and response-header timeouts, promotes due retries, pumps. */
    private void sweep() throws Exception {
        sweepPending.set(false);
        long now = System.currentTimeMillis();
        for (Attempt a : inFlight) {
            if (now >= a.deadlineAt) {
                a.cancel(
                        a.deadlineAt - a.startedAt >= requestTimeoutMillis
                                ? "timeout: attempt exceeded " + Failures.seconds(Duration.ofMillis(requestTimeoutMillis))
                                : "deadline exceeded");
            } else if (!a.headersReceived && now - a.hopStartedAt >= responseTimeoutMillis) {
                a.cancel(
                        "timeout: no response headers within "
                                + Failures.seconds(Duration.ofMillis(responseTimeoutMillis)));
            }
        }
        metrics.refresh(politeness, ptNow(), host -> {
            HostRuntime r = hosts.get(host);
            return r == null ? 0 : r.inFlight;
        });
        promoteDue(ptNow());
        pump();
    }

    /**
     * The clock of retry due times: the processing-time service (wall clock in a job, manual time in the
     * operator test harness). Attempt timeouts and request deadlines use the wall clock.
     */
    private long ptNow() {
        return getProcessingTimeService().getCurrentProcessingTime();
    }

    // ------------------------------------------------------------------------------------------------
    // test hooks
    // ------------------------------------------------------------------------------------------------

    /** Requests in flight right now (tests). */
    int inFlightCount() {
        return inFlight.size();
    }

    /** Hosts that have any entry in any of the operator's keyed states; zero when all work is done (tests). */
    long hostsWithState() throws Exception {
        Set<Object> keys = new HashSet<>();
        for (String state : List.of(QUEUE_STATE, CURSOR_STATE, ACTIVE_STATE)) {
            try (Stream<?> k = getKeyedStateBackend().getKeys(state, VoidNamespace.INSTANCE)) {
                k.forEach(keys::add);
            }
        }
        return keys.size();
    }

    /** Requests queued, downloads ready to issue work, and retries waiting (also the backpressure measure). */
    long backlog() {
        return queuedTotal + readyTotal + waiting.size();
    }

    /** In-memory per-host bookkeeping; rebuilt from state on restore. */
    private static final class HostRuntime {
        final String host;
        /** Downloads that can issue work now, in turn. */
        final ArrayDeque<Long> ready = new ArrayDeque<>();
        /** Every entry of the host's active state, by sequence number. */
        final Map<Long, Active> downloads = new HashMap<>();
        /** Requests in the durable queue. */
        long queued;
        /** Cached queue cursor (write-behind, see snapshotState), or null when not loaded. */
        QueueCursor cursor;
        int inFlight;
        boolean inRing;
        /** Alternates ready downloads and new requests when both wait. */
        boolean preferQueue;

        HostRuntime(String host) {
            this.host = host;
        }

        boolean hasReadyWork() {
            return queued > 0 || !ready.isEmpty();
        }
    }

    /** In-memory companion of an active download: its attempts in flight and, when chunked, its plan. */
    private static final class Active {
        final long seq;
        final Download d;
        final List<Attempt> attempts = new ArrayList<>(2);
        RangePlan plan;
        boolean inReady;
        boolean finalizing;

        Active(long seq, Download d) {
            this.seq = seq;
            this.d = d;
        }
    }

    /** A retry waiting for its due time. */
    private record Waiting(long dueAt, String host, long seq) implements Comparable<Waiting> {
        @Override
        public int compareTo(Waiting o) {
            return Long.compare(dueAt, o.dueAt);
        }
    }
}
