package io.flowget.udf.fetch;

import io.flowget.udf.body.Digests;
import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.http.Attempt;
import io.flowget.udf.http.FetchOutcome;
import io.flowget.udf.http.HttpClientHolder;
import io.flowget.udf.http.HttpClientSettings;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.storage.OutputStore;

import org.apache.flink.annotation.VisibleForTesting;
import org.apache.flink.api.common.operators.MailboxExecutor;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.state.StateInitializationContext;
import org.apache.flink.runtime.state.StateSnapshotContext;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.operators.StreamOperatorParameters;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.util.IOUtils;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * The keyed, non-blocking fetch operator (DESIGN.md, "FetchOperator"). Input is keyed by host (a busy host's requests
 * by the key of their shard, {@link HostShards}: everything here treats a key as a host); output is exactly
 * one {@link FetchResult} per request. This class keeps the lifecycle, {@code processElement}, the turns (the pump),
 * what each mail and timer means and which decision is applied; the work is handed to its parts (README "Who owns
 * what"), which call back only through what it passes them: {@link FetchSettings}, {@link FetchState} (keyed
 * state), {@link Scheduler} (turns and permits), {@link HostPoliteness}, {@link DnsGate}, {@link AttemptRequests} and
 * {@link AttemptDispatch} (sending), {@link OutcomeRules} (typed {@link Decision}s), {@link ChunkedDownloads} and
 * {@link StagingFiles}, {@link Completions}, {@link RequestEnds} (the one result of a request), {@link Deadlines} and
 * {@link FetchTimers}, {@link Isolation}, {@link MailHandoffs} (every mail back onto the task thread),
 * {@link Checkpoints} (restore, barrier, snapshot, commit), {@link StalledAttempts}, {@link Finalizer},
 * {@link Sweeper}, {@link Results} and {@link FetchMetrics}. Only its callbacks set the current key, and keyed state is
 * written, results emitted and timers registered only from its task-thread calls.
 *
 * <p><b>Durable state, per host (RocksDB):</b> {@code queue} (FIFO of waiting requests by sequence number) with
 * its {@code queue-cursor}, and {@code active} (requests that left the queue and are in flight or waiting for
 * a retry, by sequence number). The checkpoint invariant: a request handed over before a barrier is, in that
 * checkpoint, either in {@code queue}/{@code active} or already emitted; so after a restore every unfinished
 * request is issued again and none is reported twice. A host's state is cleared when it has no work left,
 * except {@code host-state}/{@code host-health} ({@link HostPoliteness}), which a TTL bounds. The operator (union
 * list) state {@code pending-publishes} ({@link Checkpoints}) holds the finished files whose results are emitted but whose checkpoint
 * has not completed yet ({@link io.flowget.udf.storage.PublishAtCommit}). Timers ({@link FetchTimers}):
 * {@value FetchTimers#RETRIES} (retries and host wake-ups) and {@value Deadlines#TIMER_SERVICE} ({@link Deadlines}).
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
 * runs on the task thread, and those come back only through {@link MailHandoffs#post}.
 */
public class FetchOperator extends AbstractStreamOperator<FetchResult>
        implements OneInputStreamOperator<FetchRequest, FetchResult> {

    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(FetchOperator.class);

    private final Configuration config;
    private final transient MailboxExecutor mailbox;

    private transient FetchSettings settings;
    private transient FetchState state;
    private transient Scheduler scheduler;
    private transient HostPoliteness politeness;
    private transient FetchTimers timers;
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
    private transient StagingFiles files;
    private transient MailHandoffs handoffs;
    private transient AttemptDispatch dispatch;
    private transient RequestEnds ends;
    private transient SplittableRandom random;
    private transient FetchMetrics metrics;
    private transient Checkpoints checkpoints;

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
        checkpoints = new Checkpoints(context, getRuntimeContext().getJobInfo().getJobId().toString(), state,
                scheduler, politeness, this::setCurrentKey, this::ptNow);
    }

    @Override
    public void open() throws Exception {
        super.open();
        random = new SplittableRandom(new java.security.SecureRandom().nextLong()); // also draws download ids
        store = new OutputStore(settings.outDir, settings.stagingDir, settings.onConflict, settings.durability);
        int subtask = getRuntimeContext().getTaskInfo().getIndexOfThisSubtask();
        checkpoints.open(store, getRuntimeContext().getTaskInfo(),
                CheckpointingOptions.isCheckpointingEnabled(getContainingTask().getEnvironment().getJobConfiguration()));
        conditional = new ConditionalFetch(settings.digestOnly ? null : store, settings.conditional, settings.blake3);
        rules = new OutcomeRules(settings);
        chunks = new ChunkedDownloads(settings);
        sender = new AttemptSender(subtask); // execute() off the task thread
        requests = new AttemptRequests(settings, conditional, sender);
        timers = new FetchTimers(this::getInternalTimerService,
                () -> isolation.survive("fetch-timer", () -> {
                    promoteDue(ptNow());
                    pump();
                }),
                (host, seq, at) -> isolation.survive("fetch-deadline", () -> onDeadline(host, seq, at)));
        deadlines = new Deadlines(settings.noProgressBudgetMillis, timers);
        http = HttpClientHolder.acquire(
                HttpClientSettings.from(config), config.get(FlowgetOptions.HTTP_CLIENT_LINGER)); // a daemon keeps it
        metrics = new FetchMetrics(getMetricGroup(), http, settings.topHosts);
        completions = new Completions(settings, store, conditional, metrics);
        finalizer = new Finalizer(subtask, settings.blake3);
        files = new StagingFiles(store, finalizer, requests::window);
        ends = new RequestEnds(scheduler, state, deadlines, files, metrics, r -> output.collect(new StreamRecord<>(r)),
                this::setCurrentKey, () -> metrics.drained(subtask, getRuntimeContext().getTaskInfo()
                        .getNumberOfParallelSubtasks()));
        isolation = new Isolation(metrics, ends::failKeyed, ends::abandon);
        handoffs = new MailHandoffs(mailbox, isolation, scheduler, this::setCurrentKey, this::afterStep);
        dns = new DnsGate(http.dns(), handoffs::post);
        dispatch = new AttemptDispatch(
                dns, http, requests, new ChunkWindows(settings), files, handoffs, this::onResolved, this::onOutcome,
                this::onProbeHead);
        metrics.operatorGauges(() -> scheduler.inFlight().size(), scheduler::backlog, scheduler::hostCount);
        sweeper = new Sweeper(subtask, () -> handoffs.post("fetch-sweep", this::sweep));
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
        deadlines.admitted(seq, req);
        scheduler.queued(h);
        pump();
    }

    @Override
    public void prepareSnapshotPreBarrier(long checkpointId) throws Exception {
        super.prepareSnapshotPreBarrier(checkpointId);
        checkpoints.beforeBarrier(); // the group commit
    }

    @Override
    public void snapshotState(StateSnapshotContext context) throws Exception {
        checkpoints.snapshot(context.getCheckpointId()); // what is held behind, then the pending publishes
        super.snapshotState(context);
    }

    @Override
    public void notifyCheckpointComplete(long checkpointId) throws Exception {
        super.notifyCheckpointComplete(checkpointId);
        checkpoints.completed(checkpointId, handoffs); // the committed files renamed on the storage pool
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

    // ---- issuing ----

    /** After a download's step on {@code h} ({@link MailHandoffs#step}): the host's turn back, then the pump. */
    private void afterStep(Scheduler.Host h) throws Exception {
        scheduler.enqueueIfReady(h);
        pump();
    }

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
        if (act.plan == null && !ChunkedDownloads.stagingIntact(files.of(h, act), stored)) {
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
        dispatch.send(a, act);
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
        Scheduler.Active act = current(a, true);
        if (act != null) {
            handoffs.step(scheduler.host(a.host), act, () -> dispatch.send(a, act));
        }
    }

    /**
     * The download attempt {@code a} belongs to, with its host as the current key; null when the attempt was
     * superseded (download restarted or finished) or cancelled at shutdown, its permits then released if
     * {@code release}.
     */
    private Scheduler.Active current(Attempt a, boolean release) {
        if (!scheduler.holds(a)) {
            return null;
        }
        Scheduler.Host h = scheduler.host(a.host);
        Scheduler.Active act = h.download(a.seq);
        if (act == null || act.d.generation != a.generation) {
            if (release) {
                scheduler.release(h, act, a);
            }
            return null;
        }
        setCurrentKey(a.host);
        return act;
    }

    /**
     * A probe's stored 206 head arrived while its body streams: a large file's other chunks are planned now
     * ({@link ChunkedDownloads#planFromHead}), not after the probe's whole first chunk.
     */
    private void onProbeHead(Attempt a, FetchOutcome head) throws Exception {
        Scheduler.Active act = current(a, false); // superseded or ended: its outcome mail releases it
        if (act == null) {
            return;
        }
        Scheduler.Host h = scheduler.host(a.host);
        handoffs.step(h, act, () -> {
            Decision.PlanChunks p = rules.planFromHead(act.d, a, head);
            if (p != null) {
                chunks.planFromHead(act, a, p);
                files.planned(files.of(h, act), act.d.length, act.d); // beside the probe's sequential writes
                state.putActive(act.seq, act.d);
                scheduler.markReady(h, act);
            }
            if (!a.headersReported) {
                // The head proves the host now, not at the next sweep (200 ms); over HTTP/1.1 it also ends the host's
                // warm-up, so the chunks planned above go out while the probe's body streams.
                a.headersReported = true;
                politeness.answered(a.host, a.headHttp1, a.ttfbNanos(), a.hostInFlight, ptNow());
            }
        });
    }

    /**
     * The outcome of a probe whose download was planned from its head: its range is the first chunk, recorded
     * when the body was exactly that; a failure is retried as a failed chunk's range, anything else fetches the
     * file as one plain GET ({@link OutcomeRules#firstChunk}).
     */
    private void firstChunkDone(Scheduler.Host h, Scheduler.Active act, Attempt a, FetchOutcome o, long wallNow)
            throws Exception {
        if (chunks.firstChunkDone(act, a, o)) {
            files.stored(files.of(h, act), act.d.done);
            deadlines.progressed(act);
        } else {
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
        Scheduler.Active act = current(a, true);
        if (act == null) {
            return;
        }
        Scheduler.Host h = scheduler.host(a.host);
        handoffs.step(h, act, () -> handleOutcome(h, act, a, o));
    }

    /** What {@link #onOutcome} does for a current attempt of a current download. */
    private void handleOutcome(Scheduler.Host h, Scheduler.Active act, Attempt a, FetchOutcome o) throws Exception {
        o = AttemptRequests.afterWindow(a, o);
        if (o == null) {
            dispatch.send(a, act); // the chunk's next window, on the attempt's permits
            return;
        }
        Download d = act.d;
        boolean refusedBefore = RetryPolicy.isRefusal(d.lastHttpStatus); // by its previous attempt, for politeness
        if (o.status > 0) {
            d.lastHttpStatus = o.status;
        }
        if (o.isRedirect()) {
            Decision next = rules.redirect(a, o);
            if (next instanceof Decision.Redirect r) {
                a.url = r.url();
                a.hops++;
                a.visited.add(r.url());
                dispatch.send(a, act);
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
                        a.host, o, a.cancelReason, a.headersReceived, refusedBefore, a.hostInFlight, h.inFlight + 1,
                        (System.currentTimeMillis() - a.hopStartedAt) * 1_000_000L, a.ttfbNanos(), ptNow());
        if (pausedUntil > 0) {
            timers.retryAt(pausedUntil);
        }
        metrics.attemptFinished(System.currentTimeMillis() - a.startedAt);
        long wallNow = System.currentTimeMillis();
        if (a.plannedFromHead()) {
            firstChunkDone(h, act, a, o, wallNow);
            return;
        }
        SegmentedChunks.adopt(d, o); // an encrypted probe's header, for its chunks
        if (a.range != null && chunks.record(act, a, o)) {
            files.stored(files.of(h, act), SegmentedChunks.storedDone(d));
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
            end(h, act, completions.succeed(act.d, s.outcome(), files.of(h, act)));
        } else if (decision instanceof Decision.NotModified) {
            store.discard(files.of(h, act));
            if (act.d.request.sha256 != null) {
                verifyPinnedCopy(h, act); // a recorded sha256 can be forged: the pin is checked on the bytes
            } else {
                end(h, act, completions.notModified(act.d));
            }
        } else if (decision instanceof Decision.PlanChunks p) {
            chunks.plan(act, p);
            files.planned(files.of(h, act), SegmentedChunks.storedLength(act.d), act.d);
            state.putActive(act.seq, act.d);
            scheduler.markReady(h, act);
        } else if (decision instanceof Decision.ChunkStored c) {
            state.putActive(act.seq, act.d);
            if (c.complete()) {
                ends.cancelAttempts(h, act); // split halves that are no longer needed
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
                store.discard(files.of(h, act)); // a chunk's bytes so far belong to the validated version: kept
            }
            retryOrFail(h, act, r, chunk);
        } else if (decision instanceof Decision.Fail f) {
            ends.fail(h, act, f.httpStatus(), f.reason());
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
            boolean handed = handoffs.<Completions.Publishing>offThread(h, act, "fetch-publish",
                    then -> store.prepare(p.publish()).whenComplete((done, error) -> then.accept(p, null)),
                    (ph, pa, publishing, error) -> end(ph, pa, completions.published(pa.d, publishing)),
                    publishing -> store.abandonPublish(publishing.publish()));
            if (!handed) {
                store.abandonPublish(p.publish()); // already finalizing: never the case, but the path is freed
            }
        } else if (e.failure() != null) {
            ends.fail(h, act, e.failure().httpStatus(), e.failure().reason());
        } else {
            ends.terminal(h, act, e.result());
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
            ends.fail(h, act, 304, "path conflict: " + e.getMessage());
            return;
        }
        handoffs.offThread(h, act, "fetch-verify", then -> finalizer.digestFile(file, then), this::onVerified, null);
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
            ends.fail(h, act, f.httpStatus(), f.reason());
            return;
        }
        deadlines.armBudget(act);
        long due = ptNow() + ((Decision.Retry) next).afterMillis();
        scheduler.waitUntil(h, act, due);
        state.putActive(act.seq, d);
        metrics.retry();
        timers.retryAt(due);
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
                ends.fail(h, act, d.lastHttpStatus, "resource changed during download (" + d.restarts + " times)");
                return;
            }
            LOG.info("{} changed during download; starting over (generation {})", d.request.url, d.generation + 1);
        }
        ends.cancelAttempts(h, act);
        files.drop(files.of(h, act));
        ChunkedDownloads.reset(act, mode);
        state.putActive(act.seq, d);
        scheduler.markReady(h, act);
    }

    /** Digest and length check of a completed chunked file, off the task thread; publishes on return. */
    private void finalizeChunked(Scheduler.Host h, Scheduler.Active act) {
        Path staging = files.of(h, act);
        String path = act.d.request.path;
        handoffs.offThread(h, act, "fetch-finalize", then -> finalizer.digest(staging, () -> store.resolve(path), then),
                this::onFinalized, null);
    }

    private void onFinalized(Scheduler.Host h, Scheduler.Active act, Digests.FileDigest digest, Exception error)
            throws Exception {
        apply(h, act, null, rules.finalized(act.d, digest, error));
    }

    // ---- timers and the sweeper ----

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
                isolation.isolated(h, act, () -> ends.fail(h, act, f.httpStatus(), f.reason()));
            }
        } else if (!ends.expiredInQueue(seq)) {
            return;
        }
        Scheduler.Host still = scheduler.existing(host);
        if (still != null) {
            scheduler.enqueueIfReady(still);
        }
        pump();
    }

    /** Puts hosts whose pause ended back in the ring and moves due retries to their hosts' ready lists. */
    private void promoteDue(long now) {
        scheduler.promoteDue(now, politeness.resumeDue(now));
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

    /** The operator's parts as tests may read them (its only test hook). */
    @VisibleForTesting
    FetchTestAccess forTests() {
        return new FetchTestAccess(scheduler, state, store, politeness, finalizer);
    }
}
