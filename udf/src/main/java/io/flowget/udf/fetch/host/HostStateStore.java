package io.flowget.udf.fetch.host;

import io.flowget.udf.fetch.HostState;

import org.apache.flink.annotation.Internal;

/**
 * Reads and writes the persistent part of one host's politeness ({@link HostState}: learned limit, overload cap,
 * Retry-After pause); {@code read} returns null for a host with no state.
 *
 * <p>The operator owns the implementation: only it knows how to reach a host's keyed state (it sets the current
 * key, see {@link KeyedHostStateStore}); tests use a map. Called from the task thread only.
 */
@Internal
public interface HostStateStore extends HostStore<HostState> {
    /** The host's saved state, or null when there is none (never seen, or expired by its TTL). */
    @Override
    HostState read(String host);

    /** Replaces the host's saved state. */
    @Override
    void write(String host, HostState state);
}
