package io.flowget.udf.fetch;

import io.flowget.udf.body.Blake3Tree;
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
import org.apache.flink.runtime.state.KeyGroupRange;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
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

import org.apache.hc.client5.http.impl.async.CloseableHttpAsyncClient;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.BiConsumer;
import java.util.concurrent.RejectedExecutionException;

/**
 * The keyed, non-blocking fetch operator (DESIGN.md, "FetchOperator"). Input is keyed by host (a busy host's requests
 * by the key of their shard, {@link HostShards}: everything here treats a key as a host); output is exactly
 * one {@link FetchResult} per request. This class keeps the lifecycle, {@code processElement}, timers,
 * snapshot/finish/close and the mailbox hand-offs ({@link #post}); it is the only class that sets the current key,
 * has keyed state written, emits results and registers timers. It applies what its parts decide (README "Who owns
 * what"): {@link FetchSettings}, {@link FetchState} (keyed state), {@link Scheduler} (turns and permits),
 * {@link HostPoliteness}, {@link DnsGate}, {@link AttemptRequests}, {@link OutcomeRules} (typed {@link Decision}s),
 * {@link ChunkedDownloads}, {@link Completions}, {@link Deadlines}, {@link Isolation}, {@link StalledAttempts},
 * {@link Finalizer}, {@link Sweeper}, {@link Results} and {@link FetchMetrics}.
 *
 * <p><b>Durable state, per host (RocksDB):</b> {@code queue} (FIFO of waiting requests by sequence number) with
 * its {@code queue-cursor}, and {@code active} (requests that left the queue and are in flight or waiting for
 * a retry, by sequence number). The checkpoint invariant: a request handed over before a barrier is, in that
 * checkpoint, either in {@code queue}/{@code active} or already emitted; so after a restore every unfinished
 * request is issued again and none is reported twice. A host's state is cleared when it has no work left,
 * except {@code host-state}/{@code host-health} ({@link HostPoliteness}), which a TTL bounds. The operator (union
 * list) state {@code pending-publishes} holds the finished files whose results are emitted but whose checkpoint
 * has not completed yet ({@link io.flowget.udf.storage.PublishAtCommit}). Timers: {@code fetch-retries} (retries
 * and host wake-ups) and {@value Deadlines#TIMER_SERVICE} ({@link Deadlines}).
 *
 * <p><b>Flow of one request:</b> {@code processElement} admits it ({@link Admission}, never waiting), queues it
 * and pumps; the pump gives each host in the scheduler's ring a turn, and {@link #issueNext} starts the host's next
 * attempt; the HTTP outcome comes back as mail ({@link #onOutcome}), where the rules decide and {@link #apply}
 * carries the decision out — a result, a retry on a keyed processing-time timer, further chunks, or a new
 * generation. Every step of one request runs inside {@link Isolation#isolated}, every mail and timer inside
 * {@link Isolation#survive}.
 *
 * <p>Not thread-safe: everything but the HTTP callbacks, the DNS lookups, the hasher, the storage pool's file work
 * (publishes and the commit's renames, {@link io.flowget.udf.storage.StoragePool}) and the sweeper's mail posting
 * runs on the task thread, and those come back only through {@link #post}.
 */
