package io.flowget.udf.fetch;

import io.flowget.udf.http.Attempt;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.function.Predicate;

/**
 * Which host issues its next piece of work, and whether a permit is free for it: the in-memory scheduling of the
 * fetch operator, with no Flink types. It holds the round-robin ring of hosts that have work and may issue, each
 * host's ready list and active downloads, the global in-flight permits ({@code flowget.fetch.max-in-flight}),
 * the heap of retries waiting for their due time, and the backlog count that backpressure reads. Hosts take turns
 * one piece of work at a time; a host's own politeness ({@link Gate}) decides whether it may take another.
 *
 * <p>Derived data only: everything here is rebuilt from keyed state after a restore. The scheduler decides and
 * counts; it never touches state, HTTP or the mailbox — {@link FetchOperator} does, and calls back in to record
 * what it did. Usage, the operator's pump:
 *
 * <pre>{@code
 * Scheduler.Host h;
 * while ((h = scheduler.nextTurn()) != null) {
 *     issueNext(h); // takes scheduler.pollReady(h) or the queue head, then scheduler.started(h, act, attempt)
 *     scheduler.enqueueIfReady(h);
 * }
 * }</pre>
 *
 * <p>Not thread-safe: owned by the operator's task thread (the JMH {@code SchedulingBenchmark} drives it alone).
 */
public final class Scheduler {
    /** A host's politeness: may it take one more request now, with {@code inFlight} already out? */
    @FunctionalInterface
    public interface Gate {
        boolean mayIssue(String host, int inFlight);
    }

    private final int maxInFlight;
    private final Gate gate;
    private final Predicate<String> proven;
    private final int unprovenCap;
    /** Attempts in flight to hosts that had not answered when they were sent. */
    private int unprovenInFlight;
    /** Hosts that may issue but wait for a permit of the unproven share; each once (its flag). */
    private final ArrayDeque<Host> unprovenWaiting = new ArrayDeque<>();
    private final Map<String, Host> hosts = new HashMap<>();
    private final ArrayDeque<Host> ring = new ArrayDeque<>();
    private final PriorityQueue<Waiting> waiting = new PriorityQueue<>();
    private final Set<Attempt> inFlight = new HashSet<>();
    private long queuedTotal;
    private long readyTotal;
    private int finalizing;

    public Scheduler(int maxInFlight, Gate gate) {
        this(maxInFlight, gate, host -> true, maxInFlight);
    }

    /**
     * A scheduler whose hosts that have never answered ({@code proven} false) hold at most {@code unprovenCap} of
     * the {@code maxInFlight} permits together, so a crowd of dead or silent hosts cannot take them all.
     */
    public Scheduler(int maxInFlight, Gate gate, Predicate<String> proven, int unprovenCap) {
        this.maxInFlight = maxInFlight;
        this.gate = gate;
        this.proven = proven;
        this.unprovenCap = Math.max(1, unprovenCap);
    }

    /** True when the host may take a permit: it is proven, or the unproven share has one free. */
    private boolean unprovenPermitFree(Host h) {
        return unprovenInFlight < unprovenCap || proven.test(h.host);
    }

    /** Parks the host until a permit of the unproven share frees. */
    private void waitForUnprovenPermit(Host h) {
        if (!h.waitingUnproven) {
            h.waitingUnproven = true;
            unprovenWaiting.addLast(h);
        }
    }

    /** The host's bookkeeping, created on first use. */
    public Host host(String host) {
        return hosts.computeIfAbsent(host, Host::new);
    }

    /** The host's bookkeeping, or null when it has no work. */
    public Host existing(String host) {
        return hosts.get(host);
    }

    /** A request joined the host's durable queue. */
    public void queued(Host h) {
        h.queued++;
        queuedTotal++;
        enqueueIfReady(h);
    }

    /**
     * Takes in what a restore found for a host: {@code queued} requests in its durable queue and its active
     * downloads, each waiting for its retry time or ready now. Returns how many are ready.
     */
    public int restore(String host, long queued, List<Map.Entry<Long, Download>> active, long now) {
        Host h = host(host);
        h.queued = queued;
        queuedTotal += queued;
        int ready = 0;
        for (Map.Entry<Long, Download> e : active) {
            Active act = admit(h, e.getKey(), e.getValue());
            if (act.d.retryAt > now) {
                waitUntil(h, act, act.d.retryAt);
            } else {
                markReady(h, act);
                ready++;
            }
        }
        return ready;
    }

    /** Puts the host in the ring when it has work and its gate lets it take one more request. */
    public void enqueueIfReady(Host h) {
        if (!h.inRing && h.hasReadyWork() && gate.mayIssue(h.host, h.inFlight)) {
            if (!unprovenPermitFree(h)) {
                waitForUnprovenPermit(h);
                return;
            }
            h.inRing = true;
            ring.addLast(h);
        }
    }

    /** {@link #enqueueIfReady} for every host (after a restore). */
    public void enqueueAll() {
        for (Host h : hosts.values()) {
            enqueueIfReady(h);
        }
    }

