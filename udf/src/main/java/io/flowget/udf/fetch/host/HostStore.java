package io.flowget.udf.fetch.host;

import org.apache.flink.annotation.Internal;

/**
 * Reads and writes one kind of a host's persistent politeness state ({@code T}); {@code read} returns null for a
 * host with no state (never seen, or expired by its TTL).
 *
 * <p>The operator owns the implementations: only it can reach a host's keyed state (it sets the current key, see
 * {@link KeyedHostStore}); tests use maps. Called from the task thread only.
 */
@Internal
public interface HostStore<T> {
    /** The host's saved value, or null when there is none. */
    T read(String host);

    /** Replaces the host's saved value. */
    void write(String host, T value);
}