public class FetchOperator extends AbstractStreamOperator<FetchResult>
        implements OneInputStreamOperator<FetchRequest, FetchResult>, Triggerable<String, VoidNamespace> {

    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(FetchOperator.class);
    /** Operator (union list) state of the files waiting for their checkpoint; part of the savepoint contract. */
    static final String PENDING_PUBLISHES_STATE = "pending-publishes";

    private final Configuration config;
    private final transient MailboxExecutor mailbox;

    private transient FetchSettings settings;
    private transient FetchState state;
    private transient Scheduler scheduler;
    private transient HostPoliteness politeness;
    private transient InternalTimerService<VoidNamespace> timers;
    private transient Deadlines deadlines;
    private transient Isolation isolation;
    private transient DnsGate dns;

    private transient OutcomeRules rules;
    private transient ChunkedDownloads chunks;
    private transient AttemptRequests requests;
    private transient ConditionalFetch conditional;
    private transient Completions completions;
    private transient HttpClientHolder.Lease http;
    private transient OutputStore store;
    private transient Sweeper sweeper;
    private transient AttemptSender sender;
    private transient Finalizer finalizer;
    private transient SplittableRandom random;
    private transient FetchMetrics metrics;
    /** Files whose results are emitted but not yet committed (operator union state, see PublishAtCommit). */
    private transient ListState<PendingPublish> pendingPublishes;
    private transient List<PendingPublish> restoredPublishes;
    private transient String incarnation;
    /** The hosts restored with their downloads, until {@link #open} swept the staging files no download owns. */
    private transient List<FetchState.RestoredHost> restored = List.of();

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
        state = new FetchState(getKeyedStateBackend(), settings.politeness.stateTtl());
        // Here, not in open(): rebuilding from state already schedules hosts.
        politeness = new HostPoliteness(settings.politeness, settings.retry, state.hostState, state.hostHealth, this);
        scheduler =
                new Scheduler(
                        settings.maxInFlight,
                        (host, n) -> politeness.mayIssue(host, n, ptNow())
                                && (dns == null || dns.nameResolved(host, this::rejoin)),
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
        restored = found;
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
        sweepStaging();
        conditional = new ConditionalFetch(settings.digestOnly ? null : store, settings.conditional, settings.blake3);
        rules = new OutcomeRules(settings);
        chunks = new ChunkedDownloads(settings);
        sender = new AttemptSender(subtask); // execute() off the task thread
        requests = new AttemptRequests(settings, conditional, sender);
        timers = getInternalTimerService("fetch-retries", VoidNamespaceSerializer.INSTANCE, this);
        DeadlineTimers deadlineTimers = new DeadlineTimers();
        deadlineTimers.service =
                getInternalTimerService(Deadlines.TIMER_SERVICE, LongSerializer.INSTANCE, deadlineTimers);
        deadlines = new Deadlines(settings.noProgressBudgetMillis, deadlineTimers);
        http = HttpClientHolder.acquire(HttpClientSettings.from(config));
        metrics = new FetchMetrics(getMetricGroup(), http, settings.topHosts);
        completions = new Completions(settings, store, conditional, metrics);
        isolation = new Isolation(metrics, this::failKeyed, this::abandon);
        dns = new DnsGate(http.dns(), this::post);
        metrics.operatorGauges(() -> scheduler.inFlight().size(), scheduler::backlog, scheduler::hostCount);

        sweeper = new Sweeper(subtask, () -> post("fetch-sweep", this::sweep));
        finalizer = new Finalizer(subtask, settings.blake3);
        scheduler.enqueueAll(); // restored hosts that have only queued requests join the ring here
        pump();
    }

    /**
     * Staging files live in per-key-group namespaces ({@code StagingArea}); before it writes any, the subtask deletes
     * the files of the key groups it now owns that none of its restored downloads refers to (after a crash, a
     * restore from an older checkpoint, or a rescale). Other subtasks' key groups are never touched.
     */
    private void sweepStaging() throws Exception {
        var task = getRuntimeContext().getTaskInfo();
        store.namespaceStagingByKeyGroup(task.getMaxNumberOfParallelSubtasks());
        List<Path> owned = new ArrayList<>();
        for (FetchState.RestoredHost r : restored) {
            for (Map.Entry<Long, Download> e : r.active()) {
                Download d = e.getValue();
                owned.add(store.stagingFile(r.host(), d.downloadId, e.getKey(), d.generation));
            }
        }
        restored = List.of();
        KeyGroupRange groups = KeyGroupRangeAssignment.computeKeyGroupRangeForOperatorIndex(
                task.getMaxNumberOfParallelSubtasks(),
                task.getNumberOfParallelSubtasks(),
                task.getIndexOfThisSubtask());
        store.sweepStaging(groups.getStartKeyGroup(), groups.getEndKeyGroup(), owned);
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
        deadlines.admitted(seq, req);
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
        // The keyed backend is snapshotted right after this method returns: write what FetchState and the hosts' gates
        // hold in memory first.
        politeness.flush();
        state.flush(this::setCurrentKey);
        pendingPublishes.update(store.sealPublishes(context.getCheckpointId()));
        super.snapshotState(context);
    }

    @Override
    public void notifyCheckpointComplete(long checkpointId) throws Exception {
        super.notifyCheckpointComplete(checkpointId);
        // The results emitted before this checkpoint's barrier have committed: their files are renamed into place on
        // the storage pool; the entries stay in 'pending-publishes' until the renames' end comes back here.
        long started = System.nanoTime();
        store.committedAsync(checkpointId, end -> post("fetch-published", () -> {
            end.run();
            if (LOG.isDebugEnabled()) {
                LOG.debug("Checkpoint {} complete: its files published in {} ms (renamed on the storage pool)",
                        checkpointId, (System.nanoTime() - started) / 1_000_000);
            }
        }));
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
        if (metrics != null) { // how the work split over the subtasks (a spread host's shards, issue 16)
            LOG.info("Fetch subtask {} of {} closes: {}", getRuntimeContext().getTaskInfo().getIndexOfThisSubtask(),
                    getRuntimeContext().getTaskInfo().getNumberOfParallelSubtasks(), metrics.totals());
        }
        try {
            IOUtils.closeAll(
                    sender,
                    sweeper,
                    finalizer,
                    scheduler == null ? null : () -> scheduler.cancelAll("shutdown"),
                    http == null ? null : () -> HttpClientHolder.release(http));
            http = null;
            dns = null;
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
            mailbox.execute(() -> isolation.survive(name, mail), name);
            return true;
        } catch (RejectedExecutionException closing) {
            return false;
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
                act = scheduler.admit(h, next.seq(), chunks.newDownload(next.request(), now, random));
            }
        }
        if (act == null) {
            return;
        }
        Scheduler.Active turn = act;
        isolation.isolated(h, turn, () -> {
            boolean idle = turn.attempts.isEmpty();
            String refusal = idle ? politeness.refusal(h.host, ptNow()) : null;
            apply(h, turn, null, rules.turn(turn.d, idle, turn.finalizing, refusal, now));
        });
    }

    /** Issues a chunked download's next chunk (and keeps it ready while more are planned). */
    private void issueChunk(Scheduler.Host h, Scheduler.Active act) throws Exception {
        long stored = SegmentedChunks.storedLength(act.d); // the plaintext's, for an encrypted download
        if (act.plan == null && !ChunkedDownloads.stagingIntact(staging(h, act), stored)) {
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

    /** Sends the attempt's current hop once its host name answers from the DNS cache ({@link DnsGate}). */
    private void sendWhenResolved(Attempt a, Scheduler.Active act) {
        dns.sendWhenResolved(a, () -> send(a, act), this::onResolved);
    }

    /** The DNS gate's mail: {@code host}'s name lookup ended, so it may take permits again. */
    private void rejoin(String host) throws Exception {
        Scheduler.Host h = scheduler.existing(host);
        if (h != null) {
            scheduler.enqueueIfReady(h);
            pump();
        }
    }

    /** A prefetch for the attempt's hop ended: go on with the attempt, if it is still current. */
    private void onResolved(Attempt a) throws Exception {
        Scheduler.Active act = current(a);
        if (act != null) {
            Scheduler.Host h = scheduler.host(a.host);
            isolation.isolated(h, act, () -> sendWhenResolved(a, act));
            scheduler.enqueueIfReady(h);
            pump();
        }
    }

    /**
     * The download attempt {@code a} belongs to, with its host as the current key; null (and the attempt's permits
     * released) when the attempt was superseded (download restarted or finished) or cancelled at shutdown.
     */
    private Scheduler.Active current(Attempt a) {
        if (!scheduler.holds(a)) {
            return null;
        }
        Scheduler.Host h = scheduler.host(a.host);
        Scheduler.Active act = h.download(a.seq);
        if (act == null || act.d.generation != a.generation) {
            scheduler.release(h, act, a);
            return null;
        }
        setCurrentKey(a.host);
        return act;
    }

    /** Sends the current hop of an attempt. The completion comes back as mail. */
    private void send(Attempt a, Scheduler.Active act) {
        Path staging = store.stagingFile(a.host, act.d.downloadId, a.seq, a.generation);
        // A chunk's window reads in large buffers while the budget has a slot (LargeBuffers), else small ones. (Not
        // a probe: on a second client, the probes of many small files would open connections beside the main
        // client's, one per probe before ALPN shows an HTTP/2 origin.)
        CloseableHttpAsyncClient large = a.range != null ? http.large().tryAcquire() : null;
        if (a.range != null && a.blake3 == null) {
            Blake3Tree tree = blake3Tree(staging, act.d);
            a.blake3 = tree == null ? null : tree.feeder(); // the chunk hashes its own BLAKE3 blocks
        }
        requests.send(large != null ? large : http.client(), a, act.d, staging, o -> {
            if (large != null) {
                http.large().release();
            }
            post("fetch-complete", () -> onOutcome(a, o));
        }, head -> post("fetch-probe-head", () -> onProbeHead(a, head)));
    }

    /** The BLAKE3 block tree of a chunked download (null: BLAKE3 off, or the file is read in order at the end). */
    private Blake3Tree blake3Tree(Path staging, Download d) {
        long length = SegmentedChunks.storedLength(d);
        return finalizer.tree(staging, length, Blake3Tree.blockBytes(length, requests.window(d)));
    }

    /**
     * A probe's stored 206 head arrived while its body streams: a large file's other chunks are planned now
     * ({@link ChunkedDownloads#planFromHead}), not after the probe's whole first chunk.
     */
    private void onProbeHead(Attempt a, FetchOutcome head) throws Exception {
        if (!scheduler.holds(a)) {
            return; // superseded or ended: its outcome mail releases it
        }
        Scheduler.Host h = scheduler.host(a.host);
        Scheduler.Active act = h.download(a.seq);
        if (act == null || act.d.generation != a.generation) {
            return;
        }
        setCurrentKey(a.host);
        isolation.isolated(h, act, () -> {
            Decision.PlanChunks p = rules.planFromHead(act.d, a, head);
            if (p != null) {
                Path staging = staging(h, act);
                chunks.planFromHead(act, a, p);
                ChunkedDownloads.presize(staging, act.d.length); // beside the probe's sequential writes
                store.markDirty(staging);
                blake3Tree(staging, act.d);
                state.putActive(act.seq, act.d);
                scheduler.markReady(h, act);
            }
        });
        scheduler.enqueueIfReady(h);
        pump();
    }

    /**
     * The outcome of a probe whose download was planned from its head: its range is the first chunk, recorded
     * when the body was exactly that; a failure is retried as a failed chunk's range, anything else fetches the
     * file as one plain GET ({@link OutcomeRules#firstChunk}).
     */
    private void firstChunkDone(Scheduler.Host h, Scheduler.Active act, Attempt a, FetchOutcome o, long wallNow)
            throws Exception {
        if (OutcomeRules.firstChunkExact(act.d, a, o)) {
            chunks.recordFirstChunk(act, a);
            Path staging = staging(h, act);
            store.markDirty(staging);
            finalizer.advance(staging, act.d.done);
            deadlines.progressed(act);
        } else {
            if (o.error != null) {
                chunks.replanFirstChunk(act, a);
            }
            deadlines.stalled(act, a, wallNow);
        }
        Decision next = rules.firstChunk(act.d, a, o);
        if (next instanceof Decision.Retry r) {
            retryOrFail(h, act, r, true); // the staging file holds the other chunks: kept
        } else {
            apply(h, act, a, next);
        }
    }

    // ---- completions ----

    private void onOutcome(Attempt a, FetchOutcome o) throws Exception {
        Scheduler.Active act = current(a);
        if (act == null) {
            return;
        }
        Scheduler.Host h = scheduler.host(a.host);
        isolation.isolated(h, act, () -> handleOutcome(h, act, a, o));
        scheduler.enqueueIfReady(h);
        pump();
    }

    /** What {@link #onOutcome} does for a current attempt of a current download. */
    private void handleOutcome(Scheduler.Host h, Scheduler.Active act, Attempt a, FetchOutcome o) throws Exception {
        o = AttemptRequests.afterWindow(a, o);
        if (o == null) {
            sendWhenResolved(a, act); // the chunk's next window, on the attempt's permits
            return;
        }
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
        if (a.plannedFromHead()) {
            firstChunkDone(h, act, a, o, wallNow);
            return;
        }
        SegmentedChunks.adopt(d, o); // an encrypted probe's header, for its chunks
        if (a.range != null && chunks.record(act, a, o)) {
            store.markDirty(staging(h, act)); // the chunk's bytes so far must be durable at the next checkpoint
            finalizer.advance(staging(h, act), SegmentedChunks.storedDone(d)); // hash the final prefix ahead
            deadlines.progressed(act);
        } else {
            deadlines.stalled(act, a, wallNow);
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
            end(h, act, completions.succeed(act.d, s.outcome(), staging(h, act)));
        } else if (decision instanceof Decision.NotModified) {
            store.discard(staging(h, act));
            if (act.d.request.sha256 != null) {
                verifyPinnedCopy(h, act); // a recorded sha256 can be forged: the pin is checked on the bytes
            } else {
                end(h, act, completions.notModified(act.d));
            }
        } else if (decision instanceof Decision.PlanChunks p) {
            Path staging = staging(h, act);
            chunks.plan(act, p);
            ChunkedDownloads.presize(staging, SegmentedChunks.storedLength(act.d));
            store.markDirty(staging);
            blake3Tree(staging, act.d); // before the prefix hasher starts: it hashes the blocks chunks do not
            finalizer.advance(staging, SegmentedChunks.storedDone(act.d));
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

    /**
     * Emits the end {@link Completions} decided, or takes the FAILED end it names instead; a publish first runs its
     * file work on the storage pool, the request staying active (in keyed state) until its completion mail.
     */
    private void end(Scheduler.Host h, Scheduler.Active act, Completions.End e) throws Exception {
        if (e.publishing() != null) {
            Completions.Publishing p = e.publishing();
            boolean handed = this.<Completions.Publishing>offThread(h, act, "fetch-publish",
                    then -> store.prepare(p.publish()).whenComplete((done, error) -> then.accept(p, null)),
                    (ph, pa, publishing, error) -> end(ph, pa, completions.published(pa.d, publishing)),
                    publishing -> store.abandonPublish(publishing.publish()));
            if (!handed) {
                store.abandonPublish(p.publish()); // already finalizing: never the case, but the path is freed
            }
        } else if (e.failure() != null) {
            fail(h, act, e.failure().httpStatus(), e.failure().reason());
        } else {
            terminal(h, act, e.result());
        }
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
        offThread(h, act, "fetch-verify", then -> finalizer.digestFile(file, then), this::onVerified, null);
    }

    /** The pinned copy's digest is known: NOT_MODIFIED when it matches, else fetched again without validators. */
    private void onVerified(Scheduler.Host h, Scheduler.Active act, Digests.FileDigest digest, Exception error)
            throws Exception {
        Decision.Retry mismatch = completions.pinnedCopy(act.d.request, digest, error);
        if (mismatch == null) {
            end(h, act, completions.notModified(act.d));
        } else {
            retryOrFail(h, act, mismatch, false);
        }
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
        Decision next = rules.afterFailure(d, r, chunk, Deadlines.noProgressMillis(act, wallNow), wallNow, random);
        if (next instanceof Decision.Fail f) {
            fail(h, act, f.httpStatus(), f.reason());
            return;
        }
        deadlines.armBudget(act);
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

    /** {@link #fail} for {@link Isolation}, which may call it under another current key. */
    private void failKeyed(Scheduler.Host h, Scheduler.Active act, Integer httpStatus, String reason)
            throws Exception {
        setCurrentKey(h.host);
        fail(h, act, httpStatus, reason);
    }

    /** The by-hand end of {@link Isolation} when {@link #fail} itself broke: no staging clean-up, no timers. */
    private void abandon(Scheduler.Host h, Scheduler.Active act, Integer httpStatus, String reason)
            throws Exception {
        cancelAttempts(h, act);
        scheduler.remove(h, act);
        state.removeActive(act.seq);
        output.collect(new StreamRecord<>(Results.failed(act.d, httpStatus, reason)));
        if (scheduler.dropIfIdle(h)) {
            state.forgetHost(h.host);
        }
    }

    /** Emits the one result of a request and drops its state; clears the host's state when it is idle. */
    private void terminal(Scheduler.Host h, Scheduler.Active act, FetchResult r) throws Exception {
        deadlines.ended(act);
        cancelAttempts(h, act);
        scheduler.remove(h, act);
        state.removeActive(act.seq);
        output.collect(new StreamRecord<>(r));
        if (scheduler.dropIfIdle(h)) {
            state.forgetHost(h.host);
            if (!scheduler.hasWork()) {
                metrics.drained(getRuntimeContext().getTaskInfo().getIndexOfThisSubtask(),
                        getRuntimeContext().getTaskInfo().getNumberOfParallelSubtasks());
            }
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
        Path staging = staging(h, act);
        String path = act.d.request.path;
        offThread(h, act, "fetch-finalize", then -> finalizer.digest(staging, () -> store.resolve(path), then),
                this::onFinalized, null);
    }

    private void onFinalized(Scheduler.Host h, Scheduler.Active act, Digests.FileDigest digest, Exception error)
            throws Exception {
        apply(h, act, null, rules.finalized(act.d, digest, error));
    }

    /** What comes of off-thread work (a digest, a publish), on the task thread with the download's host as the key. */
    @FunctionalInterface
    private interface OffThreadStep<T> {
        void apply(Scheduler.Host h, Scheduler.Active act, T value, Exception error) throws Exception;
    }

    /**
     * Marks the download finalizing, has {@code work} run off the task thread (the {@link Finalizer}'s digest, the
     * storage pool's publish), and hands its value to {@code then} by mail if the download is still finalizing that
     * generation; else (it ended or started over meanwhile) to {@code orphaned}, when given. While finalizing, the
     * download stays in keyed state and takes no turn, so a checkpoint meanwhile restores it (issued again). Returns
     * false (and runs nothing) when the download is already finalizing.
     */
    private <T> boolean offThread(
            Scheduler.Host h,
            Scheduler.Active act,
            String mail,
            java.util.function.Consumer<BiConsumer<T, Exception>> work,
            OffThreadStep<T> then,
            java.util.function.Consumer<T> orphaned) {
        if (!scheduler.startFinalizing(act)) {
            return false;
        }
        String host = h.host;
        long seq = act.seq;
        int generation = act.d.generation;
        work.accept((value, error) -> post(mail, () -> {
            Scheduler.Host now = scheduler.existing(host);
            Scheduler.Active current = now == null ? null : now.download(seq);
            if (current == null || current.d.generation != generation || !current.finalizing) {
                if (orphaned != null) {
                    orphaned.accept(value); // it ended or started over meanwhile
                }
                return;
            }
            setCurrentKey(host);
            scheduler.endFinalizing(current);
            isolation.isolated(now, current, () -> then.apply(now, current, value, error));
            scheduler.enqueueIfReady(now);
            pump();
        }));
        return true;
    }

    // ---- timers and the sweeper ----

    @Override
    public void onProcessingTime(InternalTimer<String, VoidNamespace> timer) throws Exception {
        isolation.survive("fetch-timer", () -> {
            promoteDue(ptNow());
            pump();
        });
    }

    @Override
    public void onEventTime(InternalTimer<String, VoidNamespace> timer) {}

    /** The timer service {@value Deadlines#TIMER_SERVICE}: what fires goes to {@link #onDeadline}. */
    private final class DeadlineTimers implements Triggerable<String, Long>, Deadlines.Timers {
        InternalTimerService<Long> service;

        @Override
        public void onProcessingTime(InternalTimer<String, Long> timer) throws Exception {
            isolation.survive(
                    "fetch-deadline", () -> onDeadline(timer.getKey(), timer.getNamespace(), timer.getTimestamp()));
        }

        @Override
        public void onEventTime(InternalTimer<String, Long> timer) {}

        @Override
        public void register(long seq, long at) {
            service.registerProcessingTimeTimer(seq, at);
        }

        @Override
        public void delete(long seq, long at) {
            service.deleteProcessingTimeTimer(seq, at);
        }
    }

    /**
     * A request's deadline or no-progress budget timer fired (the current key is its host): it ends FAILED now,
     * whether it is queued, waiting for a retry, parked behind its host's pause, breaker or rate limit, or in flight.
     */
    private void onDeadline(String host, long seq, long at) throws Exception {
        Scheduler.Host h = scheduler.existing(host);
        if (h == null) {
            return; // nothing of the host is waiting (the request ended before its timer could be deleted)
        }
        Scheduler.Active act = h.download(seq);
        if (act != null) {
            Decision.Fail f = Deadlines.expired(act, at);
            if (f != null) {
                isolation.isolated(h, act, () -> fail(h, act, f.httpStatus(), f.reason()));
            }
        } else {
            FetchRequest req = state.takeQueued(seq);
            if (req == null) {
                return;
            }
            FetchResult r =
                    Results.failed(new Download(req, System.currentTimeMillis()), null, Deadlines.expiredInQueue());
            metrics.failed(r.error);
            output.collect(new StreamRecord<>(r));
        }
        Scheduler.Host still = scheduler.existing(host);
        if (still != null) {
            scheduler.enqueueIfReady(still);
        }
        pump();
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
        StalledAttempts.reportHeaders(scheduler, politeness, ptNow());
        StalledAttempts.detach(scheduler, politeness, System.currentTimeMillis());
        metrics.refresh(politeness, ptNow(), scheduler::inFlightTo);
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

    // ---- test hooks ----

    /** Files whose results are emitted and whose renames into place have not ended yet (tests). */
    int pendingPublishes() {
        return store.pendingPublishes();
    }

    /** Writes the hosts' politeness state that is held behind, as the next snapshot would (tests). */
    void flushHostState() {
        politeness.flush();
    }

    /** Attempts in flight to hosts that had not answered when they were sent (tests). */
    int unprovenInFlight() {
        return scheduler.unprovenInFlight();
    }

    /** BLAKE3 blocks of finished chunked digests: {hashed by their chunks, read from the file} (tests). */
    long[] blake3Blocks() {
        return finalizer.blake3Blocks();
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