    /** Puts a download on its host's ready list (once) and the host in the ring. */
    public void markReady(Host h, Active act) {
        if (!act.inReady) {
            act.inReady = true;
            h.ready.addLast(act.seq);
            readyTotal++;
        }
        enqueueIfReady(h);
    }

    /**
     * The next host whose turn it is, while a global permit is free; null when none. Hosts that lost their
     * work or their gate's consent since they joined the ring are dropped from it (they rejoin through
     * {@link #enqueueIfReady}).
     */
    public Host nextTurn() {
        while (inFlight.size() < maxInFlight && !ring.isEmpty()) {
            Host h = ring.pollFirst();
            h.inRing = false;
            if (h.hasReadyWork() && gate.mayIssue(h.host, h.inFlight)) {
                if (unprovenPermitFree(h)) {
                    return h;
                }
                waitForUnprovenPermit(h);
            }
        }
        return null;
    }

    /**
     * Whether the host's turn goes to a ready download (true) or to the head of its durable queue (false).
     * The two take turns when both wait, so a large file's chunks interleave fairly with the host's other
     * requests.
     */
    public boolean readyTurn(Host h) {
        boolean fromReady = !h.ready.isEmpty() && (h.queued == 0 || !h.preferQueue);
        h.preferQueue = fromReady;
        return fromReady;
    }

    /** Takes the first ready download of the host; null if it finished meanwhile. */
    public Active pollReady(Host h) {
        long seq = h.ready.pollFirst();
        readyTotal--;
        Active act = h.downloads.get(seq);
        if (act != null) {
            act.inReady = false;
        }
        return act;
    }

    /** The head of the host's durable queue was taken. */
    public void dequeued(Host h) {
        h.queued--;
        queuedTotal--;
    }

    /** A download became active (left the queue, or was restored). */
    public Active admit(Host h, long seq, Download d) {
        Active act = new Active(seq, d);
        h.downloads.put(seq, act);
        return act;
    }

    /** An attempt was sent: it holds a global and a host permit until {@link #release}. */
    public void started(Host h, Active act, Attempt a) {
        a.unprovenPermit = !proven.test(h.host);
        if (a.unprovenPermit) {
            unprovenInFlight++;
        }
        h.inFlight++;
        inFlight.add(a);
        act.attempts.add(a);
    }

    /** True while the attempt holds its permits (not superseded, finished or cancelled at shutdown). */
    public boolean holds(Attempt a) {
        return inFlight.contains(a);
    }

    /** The attempt ended: frees its permits (once). */
    public void release(Host h, Active act, Attempt a) {
        if (inFlight.remove(a)) {
            if (a.detached) {
                h.detached--;
            } else {
                h.inFlight--;
            }
            if (a.unprovenPermit) {
                unprovenInFlight--;
                wakeUnproven();
            }
        }
        if (act != null) {
            act.attempts.remove(a);
        }
    }

    /** Puts as many hosts waiting for a permit of the unproven share back in the ring as the share has free. */
    private void wakeUnproven() {
        int free = unprovenCap - unprovenInFlight;
        while (free > 0 && !unprovenWaiting.isEmpty()) {
            Host w = unprovenWaiting.pollFirst();
            w.waitingUnproven = false;
            if (hosts.get(w.host) == w && !w.inRing && w.hasReadyWork() && gate.mayIssue(w.host, w.inFlight)) {
                w.inRing = true;
                ring.addLast(w);
                free--;
            }
        }
    }

    /**
     * Stops counting a stalled attempt against its host's limit (it keeps its global permit): the host has shown
     * it serves other requests meanwhile, so this one is the URL's trouble, and the host's slot goes to the next
     * request. At most {@code maxDetached} of a host's attempts are detached at once. Returns true if it did.
     */
    public boolean detach(Host h, Attempt a, int maxDetached) {
        if (a.detached || !inFlight.contains(a) || h.detached >= maxDetached) {
            return false;
        }
        a.detached = true;
        h.inFlight--;
        h.detached++;
        return true;
    }

    /** Attempts in flight to hosts that had not answered when they were sent (metrics, tests). */
    public int unprovenInFlight() {
        return unprovenInFlight;
    }

    /** Attempts in flight (read-only view). */
    public Collection<Attempt> inFlight() {
        return Collections.unmodifiableSet(inFlight);
    }

    /** Cancels and forgets every attempt in flight (shutdown). */
    public void cancelAll(String reason) {
        for (Attempt a : new ArrayList<>(inFlight)) {
            a.cancel(reason);
        }
        inFlight.clear();
        unprovenInFlight = 0;
        unprovenWaiting.clear();
    }

    /** A retry of the download waits until {@code due} (processing time). */
    public void waitUntil(Host h, Active act, long due) {
        act.d.retryAt = due;
        waiting.add(new Waiting(due, h.host, act.seq));
    }

    /**
     * Puts the {@code resumed} hosts (their pause ended, {@code HostPoliteness.resumeDue}) back in the ring, then moves
     * retries due by {@code now} to their hosts' ready lists.
     */
    public void promoteDue(long now, List<String> resumed) {
        for (String host : resumed) {
            Host h = existing(host);
            if (h != null) {
                enqueueIfReady(h);
            }
        }
        promoteDue(now);
    }

