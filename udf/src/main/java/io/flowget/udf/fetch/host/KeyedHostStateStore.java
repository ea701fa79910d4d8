package io.flowget.udf.fetch.host;

import io.flowget.udf.fetch.HostState;

import org.apache.flink.annotation.Internal;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.streaming.api.operators.KeyContext;

import javax.annotation.concurrent.NotThreadSafe;

import java.time.Duration;

/**
 * A {@link HostStateStore} over the fetch operator's keyed {@code host-state}: each access switches the operator's
 * current key to the host, reads or writes the value, and restores the caller's key (also on failure, which is
 * rethrown as {@link IllegalStateException}).
 *
 * <p>Not thread-safe: created and used by the operator on its task thread, the only thread that may set its
 * current key.
 */
@Internal
@NotThreadSafe
public final class KeyedHostStateStore extends KeyedHostStore<HostState> implements HostStateStore {
    /**
     * The descriptor of the keyed state: a {@link HostState} POJO whose TTL ({@code ttl}, refreshed on read and
     * write, cleaned up by RocksDB compaction) bounds the state of hosts seen once.
     */
    public static ValueStateDescriptor<HostState> descriptor(String name, Duration ttl) {
        return descriptor(name, HostState.class, ttl);
    }

    public KeyedHostStateStore(ValueState<HostState> state, KeyContext keys) {
        super(state, keys);
    }
}
