package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.http.Attempt;
import io.flowget.udf.http.FetchOutcome;
import io.flowget.udf.http.HttpClientHolder;
import io.flowget.udf.http.HttpClientSettings;
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
import org.apache.hc.core5.http.nio.support.AsyncRequestBuilder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
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
    private transient long backlog;
    private transient List<HostRuntime> restoredHosts;

    // ---- resources ----
    private transient HttpClientHolder.Lease http;
    private transient OutputStore store;
    private transient ScheduledExecutorService sweeper;
    private transient AtomicBoolean sweepPending;
    private transient SplittableRandom random;

    // ---- metrics ----
    private transient Counter requestsOk;
    private transient Counter requestsFailed;
    private transient Counter attemptsStarted;
    private transient Counter retries;
    private transient Counter bytesStored;
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

        if (context.isRestored()) {
            rebuildFromState();
        }
    }

    /** Rebuilds the in-memory view from keyed state: counts queues, re-readies every active download. */
    private void rebuildFromState() throws Exception {
        Set<String> keys = new HashSet<>();
        try (Stream<?> k = getKeyedStateBackend().getKeys(CURSOR_STATE, VoidNamespace.INSTANCE)) {
            keys.addAll(k.map(Object::toString).collect(Collectors.toList()));
        }
        long now = ptNow();
        int reissued = 0;
        for (String host : keys) {
            setCurrentKey(host);
            HostRuntime h = host(host);
            QueueCursor c = cursor.value();
            if (c != null) {
                h.queued = c.size();
                backlog += h.queued;
            }
            for (Map.Entry<Long, Download> e : active.entries()) {
                Download d = e.getValue();
                h.active++;
                if (d.retryAt > now) {
                    waiting.add(new Waiting(d.retryAt, host, e.getKey()));
                } else {
                    h.ready.add(e.getKey());
                    reissued++;
                }
                backlog++;
            }
            restoredHosts.add(h);
        }
        LOG.info(
                "Restored {} hosts: {} requests waiting, {} unfinished downloads to issue again",
                keys.size(),
                backlog,
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
        politeness = new HostPoliteness(HostPoliteness.Settings.from(config), retry, hostState, this);
        digestOnly = config.get(FlowgetOptions.SINK_MODE) == FlowgetOptions.SinkMode.DIGEST_ONLY;
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

        timers = getInternalTimerService("fetch-retries", VoidNamespaceSerializer.INSTANCE, this);
        http = HttpClientHolder.acquire(HttpClientSettings.from(config));

        requestsOk = getMetricGroup().counter("requestsOk");
        requestsFailed = getMetricGroup().counter("requestsFailed");
        attemptsStarted = getMetricGroup().counter("attempts");
        retries = getMetricGroup().counter("retries");
        bytesStored = getMetricGroup().counter("bytesStored");
        getMetricGroup().gauge("inFlight", () -> inFlight.size());
        getMetricGroup().gauge("backlog", () -> backlog);
        getMetricGroup().gauge("hostsWithWork", () -> hosts.size());
        metrics = new FetchMetrics(getMetricGroup(), http);

        sweepPending = new AtomicBoolean();
        sweeper =
                Executors.newSingleThreadScheduledExecutor(
                        r -> {
                            Thread t = new Thread(r, "flowget-sweeper-" + getRuntimeContext().getTaskInfo().getIndexOfThisSubtask());
                            t.setDaemon(true);
                            return t;
                        });
        sweeper.scheduleWithFixedDelay(this::postSweep, SWEEP_MILLIS, SWEEP_MILLIS, TimeUnit.MILLISECONDS);

        for (HostRuntime h : restoredHosts) {
            enqueueIfReady(h);
        }
        restoredHosts.clear();
        pump();
    }

    @Override
    public void processElement(StreamRecord<FetchRequest> element) throws Exception {
        FetchRequest req = element.getValue();
        String host = (String) getCurrentKey();
        HostRuntime h = host(host);
        QueueCursor c = cursor.value();
        if (c == null) {
            c = new QueueCursor(0, 0);
        }
        queue.put(c.tail, req);
        c.tail++;
        cursor.update(c);
        h.queued++;
        backlog++;
        enqueueIfReady(h);
        pump();
        // Backpressure: beyond max-backlog, stop taking input until completions shrink the backlog; Kafka
        // keeps the rest. yield() runs other mail (completions, timers) and may change the current key.
        while (backlog > maxBacklog) {
            mailbox.yield();
        }
    }

    @Override
    public void prepareSnapshotPreBarrier(long checkpointId) throws Exception {
        super.prepareSnapshotPreBarrier(checkpointId);
        // Group commit: files published before this barrier become durable before the checkpoint (and
        // with it the result that names them) can complete.
        store.syncPending();
    }

    @Override
    public void snapshotState(StateSnapshotContext context) throws Exception {
        super.snapshotState(context);
    }

    @Override
    public void finish() throws Exception {
        // Bounded input: wait, yielding to the mailbox, until every request is terminal. Timers no longer fire
        // here, so due retries are promoted by the sweeper's mail.
        while (backlog > 0 || !inFlight.isEmpty()) {
            promoteDue(ptNow());
            pump();
            if (backlog == 0 && inFlight.isEmpty()) {
                break;
            }
            mailbox.yield();
        }
        store.syncPending();
        super.finish();
    }

    @Override
    public void close() throws Exception {
        try {
            if (sweeper != null) {
                sweeper.shutdownNow();
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

    private void issueNext(HostRuntime h) throws Exception {
        setCurrentKey(h.host);
        long now = System.currentTimeMillis();
        long seq;
        Download d;
        if (!h.ready.isEmpty()) {
            seq = h.ready.pollFirst();
            d = active.get(seq);
            if (d == null) {
                backlog--;
                return;
            }
        } else {
            QueueCursor c = cursor.value();
            seq = c.head;
            FetchRequest req = queue.get(seq);
            queue.remove(seq);
            c.head++;
            cursor.update(c);
            h.queued--;
            if (req == null) {
                backlog--;
                return;
            }
            d = new Download(req, now);
            h.active++;
        }
        backlog--;
        FetchRequest req = d.request;
        if (req.deadline != null && now >= req.deadline) {
            fail(h, seq, d, null, "deadline exceeded" + lastErrorSuffix(d));
            return;
        }
        String refused = politeness.refusal(h.host, ptNow()); // a dead host past its retry budget
        if (refused != null) {
            fail(h, seq, d, d.lastHttpStatus, refused);
            return;
        }
        d.attempts++;
        d.retryAt = 0;
        active.put(seq, d);
        long deadlineAt = now + requestTimeoutMillis;
        if (req.deadline != null) {
            deadlineAt = Math.min(deadlineAt, req.deadline);
        }
        Attempt a = new Attempt(h.host, seq, req.url, now, deadlineAt);
        h.inFlight++;
        a.hostInFlight = h.inFlight;
        politeness.onIssued(h.host, ptNow());
        inFlight.add(a);
        attemptsStarted.inc();
        send(a, d);
    }

    /** Sends the current hop of an attempt. The completion comes back as mail. */
    private void send(Attempt a, Download d) {
        FetchRequest req = d.request;
        a.hopStartedAt = System.currentTimeMillis();
        a.headersReceived = false;
        AsyncRequestBuilder rb = AsyncRequestBuilder.get(a.url);
        if (req.headers != null) {
            for (Map.Entry<String, String> e : req.headers.entrySet()) {
                rb.addHeader(e.getKey(), e.getValue());
            }
        }
        // Stored bytes are the decoded representation (CONTRACT.md); offer every coding the pipeline decodes.
        rb.addHeader("Accept-Encoding", ACCEPT_ENCODING);
        AsyncRequestProducer producer = rb.build();
        long maxBytes = req.maxBytes != null ? req.maxBytes : defaultMaxBytes;
        StagingResponseConsumer consumer =
                new StagingResponseConsumer(digestOnly ? null : store.stagingFile(a.host, a.seq), maxBytes, a);
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
            return; // cancelled at shutdown
        }
        HostRuntime h = host(a.host);
        setCurrentKey(a.host);
        Download d = active.get(a.seq);
        if (d == null) {
            release(h, a);
            return;
        }
        if (o.status > 0) {
            d.lastHttpStatus = o.status;
        }
        if (o.isRedirect()) {
            String next = nextHop(a, o.location);
            if (next.startsWith("!")) {
                release(h, a);
                fail(h, a.seq, d, o.status, next.substring(1));
            } else {
                a.url = next;
                a.hops++;
                a.visited.add(next);
                send(a, d);
            }
            return;
        }
        release(h, a);
        // Politeness: feed the host's limiter; a Retry-After or an open circuit parks the whole host until a
        // timer wakes it.
        long pausedUntil =
                politeness.onOutcome(
                        a.host, o, a.cancelReason, a.hostInFlight, h.inFlight + 1,
                        (System.currentTimeMillis() - a.hopStartedAt) * 1_000_000L, ptNow());
        if (pausedUntil > 0) {
            timers.registerProcessingTimeTimer(VoidNamespace.INSTANCE, pausedUntil);
        }
        metrics.attemptFinished(System.currentTimeMillis() - a.startedAt);
        Path staging = store.stagingFile(a.host, a.seq);
        if (o.error != null) {
            Failures.Failure f = Failures.classify(o.error, a.cancelReason, idleTimeout);
            store.discard(staging);
            if (f.retryable()) {
                retryOrFail(h, a.seq, d, f.reason(), -1);
            } else {
                fail(h, a.seq, d, d.lastHttpStatus, f.reason());
            }
        } else if (o.status >= 200 && o.status < 300) {
            succeed(h, a.seq, d, o, staging);
        } else if (RetryPolicy.isRetryableStatus(o.status)) {
            store.discard(staging);
            retryOrFail(
                    h, a.seq, d, "http " + o.status, retry.retryAfterMillis(o.retryAfter, System.currentTimeMillis()));
        } else {
            store.discard(staging);
            fail(h, a.seq, d, o.status, o.status >= 300 && o.status < 400 ? "http " + o.status + " without usable Location" : "http " + o.status);
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

    private void succeed(HostRuntime h, long seq, Download d, FetchOutcome o, Path staging) throws Exception {
        FetchRequest req = d.request;
        if (req.sha256 != null && !req.sha256.equalsIgnoreCase(o.sha256)) {
            store.discard(staging);
            fail(h, seq, d, o.status, "checksum mismatch (expected " + req.sha256 + ", got " + o.sha256 + ")");
            return;
        }
        try {
            if (!digestOnly) {
                store.publish(staging, req.path, req.url);
            }
        } catch (IOException e) {
            store.discard(staging);
            String msg = e instanceof OutputStore.PathConflictException ? e.getMessage() : "storage error: " + e.getMessage();
            fail(h, seq, d, o.status, msg);
            return;
        }
        FetchResult r = base(d);
        r.status = ResultStatus.OK;
        r.httpStatus = o.status;
        r.bytes = o.bytes;
        r.sha256 = o.sha256;
        r.path = req.path;
        r.contentEncoding = o.decodedCoding;
        requestsOk.inc();
        bytesStored.inc(o.bytes);
        terminal(h, seq, r);
    }

    private void retryOrFail(HostRuntime h, long seq, Download d, String reason, long retryAfterMillis)
            throws Exception {
        long now = ptNow();
        d.lastError = reason;
        if (d.attempts >= retry.maxAttempts()) {
            fail(h, seq, d, d.lastHttpStatus, reason + " (after " + d.attempts + " attempts)");
            return;
        }
        long delay = retryAfterMillis >= 0 ? retryAfterMillis : retry.backoffMillis(d.attempts, random);
        long due = now + delay;
        if (d.request.deadline != null && due >= d.request.deadline) {
            fail(h, seq, d, d.lastHttpStatus, "deadline exceeded" + lastErrorSuffix(d));
            return;
        }
        d.retryAt = due;
        active.put(seq, d);
        waiting.add(new Waiting(due, h.host, seq));
        backlog++;
        retries.inc();
        timers.registerProcessingTimeTimer(VoidNamespace.INSTANCE, due);
    }

    private static String lastErrorSuffix(Download d) {
        return d.lastError == null ? "" : " (last error: " + d.lastError + ")";
    }

    private void fail(HostRuntime h, long seq, Download d, Integer httpStatus, String reason) throws Exception {
        FetchResult r = base(d);
        r.status = ResultStatus.FAILED;
        r.httpStatus = httpStatus;
        r.error = reason;
        requestsFailed.inc();
        metrics.failed(reason);
        terminal(h, seq, r);
    }

    private FetchResult base(Download d) {
        FetchResult r = new FetchResult();
        r.id = d.request.id;
        r.url = d.request.url;
        r.attempts = d.attempts;
        r.elapsedMs = Math.max(0, System.currentTimeMillis() - d.firstAttemptAt);
        return r;
    }

    /** Emits the one result of a request and drops its state; clears the host's state when it is idle. */
    private void terminal(HostRuntime h, long seq, FetchResult r) throws Exception {
        active.remove(seq);
        h.active--;
        output.collect(new StreamRecord<>(r));
        if (h.queued == 0 && h.active == 0) {
            cursor.clear();
            hosts.remove(h.host);
        }
    }

    private void release(HostRuntime h, Attempt a) {
        if (inFlight.remove(a)) {
            h.inFlight--;
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
            HostRuntime h = host(w.host);
            h.ready.addLast(w.seq);
            enqueueIfReady(h);
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
        metrics.refresh(politeness, ptNow());
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

    /** Requests queued, ready or waiting for a retry (tests). */
    long backlog() {
        return backlog;
    }

    /** In-memory per-host bookkeeping; rebuilt from state on restore. */
    private static final class HostRuntime {
        final String host;
        final ArrayDeque<Long> ready = new ArrayDeque<>();
        /** Requests in the durable queue. */
        long queued;
        /** Entries of the active state (in flight, ready or waiting). */
        long active;
        int inFlight;
        boolean inRing;

        HostRuntime(String host) {
            this.host = host;
        }

        boolean hasReadyWork() {
            return queued > 0 || !ready.isEmpty();
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
