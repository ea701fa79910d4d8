package io.flowget.udf.fetch.host;

import org.apache.flink.annotation.Internal;

import javax.annotation.concurrent.NotThreadSafe;

import java.util.HashMap;
import java.util.Map;

/**
 * A {@link HostStore} in a map: for politeness used without keyed state (tests, benchmarks), where nothing has
 * to survive a restart. Unbounded: one entry per host written.
 *
 * <p>Not thread-safe: task thread only.
 */
@Internal
@NotThreadSafe
public final class MapHostStore<T> implements HostStore<T> {
    private final Map<String, T> values = new HashMap<>();

    @Override
    public T read(String host) {
        return values.get(host);
    }

    @Override
    public void write(String host, T value) {
        values.put(host, value);
    }
}