    /** Moves retries due by {@code now} to their hosts' ready lists. */
    public void promoteDue(long now) {
        while (!waiting.isEmpty() && waiting.peek().dueAt <= now) {
            Waiting w = waiting.poll();
            Host h = hosts.get(w.host);
            Active act = h == null ? null : h.downloads.get(w.seq);
            if (act != null) {
                act.d.retryAt = 0;
                markReady(h, act);
            }
        }
    }

    /** The download's whole-file digest runs off the task thread; false if it already does. */
    public boolean startFinalizing(Active act) {
        if (act.finalizing) {
            return false;
        }
        act.finalizing = true;
        finalizing++;
        return true;
    }

    /** The digest came back (or the download ended): no longer finalizing. */
    public void endFinalizing(Active act) {
        if (act.finalizing) {
            act.finalizing = false;
            finalizing--;
        }
    }

    /** The download reached its result: drops it from the ready list, the retry heap and the host. */
    public void remove(Host h, Active act) {
        endFinalizing(act);
        if (act.inReady) {
            h.ready.remove(act.seq);
            readyTotal--;
            act.inReady = false;
        }
        if (act.d.retryAt > 0) {
            waiting.removeIf(w -> w.seq == act.seq && w.host.equals(h.host));
        }
        h.downloads.remove(act.seq);
    }

    /** Drops the host when it has nothing queued and nothing active; true if it did. */
    public boolean dropIfIdle(Host h) {
        if (h.queued == 0 && h.downloads.isEmpty()) {
            hosts.remove(h.host);
            return true;
        }
        return false;
    }

    /**
     * Admission of one more request for {@code h} (no head-of-line blocking: input is never stopped, only the
     * crowding host's requests are refused). Null to admit; else why the host's queue is full: it holds
     * {@code maxHost} requests (queued or active), or the subtask's backlog reached {@code maxTotal} and the host
     * holds at least its fair share of it ({@code maxTotal} divided by the hosts with work, at least 1).
     */
    public String queueFull(Host h, long maxHost, long maxTotal) {
        long mine = h.queued + h.downloads.size();
        if (mine >= maxHost) {
            return "queue full (" + mine + " requests of this host waiting, flowget.fetch.max-host-backlog)";
        }
        if (backlog() >= maxTotal && mine >= Math.max(1, maxTotal / Math.max(1, hosts.size()))) {
            return "queue full (" + mine + " requests of this host waiting, its share of flowget.fetch.max-backlog)";
        }
        return null;
    }

    /** Requests queued, downloads ready to issue work, and retries waiting (also the backpressure measure). */
    public long backlog() {
        return queuedTotal + readyTotal + waiting.size();
    }

    /** True while anything is queued, ready, waiting, in flight or finalizing. */
    public boolean hasWork() {
        return backlog() > 0 || !inFlight.isEmpty() || finalizing > 0;
    }

    /** Hosts with work (a metrics gauge). */
    public int hostCount() {
        return hosts.size();
    }

    /** Requests in flight to the host (metrics). */
    public int inFlightTo(String host) {
        Host h = hosts.get(host);
        return h == null ? 0 : h.inFlight;
    }

    /** One host's in-memory bookkeeping. */
    public static final class Host {
        final String host;
        /** Downloads that can issue work now, in turn. */
        final ArrayDeque<Long> ready = new ArrayDeque<>();
        /** Every entry of the host's active state, by sequence number. */
        final Map<Long, Active> downloads = new HashMap<>();
        /** Requests in the durable queue. */
        long queued;
        /** Attempts that count against the host's limit. */
        int inFlight;
        /** Stalled attempts still in flight that no longer count against the host's limit ({@link #detach}). */
        int detached;
        boolean inRing;
        /** True while the host is in the queue of hosts waiting for a permit of the unproven share. */
        boolean waitingUnproven;
        /** Alternates ready downloads and new requests when both wait. */
        boolean preferQueue;

        Host(String host) {
            this.host = host;
        }

        public String name() {
            return host;
        }

        /** The host's active download by sequence number, or null. */
        public Active download(long seq) {
            return downloads.get(seq);
        }

        boolean hasReadyWork() {
            return queued > 0 || !ready.isEmpty();
        }
    }

    /** In-memory companion of an active download: its attempts in flight and, when chunked, its plan. */
    public static final class Active {
        final long seq;
        final Download d;
        final List<Attempt> attempts = new ArrayList<>(2);
        RangePlan plan;
        boolean inReady;
        boolean finalizing;
        /**
         * Time spent in attempts without progress since the download last made some (in memory: a restored
         * download starts its no-progress budget afresh).
         */
        long stalledMillis;
        /**
         * Wall-clock millis since which the download has made no progress, counted from the last progress of its
         * first attempt that stalled for a second or more (0: none); waiting between attempts runs this clock.
         */
        long stallSince;
        /** The no-progress budget's timer (wall-clock millis, as processing time), 0 when none is registered. */
        long budgetTimerAt;

        Active(long seq, Download d) {
            this.seq = seq;
            this.d = d;
        }

        public long seq() {
            return seq;
        }

        public Download download() {
            return d;
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
