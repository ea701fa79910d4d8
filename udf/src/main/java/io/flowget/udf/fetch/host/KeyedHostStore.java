package io.flowget.udf.fetch.host;

import org.apache.flink.annotation.Internal;
import org.apache.flink.api.common.state.StateTtlConfig;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.streaming.api.operators.KeyContext;
import org.apache.flink.util.function.SupplierWithException;

import javax.annotation.concurrent.NotThreadSafe;

import java.time.Duration;

/**
 * A {@link HostStore} over one of the fetch operator's keyed value states: each access switches the operator's
 * current key to the host, reads or writes the value, and restores the caller's key (also on failure, which is
 * rethrown as {@link IllegalStateException}).
 *
 * <p>Not thread-safe: created and used by the operator on its task thread, the only thread that may set its
 * current key.
 */
@Internal
@NotThreadSafe
public class KeyedHostStore<T> implements HostStore<T> {
    private final ValueState<T> state;
    private final KeyContext keys;

    /**
     * The descriptor of a keyed politeness state: a POJO of {@code type} whose TTL ({@code ttl}, refreshed on read
     * and write, cleaned up by RocksDB compaction) bounds the state of hosts seen once.
     */
    public static <T> ValueStateDescriptor<T> descriptor(String name, Class<T> type, Duration ttl) {
        ValueStateDescriptor<T> d = new ValueStateDescriptor<>(name, TypeInformation.of(type));
        d.enableTimeToLive(
                StateTtlConfig.newBuilder(ttl)
                        .updateTtlOnReadAndWrite()
                        .neverReturnExpired()
                        .cleanupInRocksdbCompactFilter(1000)
                        .build());
        return d;
    }

    public KeyedHostStore(ValueState<T> state, KeyContext keys) {
        this.state = state;
        this.keys = keys;
    }

    @Override
    public T read(String host) {
        return atKey(host, "read", state::value);
    }

    @Override
    public void write(String host, T value) {
        atKey(host, "write", () -> {
            state.update(value);
            return null;
        });
    }

    /** Runs {@code access} with {@code host} as the current key, then restores the caller's key. */
    private <R> R atKey(String host, String what, SupplierWithException<R, Exception> access) {
        Object previous = keys.getCurrentKey();
        try {
            keys.setCurrentKey(host);
            return access.get();
        } catch (Exception e) {
            throw new IllegalStateException("cannot " + what + " host state of " + host, e);
        } finally {
            if (previous != null) {
                keys.setCurrentKey(previous);
            }
        }
    }
}
