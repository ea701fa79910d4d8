package io.flowget.udf.fetch;

import io.flowget.udf.model.FetchRequest;

import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.State;
import org.apache.flink.api.common.state.StateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.state.KeyedStateBackend;
import org.apache.flink.runtime.state.VoidNamespace;
import org.apache.flink.runtime.state.VoidNamespaceSerializer;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * The fetch operator's keyed state, per host: the durable FIFO {@code queue} with its {@code queue-cursor}, the
 * {@code active} downloads and the politeness {@code host-state} and {@code host-health}. Every read and write here is for the backend's
 * current key, which only {@link FetchOperator} sets; the state names, types and classes are what savepoints
 * hold and must not change without a migration.
 *
 * <p><b>Write-behind (issue 16).</b> Only what the state holds at a checkpoint matters (the checkpoint invariant,
 * DESIGN.md): a request that is queued, taken and finished between two checkpoints never needs to reach the
 * backend. So the cursor and every {@code queue} and {@code active} entry written since the last checkpoint live in
 * memory ({@link HostBuffer}, per host) and are written in {@link #flush}, which the operator calls from
 * {@code snapshotState} just before the keyed backend is snapshotted; an entry removed before then is only dropped
 * from memory. Reads look in memory first; queued requests that a flush wrote stay in memory too, so taking one costs the backend's delete but
 * no read. An {@code active} entry that reached the backend (at a checkpoint, or
 * found by a restore) is deleted there when it ends; so is the cursor of a host that goes idle. Queued requests held in memory are bounded
 * ({@link #MAX_BUFFERED_QUEUED}); past that bound new ones are written through. An {@code active} entry is held by
 * reference (as the heap backend does): {@link #flush} writes the download as it is then, which is what the operator
 * would have written on its next {@link #putActive} — every mail that changes a download either writes it or ends it,
 * and chunk progress is only recorded together with its file's group-commit mark (DESIGN.md, "Durability").
 *
 * <p><b>Restore scan.</b> {@link #restore} lists every host that had a cursor and reads its queue length and
 * active downloads, from which the operator rebuilds its in-memory view.
 *
 * <p>Not thread-safe: task thread only.
 */
final class FetchState {
    static final String QUEUE_STATE = "queue";
    static final String CURSOR_STATE = "queue-cursor";
    static final String ACTIVE_STATE = "active";
    /**
     * Queued requests held in memory (not written yet, or written by a flush and not taken yet), over all hosts (a
     * {@code FetchRequest} is a few hundred bytes): a backlog larger than this goes to the backend as it arrives and is
     * read back when taken, as before write-behind.
     */
    static final int MAX_BUFFERED_QUEUED = 20_000;

    private final KeyedStateBackend<?> backend;
    private final MapState<Long, FetchRequest> queue;
    private final ValueState<QueueCursor> cursor;
    private final MapState<Long, Download> active;
    final ValueState<HostState> hostState;
    final ValueState<HostHealth> hostHealth;
    /**
     * Cursors of the hosts with work; those in {@link #dirty} are newer than the state. Every cursor the backend holds
     * is here (a restore loads them all), so a host not here starts from an empty queue without a read.
     */
    private final Map<String, QueueCursor> cursors = new HashMap<>();
    private final Set<String> dirty = new LinkedHashSet<>();
    /** Hosts whose cursor the backend holds (written at a checkpoint or found by a restore). */
    private final Set<String> cursorInBackend = new HashSet<>();
    /** What each host wrote since the last checkpoint, and which of its active entries the backend holds. */
    private final Map<String, HostBuffer> buffers = new HashMap<>();
    private final int maxBufferedQueued;
    /** Queued requests held in memory, written or not (bounded by {@link #maxBufferedQueued}). */
    private int bufferedQueued;

    /**
     * One host's write-behind: requests queued and downloads written since the last checkpoint (not yet in the
     * backend), and the sequence numbers of its active downloads that the backend holds (from a checkpoint or a
     * restore), which must be deleted there when they end.
     */
    private static final class HostBuffer {
        final Map<Long, FetchRequest> queued = new HashMap<>();
        /** Queued requests the last flush wrote, kept so that taking them needs no read (only the delete). */
        final Map<Long, FetchRequest> queuedInBackend = new HashMap<>();
        final Map<Long, Download> active = new HashMap<>();
        final Set<Long> activeInBackend = new HashSet<>();

        boolean isEmpty() {
            return queued.isEmpty() && queuedInBackend.isEmpty() && active.isEmpty() && activeInBackend.isEmpty();
        }
    }

    FetchState(KeyedStateBackend<?> backend, Duration hostStateTtl) throws Exception {
        this(backend, hostStateTtl, MAX_BUFFERED_QUEUED);
    }

    FetchState(KeyedStateBackend<?> backend, Duration hostStateTtl, int maxBufferedQueued) throws Exception {
        this.backend = backend;
        this.maxBufferedQueued = maxBufferedQueued;
        queue = handle(new MapStateDescriptor<>(QUEUE_STATE, Types.LONG, TypeInformation.of(FetchRequest.class)));
        cursor = handle(new ValueStateDescriptor<>(CURSOR_STATE, TypeInformation.of(QueueCursor.class)));
        active = handle(new MapStateDescriptor<>(ACTIVE_STATE, Types.LONG, TypeInformation.of(Download.class)));
        hostState = handle(HostPoliteness.stateDescriptor(hostStateTtl));
        hostHealth = handle(HostPoliteness.healthDescriptor(hostStateTtl)); // new in issue 13: additive
    }

    private <S extends State> S handle(StateDescriptor<S, ?> descriptor) throws Exception {
        return backend.getPartitionedState(VoidNamespace.INSTANCE, VoidNamespaceSerializer.INSTANCE, descriptor);
    }

    /** Appends a request to the current host's queue; returns its sequence number. */
    long enqueue(String host, FetchRequest req) throws Exception {
        QueueCursor c = cursorOf(host);
        long seq = c.tail;
        if (bufferedQueued < maxBufferedQueued) {
            buffer(host).queued.put(seq, req);
            bufferedQueued++;
        } else {
            queue.put(seq, req);
        }
        c.tail++;
        dirty.add(host);
        return seq;
    }

    /**
     * Takes a request out of the middle of the current host's queue (its deadline passed while it waited); null
     * when it is no longer queued. The cursor keeps counting it: {@link #dequeue} later finds its entry missing.
     */
    FetchRequest takeQueued(long seq) throws Exception {
        return take(currentHost(), seq);
    }

    /** The head of a host's queue: its sequence number and the request (null if its entry was missing). */
    record Dequeued(long seq, FetchRequest request) {}

    /** Removes and returns the head of the current host's queue. */
    Dequeued dequeue(String host) throws Exception {
        QueueCursor c = cursorOf(host);
        long seq = c.head;
        FetchRequest req = take(host, seq);
        c.head++;
        dirty.add(host);
        return new Dequeued(seq, req);
    }

    /** Removes queue entry {@code seq} of the current host {@code host}, from memory or else from the backend. */
    private FetchRequest take(String host, long seq) throws Exception {
        HostBuffer b = buffers.get(host);
        if (b != null) {
            FetchRequest req = b.queued.isEmpty() ? null : b.queued.remove(seq);
            boolean inBackend = false;
            if (req == null && !b.queuedInBackend.isEmpty()) {
                req = b.queuedInBackend.remove(seq);
                inBackend = req != null;
            }
            if (req != null) {
                if (inBackend) {
                    queue.remove(seq);
                }
                bufferedQueued--;
                dropIfEmpty(host, b);
                return req;
            }
        }
        FetchRequest req = queue.get(seq);
        if (req != null) {
            queue.remove(seq);
        }
        return req;
    }

    /** Records (or updates) an active download of the current host; it reaches the backend at the next checkpoint. */
    void putActive(long seq, Download d) {
        buffer(currentHost()).active.put(seq, d);
    }

    /** An active download of the current host ended: dropped from memory, and from the backend if it is there. */
    void removeActive(long seq) throws Exception {
        String host = currentHost();
        HostBuffer b = buffers.get(host);
        if (b == null) {
            active.remove(seq); // not written since the host's buffer went: only the backend can hold it
            return;
        }
        b.active.remove(seq);
        if (b.activeInBackend.remove(seq)) {
            active.remove(seq);
        }
        dropIfEmpty(host, b);
    }

    /** The current host has no work left: drops its cursor (queue and active are already empty). */
    void forgetHost(String host) {
        if (cursorInBackend.remove(host)) {
            cursor.clear();
        }
        cursors.remove(host);
        dirty.remove(host);
        HostBuffer b = buffers.remove(host);
        if (b != null) {
            bufferedQueued -= b.queued.size() + b.queuedInBackend.size();
        }
    }

    /**
     * Writes everything held in memory since the last checkpoint — cursors that changed, queued requests, active
     * downloads — to the backend; {@code setKey} makes a host the current key. Called just before the keyed backend
     * is snapshotted, so the snapshot holds all of it.
     */
    void flush(Consumer<String> setKey) throws Exception {
        for (String host : dirty) {
            setKey.accept(host);
            cursor.update(cursors.get(host));
        }
        cursorInBackend.addAll(dirty);
        dirty.clear();
        for (Iterator<Map.Entry<String, HostBuffer>> it = buffers.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<String, HostBuffer> e = it.next();
            HostBuffer b = e.getValue();
            if (b.queued.isEmpty() && b.active.isEmpty()) {
                continue;
            }
            setKey.accept(e.getKey());
            if (!b.queued.isEmpty()) {
                queue.putAll(b.queued);
                b.queuedInBackend.putAll(b.queued); // still counted in bufferedQueued until taken
                b.queued.clear();
            }
            if (!b.active.isEmpty()) {
                active.putAll(b.active);
                b.activeInBackend.addAll(b.active.keySet());
                b.active.clear();
            }
        }
    }

    private QueueCursor cursorOf(String host) {
        QueueCursor c = cursors.get(host);
        if (c == null) {
            c = new QueueCursor(0, 0); // the backend has no cursor for a host that is not in the map
            cursors.put(host, c);
        }
        return c;
    }

    private HostBuffer buffer(String host) {
        HostBuffer b = buffers.get(host);
        if (b == null) {
            b = new HostBuffer();
            buffers.put(host, b);
        }
        return b;
    }

    private void dropIfEmpty(String host, HostBuffer b) {
        if (b.isEmpty()) {
            buffers.remove(host);
        }
    }

    private String currentHost() {
        return (String) backend.getCurrentKey();
    }

    /** One host's durable work found by {@link #restore}. */
    record RestoredHost(String host, long queued, List<Map.Entry<Long, Download>> active) {}

    /** Scans the state of a restored operator: every host with a cursor, its queue length and active downloads. */
    List<RestoredHost> restore(Consumer<String> setKey) throws Exception {
        Set<String> keys = new HashSet<>();
        try (Stream<?> k = backend.getKeys(CURSOR_STATE, VoidNamespace.INSTANCE)) {
            k.forEach(key -> keys.add(key.toString()));
        }
        List<RestoredHost> out = new ArrayList<>();
        for (String host : keys) {
            setKey.accept(host);
            QueueCursor c = cursor.value();
            long queued = 0;
            if (c != null) {
                cursors.put(host, c);
                cursorInBackend.add(host);
                queued = c.size();
            }
            List<Map.Entry<Long, Download>> downloads = new ArrayList<>();
            for (Map.Entry<Long, Download> e : active.entries()) {
                downloads.add(Map.entry(e.getKey(), e.getValue()));
            }
            if (!downloads.isEmpty()) {
                HostBuffer b = buffer(host);
                downloads.forEach(d -> b.activeInBackend.add(d.getKey()));
            }
            out.add(new RestoredHost(host, queued, downloads));
        }
        return out;
    }

    /** Hosts with a queue cursor or write-behind entries in memory (zero once every host with work was forgotten). */
    int cachedHosts() {
        Set<String> hosts = new HashSet<>(cursors.keySet());
        hosts.addAll(buffers.keySet());
        return hosts.size();
    }

    /** Queued requests held in memory, written by a flush or not (tests). */
    int bufferedQueued() {
        return bufferedQueued;
    }

    /**
     * Hosts that have any entry in the queue, cursor or active state, in the backend or still in memory; zero when
     * all work is done (tests).
     */
    long hostsWithState() throws Exception {
        Set<Object> keys = new HashSet<>();
        for (String state : List.of(QUEUE_STATE, CURSOR_STATE, ACTIVE_STATE)) {
            try (Stream<?> k = backend.getKeys(state, VoidNamespace.INSTANCE)) {
                k.forEach(keys::add);
            }
        }
        keys.addAll(buffers.keySet());
        keys.addAll(dirty);
        return keys.size();
    }
}
