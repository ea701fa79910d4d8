package io.flowget.udf.testing;

import org.apache.flink.api.common.typeutils.base.StringSerializer;
import org.apache.flink.core.fs.CloseableRegistry;
import org.apache.flink.metrics.groups.UnregisteredMetricsGroup;
import org.apache.flink.runtime.operators.testutils.MockEnvironment;
import org.apache.flink.runtime.state.AbstractKeyedStateBackend;
import org.apache.flink.runtime.state.KeyGroupRange;
import org.apache.flink.runtime.state.KeyedStateBackendParametersImpl;
import org.apache.flink.runtime.state.StateBackend;
import org.apache.flink.runtime.state.ttl.TtlTimeProvider;

import java.util.List;

/**
 * A keyed state backend with the fetch operator's key type (the host, a {@code String}) created outside a job, on a
 * {@link MockEnvironment}: 128 key groups, all owned. Used by the state unit tests and the JMH state benchmarks
 * (which depend on this test-jar). The caller disposes the backend and closes the environment.
 */
public final class KeyedBackends {
    private KeyedBackends() {}

    /** A new, empty keyed backend of {@code backend} (RocksDB or the heap backend) in {@code env}. */
    @SuppressWarnings("unchecked")
    public static AbstractKeyedStateBackend<String> create(StateBackend backend, MockEnvironment env)
            throws Exception {
        return (AbstractKeyedStateBackend<String>)
                backend.createKeyedStateBackend(
                        new KeyedStateBackendParametersImpl<>(
                                env,
                                env.getJobID(),
                                "fetch",
                                StringSerializer.INSTANCE,
                                128,
                                new KeyGroupRange(0, 127),
                                env.getTaskKvStateRegistry(),
                                TtlTimeProvider.DEFAULT,
                                new UnregisteredMetricsGroup(),
                                List.of(),
                                new CloseableRegistry()));
    }
}
