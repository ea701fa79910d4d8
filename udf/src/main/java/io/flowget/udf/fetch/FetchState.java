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
 * <p><b>Cursor write-behind.</b> A host's cursor changes twice per request but only its value at a checkpoint
 * matters, so it is cached per host and written in {@link #flushCursors}, which the operator calls from
 * {@code snapshotState} just before the keyed backend is snapshotted.
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

    private final KeyedStateBackend<?> backend;
    private final MapState<Long, FetchRequest> queue;
    private final ValueState<QueueCursor> cursor;
    private final MapState<Long, Download> active;
    final ValueState<HostState> hostState;
    final ValueState<HostHealth> hostHealth;
    /** Cached cursors by host (loaded on first use); those in {@link #dirty} are newer than the state. */
    private final Map<String, QueueCursor> cursors = new HashMap<>();
    private final Set<String> dirty = new LinkedHashSet<>();

    FetchState(KeyedStateBackend<?> backend, Duration hostStateTtl) throws Exception {
        this.backend = backend;
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
        queue.put(seq, req);
        c.tail++;
        dirty.add(host);
        return seq;
    }

    /**
     * Takes a request out of the middle of the current host's queue (its deadline passed while it waited); null
     * when it is no longer queued. The cursor keeps counting it: {@link #dequeue} later finds its entry missing.
     */
    FetchRequest takeQueued(long seq) throws Exception {
        FetchRequest req = queue.get(seq);
        if (req != null) {
            queue.remove(seq);
        }
        return req;
    }

    /** The head of a host's queue: its sequence number and the request (null if its entry was missing). */
    record Dequeued(long seq, FetchRequest request) {}

    /** Removes and returns the head of the current host's queue. */
    Dequeued dequeue(String host) throws Exception {
        QueueCursor c = cursorOf(host);
        long seq = c.head;
        FetchRequest req = queue.get(seq);
        queue.remove(seq);
        c.head++;
        dirty.add(host);
        return new Dequeued(seq, req);
    }

    /** Records (or updates) an active download of the current host. */
    void putActive(long seq, Download d) throws Exception {
        active.put(seq, d);
    }

    void removeActive(long seq) throws Exception {
        active.remove(seq);
    }

    /** The current host has no work left: drops its cursor (queue and active are already empty). */
    void forgetHost(String host) {
        cursor.clear();
        cursors.remove(host);
        dirty.remove(host);
    }

    /** Writes the cached cursors that changed; {@code setKey} makes a host the current key. */
    void flushCursors(Consumer<String> setKey) throws Exception {
        for (String host : dirty) {
            setKey.accept(host);
            cursor.update(cursors.get(host));
        }
        dirty.clear();
    }

    private QueueCursor cursorOf(String host) throws Exception {
        QueueCursor c = cursors.get(host);
        if (c == null) {
            c = cursor.value();
            if (c == null) {
                c = new QueueCursor(0, 0);
            }
            cursors.put(host, c);
        }
        return c;
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
                queued = c.size();
            }
            List<Map.Entry<Long, Download>> downloads = new ArrayList<>();
            for (Map.Entry<Long, Download> e : active.entries()) {
                downloads.add(Map.entry(e.getKey(), e.getValue()));
            }
            out.add(new RestoredHost(host, queued, downloads));
        }
        return out;
    }

    /** Hosts whose queue cursor is cached in memory (zero once every host with work was forgotten). */
    int cachedCursors() {
        return cursors.size();
    }

    /** Hosts that have any entry in the queue, cursor or active state; zero when all work is done (tests). */
    long hostsWithState() throws Exception {
        Set<Object> keys = new HashSet<>();
        for (String state : List.of(QUEUE_STATE, CURSOR_STATE, ACTIVE_STATE)) {
            try (Stream<?> k = backend.getKeys(state, VoidNamespace.INSTANCE)) {
                k.forEach(keys::add);
            }
        }
        return keys.size();
    }
}
