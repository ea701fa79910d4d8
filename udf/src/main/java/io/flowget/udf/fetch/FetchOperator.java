package io.flowget.udf.fetch;

import io.flowget.udf.body.Digests;
import io.flowget.udf.http.Attempt;
import io.flowget.udf.http.FetchOutcome;
import io.flowget.udf.http.HttpClientHolder;
import io.flowget.udf.http.HttpClientSettings;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.storage.OutputStore;
import io.flowget.udf.storage.PendingPublish;

import org.apache.flink.api.common.operators.MailboxExecutor;
import org.apache.flink.api.common.typeutils.base.LongSerializer;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
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
import org.apache.flink.util.IOUtils;
import org.apache.flink.util.function.ThrowingRunnable;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.RejectedExecutionException;

/**
 * The keyed, non-blocking fetch operator (DESIGN.md, "FetchOperator"). Input is keyed by host; output is exactly
 * one {@link FetchResult} per request. This class keeps the lifecycle, {@code processElement}, timers,
 * snapshot/finish/close and the mailbox hand-offs; it is the only class that sets the current key, has keyed
 * state written, emits results and registers timers. It applies what its parts decide, each with its own
 * contract: {@link FetchSettings}, {@link FetchState} (keyed state), {@link Scheduler} (turns and permits),
 * {@link HostPoliteness}, {@link AttemptRequests}, {@link OutcomeRules} (typed {@link Decision}s),
 * {@link ChunkedDownloads}, {@link Finalizer}, {@link Sweeper}, {@link Results} and {@link FetchMetrics}.
 *
 * <p><b>Durable state, per host (RocksDB):</b> {@code queue} (FIFO of waiting requests by sequence number) with
 * its {@code queue-cursor}, and {@code active} (requests that left the queue and are in flight or waiting for
 * a retry, by sequence number). The checkpoint invariant: a request handed over before a barrier is, in that
 * checkpoint, either in {@code queue}/{@code active} or already emitted; so after a restore every unfinished
 * request is issued again and none is reported twice. A host's state is cleared when it has no work left,
 * except {@code host-state} (its learned limit, cap and pause, see {@link HostPoliteness}), which a TTL bounds.
 * The operator (union list) state {@code pending-publishes} holds the finished files whose results are emitted
 * but whose checkpoint has not completed yet: with checkpoints, a file is renamed into {@code --out} in
 * {@link #notifyCheckpointComplete} of the checkpoint that commits its result, or on restore
 * ({@link io.flowget.udf.storage.PublishAtCommit}).
 *
 * <p><b>Flow of one request:</b> {@code processElement} queues it and pumps; the pump gives each host in the
 * scheduler's ring a turn, and {@link #issueNext} starts the host's next attempt; the HTTP outcome comes back as
 * mail ({@link #onOutcome}), where the rules decide and {@link #apply} carries the decision out — a result,
 * a retry on a keyed processing-time timer, further chunks, or a new generation. A request with a {@code deadline}
 * has its own timer at it (timer service {@code fetch-deadlines}, namespaced by its sequence number, deleted when it
 * ends), which FAILs it wherever it waits. The sweep enforces attempt timeouts and the low-speed guard, tells
 * politeness about response heads as they arrive, and stops counting stalled attempts against a host that serves
 * others ({@link #DETACH_AFTER_MILLIS}).
 *
 * <p><b>Failure isolation and admission (issue 12):</b> every step of one request's handling runs through
 * {@link #isolated}: an exception ends that request FAILED {@code internal error: …} and the operator goes on; every
 * mail and timer runs through {@link #survive}. Only a broken runtime ({@link InternalErrors#brokenRuntime}) fails
 * the task. {@code processElement} never waits: {@link Admission} refuses malformed requests and, by
 * {@link Scheduler#queueFull}, only the crowding host's new requests ({@code queue full}).
 *
 * <p>Over 450 lines because every step that sets the key, writes state, emits or registers a timer has to live
 * here (that is the rule that keeps the rest free of Flink's keyed context); the decisions themselves are in the
 * parts above.
 *
 * <p>Not thread-safe: everything but the HTTP callbacks, the hasher and the sweeper's mail posting runs on the
 * task thread, and those come back only through {@link #post}.
 */
