package io.flowget.job;

import io.flowget.udf.fetch.HostShards;
import io.flowget.udf.model.FetchRequest;

import org.apache.flink.api.java.functions.KeySelector;

/**
 * The key of the Fetch operator's input: the request's host, or for a host spread by {@code flowget.host.spread} the
 * key of the shard its path falls in ({@link HostShards#keyOf}). Stateless and deterministic: the same request gets
 * the same key in every run, restore and rescale of a deployment whose {@code flowget.host.spread} and {@code
 * pipeline.max-parallelism} stay the same; with the option unset it is exactly the host, the key of every earlier
 * release.
 *
 * <p>Runs on the task thread of the operator before the keyBy (each subtask has its own deserialized copy).
 */
public final class HostKeySelector implements KeySelector<FetchRequest, String> {
    private static final long serialVersionUID = 1L;

    private final HostShards shards;

    public HostKeySelector(HostShards shards) {
        this.shards = shards;
    }

    @Override
    public String getKey(FetchRequest r) {
        return shards.keyOf(r);
    }
}