public class FetchOperator extends AbstractStreamOperator<FetchResult>
        implements OneInputStreamOperator<FetchRequest, FetchResult>, Triggerable<String, VoidNamespace> {

    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(FetchOperator.class);
    /** An attempt without progress for this long, while its host serves others, stops holding the host's slot. */
    static final long DETACH_AFTER_MILLIS = 500;
    /**
     * A failed attempt that went this long without progress starts the download's no-progress clock, which then
     * also runs while it waits for its next attempt (fast failures, like a 500 or a 503 with Retry-After, do not).
     */
    static final long STALL_CLOCK_MILLIS = 1_000;
    /** Operator (union list) state of the files waiting for their checkpoint; part of the savepoint contract. */
    static final String PENDING_PUBLISHES_STATE = "pending-publishes";

    private final Configuration config;
    private final transient MailboxExecutor mailbox;

    private transient FetchSettings settings;
    private transient FetchState state;
    private transient Scheduler scheduler;
    private transient HostPoliteness politeness;
    private transient InternalTimerService<VoidNamespace> timers;
    /** One timer per request with a {@code deadline}, namespaced by its sequence number, at the deadline. */
    private transient InternalTimerService<Long> deadlines;

    private transient OutcomeRules rules;
    private transient ChunkedDownloads chunks;
    private transient AttemptRequests requests;
    private transient ConditionalFetch conditional;
    private transient HttpClientHolder.Lease http;
    private transient OutputStore store;
    private transient Sweeper sweeper;
    private transient Finalizer finalizer;
    private transient SplittableRandom random;
    /** Hosts whose names are being resolved on the DNS pool ({@link #nameResolved}). */
    private transient java.util.Set<String> resolving;
    private transient FetchMetrics metrics;
    /** Files whose results are emitted but not yet committed (operator union state, see PublishAtCommit). */
    private transient ListState<PendingPublish> pendingPublishes;
    private transient List<PendingPublish> restoredPublishes;
    private transient String incarnation;

    public FetchOperator(
            StreamOperatorParameters<FetchResult> parameters, Configuration config, MailboxExecutor mailbox) {
        super(parameters);
        this.config = config;
        this.mailbox = mailbox;
    }

    // ---- lifecycle ----

    @Override
    public void initializeState(StateInitializationContext context) throws Exception {
        super.initializeState(context);
        settings = FetchSettings.from(config);
        resolving = new java.util.HashSet<>();
        state = new FetchState(getKeyedStateBackend(), settings.politeness.stateTtl());
        // Here, not in open(): rebuilding from state already schedules hosts.
        politeness = new HostPoliteness(settings.politeness, settings.retry, state.hostState, state.hostHealth, this);
        scheduler =
                new Scheduler(
                        settings.maxInFlight,
                        (host, n) -> politeness.mayIssue(host, n, ptNow()) && nameResolved(host),
                        politeness::proven,
                        settings.unprovenCap);
        if (context.isRestored()) {
            rebuildFromState();
        }
        pendingPublishes =
                context.getOperatorStateStore()
                        .getUnionListState(
                                new ListStateDescriptor<>(
                                        PENDING_PUBLISHES_STATE, TypeInformation.of(PendingPublish.class)));
        restoredPublishes = new ArrayList<>();
        if (context.isRestored()) {
            pendingPublishes.get().forEach(restoredPublishes::add);
        }
        incarnation = getRuntimeContext().getJobInfo().getJobId() + "-" + context.getRestoredCheckpointId().orElse(0);
    }

    /** Rebuilds the in-memory view from keyed state: counts queues, re-readies every active download. */
    private void rebuildFromState() throws Exception {
        long queued = 0;
        int reissued = 0;
        List<FetchState.RestoredHost> found = state.restore(this::setCurrentKey);
        for (FetchState.RestoredHost r : found) {
            reissued += scheduler.restore(r.host(), r.queued(), r.active(), ptNow());
            queued += r.queued();
        }
        LOG.info("Restored {} hosts: {} requests queued, {} unfinished downloads to continue",
                found.size(), queued, reissued);
    }

    @Override
    public void open() throws Exception {
        super.open();
        random = new SplittableRandom(new java.security.SecureRandom().nextLong()); // also draws download ids
        store = new OutputStore(settings.outDir, settings.stagingDir, settings.onConflict, settings.durability);
        int subtask = getRuntimeContext().getTaskInfo().getIndexOfThisSubtask();
        boolean checkpointing =
                CheckpointingOptions.isCheckpointingEnabled(getContainingTask().getEnvironment().getJobConfiguration());
        // Files become visible with the checkpoint that commits their results (issue 15); without checkpoints
        // nothing is committed later, so they are renamed at once.
        store.publishAtCommit(
                incarnation, "s" + subtask + "-a" + getRuntimeContext().getTaskInfo().getAttemptNumber(), checkpointing);
        store.restorePublishes(
                restoredPublishes, subtask, getRuntimeContext().getTaskInfo().getNumberOfParallelSubtasks());
        restoredPublishes = null;
        conditional = new ConditionalFetch(settings.digestOnly ? null : store, settings.conditional, settings.blake3);
        rules = new OutcomeRules(settings);
        chunks = new ChunkedDownloads(settings);
        requests = new AttemptRequests(settings, conditional);
        timers = getInternalTimerService("fetch-retries", VoidNamespaceSerializer.INSTANCE, this);
        deadlines = getInternalTimerService("fetch-deadlines", LongSerializer.INSTANCE, new DeadlineTimers());
        http = HttpClientHolder.acquire(HttpClientSettings.from(config));
        metrics = new FetchMetrics(getMetricGroup(), http, settings.topHosts);
        metrics.operatorGauges(() -> scheduler.inFlight().size(), scheduler::backlog, scheduler::hostCount);

        sweeper = new Sweeper(subtask, () -> post("fetch-sweep", this::sweep));
        finalizer = new Finalizer(subtask, settings.blake3);
        scheduler.enqueueAll(); // restored hosts that have only queued requests join the ring here
        pump();
    }

    @Override
    public void processElement(StreamRecord<FetchRequest> element) throws Exception {
        String host = (String) getCurrentKey();
        FetchRequest req = element.getValue();
        Scheduler.Host h = scheduler.host(host);
        // Admission never waits: a host whose queue is full gets its new requests FAILED at once, every other host
        // is admitted, and checkpoint barriers never queue behind one host's backlog.
        String refusal = Admission.refusal(req, scheduler.queueFull(h, settings.maxHostBacklog, settings.maxBacklog));
        if (refusal != null) {
            metrics.failed(refusal);
            output.collect(new StreamRecord<>(Admission.refused(req, refusal)));
            scheduler.dropIfIdle(h);
            return;
        }
        long seq = state.enqueue(host, req);
        if (req.deadline != null) {
            // Deadlines are timers: the request fails when its deadline passes, wherever it waits. Processing time
            // is the wall clock in a job, the clock of request deadlines.
            deadlines.registerProcessingTimeTimer(seq, req.deadline);
        }
        scheduler.queued(h);
        pump();
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
        // The keyed backend is snapshotted right after this method returns: write what FetchState holds in memory first.
        state.flush(this::setCurrentKey);
        pendingPublishes.update(store.sealPublishes(context.getCheckpointId()));
        super.snapshotState(context);
    }

    @Override
    public void notifyCheckpointComplete(long checkpointId) throws Exception {
        super.notifyCheckpointComplete(checkpointId);
        store.committed(checkpointId); // the results emitted before this checkpoint's barrier have committed
    }

    @Override
    public void finish() throws Exception {
        // Bounded input: wait, yielding to the mailbox, until every request is terminal. Timers no longer fire
        // here, so due retries are promoted by the sweeper's mail.
        while (scheduler.hasWork()) {
            promoteDue(ptNow());
            pump();
            if (!scheduler.hasWork()) {
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
            IOUtils.closeAll(
                    sweeper,
                    finalizer,
                    scheduler == null ? null : () -> scheduler.cancelAll("shutdown"),
                    http == null ? null : () -> HttpClientHolder.release(http));
            http = null;
        } finally {
            super.close();
        }
    }

    /**
     * The one way back onto the task thread: posts {@code mail} to the mailbox. Returns false when the task is
     * shutting down; then the request is still in keyed state and is issued again on restore.
     */
    private boolean post(String name, ThrowingRunnable<? extends Exception> mail) {
        try {
            mailbox.execute(() -> survive(name, mail), name);
            return true;
        } catch (RejectedExecutionException closing) {
            return false;
        }
    }

    /**
     * The last net under every mail and timer: an exception that no request's {@link #isolated} step claimed is
     * logged and the operator goes on; only a broken runtime ({@link InternalErrors#brokenRuntime}) fails the task.
     */
    private void survive(String what, ThrowingRunnable<? extends Exception> work) throws Exception {
        try {
            work.run();
        } catch (Exception e) {
            if (InternalErrors.brokenRuntime(e)) {
                throw e;
            }
            metrics.internalError();
            LOG.error("Internal error in {}; the operator goes on", what, e);
        }
    }

    /**
     * Runs one step of one request's handling. Whatever it throws is that request's trouble (the charter: no
     * exception escapes a mail, timer or callback into the task): the request ends FAILED with {@code internal
     * error: <class>: <message>}, its attempts, permits and state are dropped, and the operator goes on. Only a
     * broken runtime is rethrown.
     */
    private void isolated(Scheduler.Host h, Scheduler.Active act, ThrowingRunnable<? extends Exception> step)
            throws Exception {
        try {
            step.run();
        } catch (Exception e) {
            if (InternalErrors.brokenRuntime(e)) {
                throw e;
            }
            internalError(h, act, e);
        }
    }

    /** Ends the request of {@code act} FAILED after internal error {@code e} (logged once, with id and URL). */
    private void internalError(Scheduler.Host h, Scheduler.Active act, Exception e) throws Exception {
        metrics.internalError();
        FetchRequest req = act.d.request;
        LOG.warn("Internal error on request {} ({}); it ends FAILED, the operator goes on", req.id, req.url, e);
        String reason = InternalErrors.reason(e);
        setCurrentKey(h.host);
        try {
            fail(h, act, act.d.lastHttpStatus, reason);
        } catch (Exception again) {
            if (InternalErrors.brokenRuntime(again)) {
                throw again;
            }
            // The failure path itself broke (e.g. the staging file cannot be named): drop what is left by hand.
            LOG.warn("Ending request {} without its usual clean-up", req.id, again);
            cancelAttempts(h, act);
            scheduler.remove(h, act);
            state.removeActive(act.seq);
            output.collect(new StreamRecord<>(Results.failed(act.d, act.d.lastHttpStatus, reason)));
            if (scheduler.dropIfIdle(h)) {
                state.forgetHost(h.host);
            }
        }
    }

    // ---- issuing ----

    /** Issues work while permits are free, one piece per host per turn. */
    private void pump() throws Exception {
        Scheduler.Host h;
        while ((h = scheduler.nextTurn()) != null) {
            issueNext(h);
            scheduler.enqueueIfReady(h);
        }
    }

    /**
     * Issues the host's next piece of work: a ready download (a retry, a restored download, a further chunk of a
     * large file) or the head of its queue, as the scheduler's turn says.
     */
    private void issueNext(Scheduler.Host h) throws Exception {
        setCurrentKey(h.host);
        long now = System.currentTimeMillis();
        Scheduler.Active act;
        if (scheduler.readyTurn(h)) {
            act = scheduler.pollReady(h);
        } else {
            FetchState.Dequeued next = state.dequeue(h.host);
            scheduler.dequeued(h);
            act = null;
            if (next.request() == null && scheduler.dropIfIdle(h)) {
                state.forgetHost(h.host); // its last queued requests ended at their deadlines while they waited
            }
            if (next.request() != null) {
                Download d = new Download(next.request(), now);
                d.downloadId = newDownloadId();
                // A digest-only run stores nothing, so it has no staging file to write chunks into; an encrypted
                // payload is decrypted as one stream (its ciphertext is what Range chunks would address).
                boolean single = settings.digestOnly || next.request().decryptKeyId != null;
                d.switchTo(single ? Download.Mode.SINGLE : Download.Mode.PROBE);
                act = scheduler.admit(h, next.seq(), d);
            }
        }
        if (act == null) {
            return;
        }
        Scheduler.Active turn = act;
        isolated(h, turn, () -> {
            boolean idle = turn.attempts.isEmpty();
            String refusal = idle ? politeness.refusal(h.host, ptNow()) : null;
            apply(h, turn, null, rules.turn(turn.d, idle, turn.finalizing, refusal, now));
        });
    }

    /** Issues a chunked download's next chunk (and keeps it ready while more are planned). */
    private void issueChunk(Scheduler.Host h, Scheduler.Active act) throws Exception {
        if (act.plan == null && !stagingIntact(staging(h, act), act.d.length)) {
            // Verified on restore: the partial file is gone (cleaned state dir) or is not the pre-sized file of
            // this download: its recorded chunks cannot be trusted, so it starts over.
            newGeneration(h, act, Download.Mode.PROBE, false);
            return;
        }
        long[] range = chunks.nextRange(act);
        if (range != null) {
            start(h, act, range);
            if (act.plan.hasPending()) {
                scheduler.markReady(h, act);
            }
        }
    }

    /** True when {@code staging} is there with the download's pre-sized length. */
    private static boolean stagingIntact(Path staging, long length) {
        try {
            return Files.size(staging) == length;
        } catch (IOException missing) {
            return false;
        }
    }

    /** A download id: random, non-zero (0 marks state from before ids), never derived from reusable numbers. */
    private long newDownloadId() {
        long id;
        do {
            id = random.nextLong();
        } while (id == 0);
        return id;
    }

    private Path staging(Scheduler.Host h, Scheduler.Active act) {
        return store.stagingFile(h.host, act.d.downloadId, act.seq, act.d.generation);
    }

    /** Starts an HTTP attempt: the whole body (range null; a probe asks for the first chunk) or one chunk. */
    private void start(Scheduler.Host h, Scheduler.Active act, long[] range) throws Exception {
        Download d = act.d;
        d.attempts++;
        d.retryAt = 0;
        state.putActive(act.seq, d);
        Attempt a = requests.newAttempt(h.host, act.seq, d, range, System.currentTimeMillis());
        scheduler.started(h, act, a);
        a.hostInFlight = h.inFlight;
        politeness.onIssued(h.host, ptNow());
        metrics.attemptStarted();
        sendWhenResolved(a, act);
    }

    /**
     * The scheduler's DNS gate: a host takes a permit only once its name answers from the DNS cache, so a slow
     * lookup neither holds a permit nor the task thread. An uncached name is resolved on the DNS pool (once at a
     * time) and the host rejoins the ring by mail when the lookup ended (its result, success or failure, is then
     * cached, and the attempt's own outcome says which).
     */
    private boolean nameResolved(String host) {
        if (http == null || http.dns().answersAtOnce(host)) {
            return true;
        }
        if (resolving.add(host)) {
            http.dns().prefetch(host).whenComplete((ignored, e) -> post("fetch-resolved-host", () -> {
                resolving.remove(host);
                Scheduler.Host h = scheduler.existing(host);
                if (h != null) {
                    scheduler.enqueueIfReady(h);
                    pump();
                }
            }));
        }
        return false;
    }

    /**
     * Sends the attempt's current hop once its host name answers from the DNS cache: the HTTP client resolves on
     * the thread that calls {@code execute()}, which must never be the task thread waiting for a lookup. An
     * uncached name is resolved on the DNS pool first ({@link io.flowget.udf.http.CachingDnsResolver#prefetch})
     * and the attempt continues through the mailbox; the attempt holds its permits meanwhile, so its timeouts
     * (the sweeper) still bound the wait.
     */
    private void sendWhenResolved(Attempt a, Scheduler.Active act) {
        String name = java.net.URI.create(a.url).getHost();
        if (name == null || a.cancelReason != null || http.dns().answersAtOnce(name)) {
            send(a, act);
            return;
        }
        http.dns().prefetch(name).whenComplete((ignored, e) -> post("fetch-resolved", () -> onResolved(a)));
    }

    /** A prefetch for the attempt's hop ended: go on with the attempt, if it is still current. */
    private void onResolved(Attempt a) throws Exception {
        if (!scheduler.holds(a)) {
            return; // superseded or cancelled at shutdown meanwhile
        }
        Scheduler.Host h = scheduler.host(a.host);
        Scheduler.Active act = h.download(a.seq);
        if (act == null || act.d.generation != a.generation) {
            scheduler.release(h, act, a);
            return;
        }
        setCurrentKey(a.host);
        isolated(h, act, () -> sendWhenResolved(a, act));
        scheduler.enqueueIfReady(h);
        pump();
    }

    /** Sends the current hop of an attempt. The completion comes back as mail. */
    private void send(Attempt a, Scheduler.Active act) {
        Path staging = store.stagingFile(a.host, act.d.downloadId, a.seq, a.generation);
        requests.send(http.client(), a, act.d, staging, o -> post("fetch-complete", () -> onOutcome(a, o)));
    }

    // ---- completions ----

    private void onOutcome(Attempt a, FetchOutcome o) throws Exception {
        if (!scheduler.holds(a)) {
            return; // superseded (download restarted or finished) or cancelled at shutdown
        }
        Scheduler.Host h = scheduler.host(a.host);
        setCurrentKey(a.host);
        Scheduler.Active act = h.download(a.seq);
        if (act == null || act.d.generation != a.generation) {
            scheduler.release(h, act, a);
            return;
        }
        isolated(h, act, () -> handleOutcome(h, act, a, o));
        scheduler.enqueueIfReady(h);
        pump();
    }

    /** What {@link #onOutcome} does for a current attempt of a current download. */
    private void handleOutcome(Scheduler.Host h, Scheduler.Active act, Attempt a, FetchOutcome o) throws Exception {
        Download d = act.d;
        if (o.status > 0) {
            d.lastHttpStatus = o.status;
        }
        if (o.isRedirect()) {
            Decision next = rules.redirect(a, o);
            if (next instanceof Decision.Redirect r) {
                a.url = r.url();
                a.hops++;
                a.visited.add(r.url());
                sendWhenResolved(a, act);
            } else {
                scheduler.release(h, act, a);
                apply(h, act, a, next);
            }
            return;
        }
        scheduler.release(h, act, a);
        // Politeness: feed the host's limiter; a Retry-After or an open circuit parks the whole host until a
        // timer wakes it.
        long pausedUntil =
                politeness.onOutcome(
                        a.host, o, a.cancelReason, a.headersReceived, a.hostInFlight, h.inFlight + 1,
                        (System.currentTimeMillis() - a.hopStartedAt) * 1_000_000L, a.ttfbNanos(), ptNow());
        if (pausedUntil > 0) {
            timers.registerProcessingTimeTimer(VoidNamespace.INSTANCE, pausedUntil);
        }
        metrics.attemptFinished(System.currentTimeMillis() - a.startedAt);
        long wallNow = System.currentTimeMillis();
        if (a.range != null && chunks.record(act, a, o)) {
            store.markDirty(staging(h, act)); // the chunk's bytes so far must be durable at the next checkpoint
            finalizer.advance(staging(h, act), d.done); // hash the file's final prefix ahead of finalize
            act.stalledMillis = 0; // progress: the no-progress budget starts afresh
            act.stallSince = 0;
            deleteBudgetTimer(act);
        } else {
            long stalled = a.stalledMillis(wallNow);
            act.stalledMillis += stalled;
            if (act.stallSince == 0 && stalled >= STALL_CLOCK_MILLIS) {
                act.stallSince = a.progressMark; // from here on, waiting for the next attempt counts too
            }
        }
        apply(h, act, a, a.range != null ? rules.chunk(d, a, o, wallNow) : rules.whole(d, a, o, wallNow));
    }

    /** Carries out what the rules decided about a download on its turn ({@code a} null) or after attempt {@code a}. */
    private void apply(Scheduler.Host h, Scheduler.Active act, Attempt a, Decision decision) throws Exception {
        if (decision instanceof Decision.Start) {
            start(h, act, null);
        } else if (decision instanceof Decision.NextChunk) {
            issueChunk(h, act);
        } else if (decision instanceof Decision.Finalize) {
            finalizeChunked(h, act);
        } else if (decision instanceof Decision.Succeed s) {
            succeed(h, act, s.outcome(), staging(h, act));
        } else if (decision instanceof Decision.NotModified) {
            store.discard(staging(h, act));
            if (act.d.request.sha256 != null) {
                verifyPinnedCopy(h, act); // a recorded sha256 can be forged: the pin is checked on the bytes
            } else {
                notModified(h, act);
            }
        } else if (decision instanceof Decision.PlanChunks p) {
            Path staging = staging(h, act);
            chunks.plan(act, p);
            ChunkedDownloads.presize(staging, p.length());
            store.markDirty(staging);
            finalizer.advance(staging, act.d.done);
            state.putActive(act.seq, act.d);
            scheduler.markReady(h, act);
        } else if (decision instanceof Decision.ChunkStored c) {
            state.putActive(act.seq, act.d);
            if (c.complete()) {
                cancelAttempts(h, act); // split halves that are no longer needed
                finalizeChunked(h, act);
            } else if (act.plan.hasPending() || chunks.splitStraggler(act)) {
                scheduler.markReady(h, act);
            }
        } else if (decision instanceof Decision.SingleStream) {
            newGeneration(h, act, Download.Mode.SINGLE, false);
        } else if (decision instanceof Decision.StartOver o) {
            newGeneration(h, act, Download.Mode.PROBE, o.changed());
        } else if (decision instanceof Decision.Retry r) {
            boolean chunk = a.range != null;
            if (!chunk) {
                store.discard(staging(h, act)); // a chunk's bytes so far belong to the validated version: kept
            }
            retryOrFail(h, act, r, chunk);
        } else if (decision instanceof Decision.Fail f) {
            fail(h, act, f.httpStatus(), f.reason());
        } else if (!(decision instanceof Decision.Nothing)) {
            throw new IllegalStateException("unexpected decision " + decision);
        }
    }

    private void succeed(Scheduler.Host h, Scheduler.Active act, FetchOutcome o, Path staging) throws Exception {
        FetchRequest req = act.d.request;
        if (req.sha256 != null && !req.sha256.equalsIgnoreCase(o.sha256)) {
            fail(h, act, o.status, "checksum mismatch (expected " + req.sha256 + ", got " + o.sha256 + ")");
            return;
        }
        try {
            if (!settings.digestOnly && Files.exists(staging)) {
                var meta = new OutputStore.FileMeta(o.etag, o.lastModified, o.sha256, o.blake3);
                store.publish(staging, req.path, req.url, meta);
            }
        } catch (IOException e) { // fail() discards the staging file
            boolean conflict = e instanceof OutputStore.PathConflictException;
            fail(h, act, o.status, conflict ? e.getMessage() : "storage error: " + e.getMessage());
            return;
        }
        metrics.ok(o.bytes);
        terminal(h, act, Results.ok(act.d, o));
    }

    /**
     * A 304: the origin confirmed the validators sent with the request, so the file at the path is current and
     * stays untouched. Without a usable recorded file (it changed or vanished meanwhile) the 304 cannot be
     * honoured and the request FAILs.
     */
    private void notModified(Scheduler.Host h, Scheduler.Active act) throws Exception {
        FetchRequest req = act.d.request;
        FetchResult r = Results.base(act.d);
        if (!conditional.notModified(req, settings.maxBytes(req), r)) {
            fail(h, act, 304, "http 304 without a recorded copy at " + req.path);
            return;
        }
        metrics.notModified();
        terminal(h, act, r);
    }

    /**
     * A 304 for a request that pins {@code sha256}: the file at its path is hashed off the task thread (as a
     * chunked file's final digest) and NOT_MODIFIED only when its bytes match the pin; else the request fetches
     * the whole body again without validators ({@link ConditionalFetch#distrust}).
     */
    private void verifyPinnedCopy(Scheduler.Host h, Scheduler.Active act) throws Exception {
        Path file;
        try {
            file = store.resolve(act.d.request.path);
        } catch (IOException e) {
            fail(h, act, 304, "path conflict: " + e.getMessage());
            return;
        }
        if (!scheduler.startFinalizing(act)) {
            return;
        }
        String host = h.host;
        long seq = act.seq;
        int generation = act.d.generation;
        finalizer.digestFile(
                file, (digest, error) -> post("fetch-verify", () -> onVerified(host, seq, generation, digest, error)));
    }

    private void onVerified(String host, long seq, int generation, Digests.FileDigest digest, Exception error)
            throws Exception {
        Scheduler.Host h = scheduler.existing(host);
        Scheduler.Active act = h == null ? null : h.download(seq);
        if (act == null || act.d.generation != generation || !act.finalizing) {
            return;
        }
        setCurrentKey(host);
        scheduler.endFinalizing(act);
        FetchRequest req = act.d.request;
        if (error == null && req.sha256.equalsIgnoreCase(digest.sha256())) {
            notModified(h, act);
        } else {
            conditional.distrust(req);
            String why = error == null ? "got " + digest.sha256() : error.toString();
            String reason = "stored copy does not match the expected sha256 (" + why + ")";
            retryOrFail(h, act, new Decision.Retry(reason, 0), false);
        }
        scheduler.enqueueIfReady(h);
        pump();
    }

    /**
     * A transient failure: retries after the decision's delay or the backoff, until the attempts (whole bodies)
     * or consecutive failed chunk attempts (chunked downloads) run out.
     */
    private void retryOrFail(Scheduler.Host h, Scheduler.Active act, Decision.Retry r, boolean chunk)
            throws Exception {
        Download d = act.d;
        if (chunk) {
            d.failures++;
        }
        d.lastError = r.reason();
        long wallNow = System.currentTimeMillis();
        long noProgress = Math.max(act.stalledMillis, act.stallSince > 0 ? wallNow - act.stallSince : 0);
        Decision next = rules.afterFailure(d, r, chunk, noProgress, wallNow, random);
        if (next instanceof Decision.Fail f) {
            fail(h, act, f.httpStatus(), f.reason());
            return;
        }
        if (act.stallSince > 0 && settings.noProgressBudgetMillis > 0) {
            // The budget runs on while the retry waits (backoff, a paused or busy host): a timer ends it in time.
            long at = act.stallSince + settings.noProgressBudgetMillis;
            if (act.budgetTimerAt != at) {
                deleteBudgetTimer(act);
                deadlines.registerProcessingTimeTimer(act.seq, at);
                act.budgetTimerAt = at;
            }
        }
        long due = ptNow() + ((Decision.Retry) next).afterMillis();
        scheduler.waitUntil(h, act, due);
        state.putActive(act.seq, d);
        metrics.retry();
        timers.registerProcessingTimeTimer(VoidNamespace.INSTANCE, due);
    }

    private void fail(Scheduler.Host h, Scheduler.Active act, Integer httpStatus, String reason) throws Exception {
        finalizer.forget(staging(h, act));
        store.discard(staging(h, act));
        FetchResult r = Results.failed(act.d, httpStatus, reason);
        metrics.failed(reason);
        terminal(h, act, r);
    }

    /** Emits the one result of a request and drops its state; clears the host's state when it is idle. */
    private void terminal(Scheduler.Host h, Scheduler.Active act, FetchResult r) throws Exception {
        if (act.d.request.deadline != null) {
            deadlines.deleteProcessingTimeTimer(act.seq, act.d.request.deadline);
        }
        deleteBudgetTimer(act);
        cancelAttempts(h, act);
        scheduler.remove(h, act);
        state.removeActive(act.seq);
        output.collect(new StreamRecord<>(r));
        if (scheduler.dropIfIdle(h)) {
            state.forgetHost(h.host);
        }
    }

    /**
     * Discards everything the download has and starts a new generation in {@code mode}; a resource that
     * {@code changed} under the download counts against {@code flowget.chunk.max-restarts}.
     */
    private void newGeneration(Scheduler.Host h, Scheduler.Active act, Download.Mode mode, boolean changed)
            throws Exception {
        Download d = act.d;
        if (changed) {
            d.restarts++;
            metrics.restart();
            if (d.restarts > settings.maxRestarts) {
                fail(h, act, d.lastHttpStatus, "resource changed during download (" + d.restarts + " times)");
                return;
            }
            LOG.info("{} changed during download; starting over (generation {})", d.request.url, d.generation + 1);
        }
        cancelAttempts(h, act);
        finalizer.forget(staging(h, act));
        store.discard(staging(h, act));
        ChunkedDownloads.reset(act, mode);
        state.putActive(act.seq, d);
        scheduler.markReady(h, act);
    }

    private void cancelAttempts(Scheduler.Host h, Scheduler.Active act) {
        for (Attempt a : new ArrayList<>(act.attempts)) {
            a.cancel("superseded");
            scheduler.release(h, act, a);
        }
    }

    /** Digest and length check of a completed chunked file, off the task thread; publishes on return. */
    private void finalizeChunked(Scheduler.Host h, Scheduler.Active act) {
        if (!scheduler.startFinalizing(act)) {
            return;
        }
        Download d = act.d;
        String host = h.host;
        long seq = act.seq;
        int generation = d.generation;
        finalizer.digest(
                staging(h, act),
                () -> store.resolve(d.request.path),
                (digest, error) -> post("fetch-finalize", () -> onFinalized(host, seq, generation, digest, error)));
    }

    private void onFinalized(String host, long seq, int generation, Digests.FileDigest digest, Exception error)
            throws Exception {
        Scheduler.Host h = scheduler.existing(host);
        Scheduler.Active act = h == null ? null : h.download(seq);
        if (act == null || act.d.generation != generation || !act.finalizing) {
            return;
        }
        setCurrentKey(host);
        scheduler.endFinalizing(act);
        isolated(h, act, () -> apply(h, act, null, rules.finalized(act.d, digest, error)));
        scheduler.enqueueIfReady(h);
        pump();
    }

    // ---- timers and the sweeper ----

    @Override
    public void onProcessingTime(InternalTimer<String, VoidNamespace> timer) throws Exception {
        survive("fetch-timer", () -> {
            promoteDue(ptNow());
            pump();
        });
    }

    @Override
    public void onEventTime(InternalTimer<String, VoidNamespace> timer) {}

    /** The deadline timers: the request whose deadline passed ends FAILED now, wherever it waits. */
    private final class DeadlineTimers implements Triggerable<String, Long> {
        @Override
        public void onProcessingTime(InternalTimer<String, Long> timer) throws Exception {
            survive("fetch-deadline", () -> onDeadline(timer.getKey(), timer.getNamespace(), timer.getTimestamp()));
        }

        @Override
        public void onEventTime(InternalTimer<String, Long> timer) {}
    }

    /**
     * A request's deadline passed (the current key is its host): FAIL it, whether it is queued, waiting for a
     * retry, parked behind its host's pause, breaker or rate limit, or in flight.
     */
    private void onDeadline(String host, long seq, long at) throws Exception {
        Scheduler.Host h = scheduler.existing(host);
        if (h == null) {
            return; // nothing of the host is waiting (the request ended before its timer could be deleted)
        }
        Scheduler.Active act = h.download(seq);
        if (act != null && act.budgetTimerAt == at && act.stallSince > 0) {
            // Its no-progress budget ran out while it waited for (or ran) its next attempt.
            Download d = act.d;
            String reason = OutcomeRules.noProgress(at - act.stallSince, d.attempts, d.lastError);
            isolated(h, act, () -> fail(h, act, d.lastHttpStatus, reason));
        } else if (act != null && act.d.request.deadline != null && act.d.request.deadline == at) {
            isolated(h, act, () -> fail(h, act, act.d.lastHttpStatus, OutcomeRules.deadlineExceeded(act.d)));
        } else if (act == null) {
            FetchRequest req = state.takeQueued(seq);
            if (req == null) {
                return;
            }
            FetchResult r = Results.failed(new Download(req, System.currentTimeMillis()), null, "deadline exceeded");
            metrics.failed(r.error);
            output.collect(new StreamRecord<>(r));
        }
        Scheduler.Host still = scheduler.existing(host);
        if (still != null) {
            scheduler.enqueueIfReady(still);
        }
        pump();
    }

    /** Deletes the download's no-progress budget timer, if it has one (the current key is its host). */
    private void deleteBudgetTimer(Scheduler.Active act) {
        if (act.budgetTimerAt > 0) {
            deadlines.deleteProcessingTimeTimer(act.seq, act.budgetTimerAt);
            act.budgetTimerAt = 0;
        }
    }

    /** Puts hosts whose pause ended back in the ring and moves due retries to their hosts' ready lists. */
    private void promoteDue(long now) {
        for (String resumed : politeness.resumeDue(now)) {
            Scheduler.Host h = scheduler.existing(resumed);
            if (h != null) {
                scheduler.enqueueIfReady(h);
            }
        }
        scheduler.promoteDue(now);
    }

    /** The sweeper's mail: enforces attempt timeouts, refreshes metrics, promotes due retries, pumps. */
    private void sweep() throws Exception {
        sweeper.swept();
        Sweeper.enforceTimeouts(
                scheduler.inFlight(),
                System.currentTimeMillis(),
                settings.requestTimeoutMillis,
                settings.responseTimeoutMillis,
                settings.lowSpeed);
        reportHeaders();
        detachStalled(System.currentTimeMillis());
        metrics.refresh(politeness, ptNow(), scheduler::inFlightTo);
        promoteDue(ptNow());
        pump();
    }

    /**
     * Stops counting stalled attempts against their host's limit when the host served other requests since they
     * last made progress (README "Who is blamed"): a few stalling or trickling URLs keep their retries' time but not
     * their host's slots.
     */
    private void detachStalled(long wallNow) {
        List<Scheduler.Host> changed = null;
        for (Attempt a : scheduler.inFlight()) {
            if (!a.detached
                    && a.cancelReason == null
                    && a.stalledMillis(wallNow) >= detachAfter(a)
                    && politeness.servedSince(a.host, a.progressMark)) {
                Scheduler.Host h = scheduler.existing(a.host);
                if (h != null && scheduler.detach(h, a, politeness.maxFor(a.host))) {
                    changed = changed == null ? new ArrayList<>() : changed;
                    changed.add(h);
                }
            }
        }
        if (changed != null) {
            for (Scheduler.Host h : changed) {
                scheduler.enqueueIfReady(h);
            }
        }
    }

    /**
     * How long an attempt may go without progress before it stops holding its host's slot: a body that stopped
     * or crawls, {@value #DETACH_AFTER_MILLIS} ms; a response head that is late, four times the host's usual time
     * to first byte (a slow server answers all its requests late and keeps its slots).
     */
    private long detachAfter(Attempt a) {
        if (a.headersReceived) {
            return DETACH_AFTER_MILLIS;
        }
        return Math.max(DETACH_AFTER_MILLIS, 4 * politeness.minTtfbMillis(a.host));
    }

    /** Tells politeness about response heads that arrived since the last sweep (bodies still streaming). */
    private void reportHeaders() {
        List<String> changed = null;
        for (Attempt a : scheduler.inFlight()) {
            if (a.headersReceived && !a.headersReported) {
                a.headersReported = true;
                if (politeness.answered(a.host)) {
                    changed = changed == null ? new ArrayList<>() : changed;
                    changed.add(a.host);
                }
            }
        }
        if (changed != null) {
            for (String host : changed) {
                Scheduler.Host h = scheduler.existing(host);
                if (h != null) {
                    scheduler.enqueueIfReady(h);
                }
            }
        }
    }

    /**
     * The clock of retry due times: the processing-time service (wall clock in a job, manual time in the
     * operator test harness). Attempt timeouts and request deadlines use the wall clock.
     */
    private long ptNow() {
        return getProcessingTimeService().getCurrentProcessingTime();
    }

    // ---- test hooks ----

    /** Attempts in flight to hosts that had not answered when they were sent (tests). */
    int unprovenInFlight() {
        return scheduler.unprovenInFlight();
    }

    /** Requests in flight right now (tests). */
    int inFlightCount() {
        return scheduler.inFlight().size();
    }

    /** Hosts that have any entry in any of the operator's keyed states; zero when all work is done (tests). */
    long hostsWithState() throws Exception {
        return state.hostsWithState();
    }

    /** In-memory host entries (scheduler hosts plus cached queue cursors); zero when all work is done (tests). */
    int hostsInMemory() {
        return scheduler.hostCount() + state.cachedHosts();
    }

    /** Requests queued, downloads ready to issue work, and retries waiting (also the backpressure measure). */
    long backlog() {
        return scheduler.backlog();
    }
}
