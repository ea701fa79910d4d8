package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.fetch.host.HostOverride;
import io.flowget.udf.model.FetchRequest;

import org.apache.flink.annotation.Internal;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.util.MathUtils;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Busy hosts spread over several keys ("shards", {@code flowget.host.spread}): the key of a request is its host, or,
 * for a host spread over S shards, the key of the shard its path falls in. Each key is its own FIFO, its own
 * politeness gate and its own keyed state in the fetch operator, so a spread host's work may run on several Fetch
 * subtasks (task threads) while each shard enforces {@link #share} of the host's limits.
 *
 * <p><b>Keys.</b> A request whose host is not spread, and shard 0 of a spread host, are keyed by the host itself:
 * the keys of every earlier release, so state restored from them (queue, active downloads, {@code host-state},
 * {@code host-health}) lands in shard 0 and continues there. Shard {@code k ≥ 1} is keyed {@code host#k-n}: {@code
 * #} never occurs in a host name, and {@code n} is the smallest number that puts the key into key group
 * {@code (g + k × maxParallelism / S) mod maxParallelism}, where {@code g} is the host's own key group. Key groups
 * are split into contiguous ranges per subtask, so with S no larger than the parallelism the shards run on
 * distinct subtasks (a random key would share a subtask with shard 0 half the time at parallelism 2).
 *
 * <p><b>Which shard.</b> {@code k = murmur(path) mod S}: a function of the request's output path alone, so a
 * request keeps its shard across restores and rescales (its key is what keyed state holds), two requests for the
 * same path share one shard (and one subtask: path reservations stay exact), and a chunked download's chunks stay
 * in the one shard of their request.
 *
 * <p><b>S</b> is the entry of {@code flowget.host.spread} naming the host, else its first matching {@code *.} pattern
 * (as in {@code flowget.host.overrides}), capped by the host's maximum
 * concurrency ({@code flowget.host.overrides}, else {@code flowget.host.max-concurrency}) so every shard has at least
 * one permit; 1 when none matches. The key selector and the operator read it from the same configuration, so
 * both agree; it must stay the same across restores (as {@code pipeline.max-parallelism} must): requests keyed
 * under another S continue in their keys but their shares are counted with the new S.
 *
 * <p>Immutable and serializable (the job's key selector carries it); {@link #keyOf} caches the keys of shards
 * {@code k ≥ 1} (a bounded map, safe for the one thread that runs a key selector instance or an operator).
 */
@Internal
public final class HostShards implements Serializable {
    private static final long serialVersionUID = 1L;
    /** Separates the host from the shard number in a shard key; never part of a host name. */
    public static final char MARK = '#';
    /** Key groups when none is known: Flink's default max parallelism for small parallelisms. */
    public static final int DEFAULT_MAX_PARALLELISM = 128;
    /** Most cached shard keys; the cache is cleared when it is full (a wildcard pattern can match many hosts). */
    private static final int CACHE = 10_000;
    /** Most suffixes tried for a shard key's key group; past it the last one tried is kept (never in practice). */
    private static final int MAX_TRIES = 1 << 16;

    /** Entries naming one host, by host (a run spreads the busy hosts of its input by name: many entries). */
    private final HashMap<String, Integer> exact;
    /** Entries with a {@code *.} pattern, in their order. */
    private final List<HostOverride> patterns;
    private final List<HostOverride> overrides;
    private final int min;
    private final int max;
    private final int maxParallelism;
    private transient Map<String, String> keys;

    private HostShards(List<HostOverride> spread, List<HostOverride> overrides, int min, int max, int maxParallelism) {
        this.exact = new HashMap<>();
        List<HostOverride> wild = new ArrayList<>();
        for (HostOverride e : spread) {
            if (e.pattern().startsWith("*.")) {
                wild.add(e);
            } else {
                exact.putIfAbsent(e.pattern(), e.max());
            }
        }
        this.patterns = List.copyOf(wild);
        this.overrides = overrides;
        this.min = min;
        this.max = max;
        this.maxParallelism = maxParallelism;
    }

    /**
     * The spread of {@code conf}'s {@code flowget.host.spread}, whose shard keys are placed among {@code
     * maxParallelism} key groups ({@code pipeline.max-parallelism}; {@value #DEFAULT_MAX_PARALLELISM} when not
     * positive).
     *
     * @throws IllegalArgumentException naming the first entry that is not {@code pattern=S} with S ≥ 1
     */
    public static HostShards from(ReadableConfig conf, int maxParallelism) {
        return new HostShards(
                HostOverride.parseList(
                        conf.getOptional(FlowgetOptions.HOST_SPREAD).orElse(""), FlowgetOptions.HOST_SPREAD.key()),
                HostOverride.parseList(conf.getOptional(FlowgetOptions.HOST_OVERRIDES).orElse("")),
                conf.get(FlowgetOptions.HOST_MIN_CONCURRENCY),
                conf.get(FlowgetOptions.HOST_MAX_CONCURRENCY),
                maxParallelism > 0 ? maxParallelism : DEFAULT_MAX_PARALLELISM);
    }

    /** {@link #from(ReadableConfig, int)} for the operator, which only reads keys (no placement needed). */
    public static HostShards from(ReadableConfig conf) {
        return from(conf, DEFAULT_MAX_PARALLELISM);
    }

    /** True when no host is spread: every key is a host. */
    public boolean none() {
        return exact.isEmpty() && patterns.isEmpty();
    }

    /** How many shards {@code host} (a host, not a shard key) is spread over; 1 when it is not. */
    public int shardsOf(String host) {
        Integer s = exact.get(host);
        if (s == null) {
            HostOverride e = patterns.isEmpty() ? null : HostOverride.first(patterns, host);
            if (e == null) {
                return 1;
            }
            s = e.max();
        }
        return Math.max(1, Math.min(s, HostOverride.maxFor(overrides, host, min, max)));
    }

    /** The key of {@code r}: its host, or the key of its shard when its host is spread. */
    public String keyOf(FetchRequest r) {
        String host = r.host;
        if (host == null || none()) {
            return host;
        }
        int s = shardsOf(host);
        if (s <= 1) {
            return host;
        }
        String path = r.path != null ? r.path : r.url;
        int k = path == null ? 0 : Math.floorMod(MathUtils.murmurHash(path.hashCode()), s);
        return keyOf(host, k, s);
    }

    /** The key of shard {@code k} of {@code host} spread over {@code s} shards (see the class comment). */
    String keyOf(String host, int k, int s) {
        if (k == 0) {
            return host;
        }
        if (keys == null) {
            keys = new HashMap<>();
        }
        String cacheKey = host + MARK + k + '/' + s;
        String key = keys.get(cacheKey);
        if (key == null) {
            key = place(host, k, s);
            if (keys.size() >= CACHE) {
                keys.clear();
            }
            keys.put(cacheKey, key);
        }
        return key;
    }

    private String place(String host, int k, int s) {
        int own = KeyGroupRangeAssignment.assignToKeyGroup(host, maxParallelism);
        int target = (int) ((own + (long) k * maxParallelism / s) % maxParallelism);
        String prefix = host + MARK + k + '-';
        String key = prefix + 0;
        for (int n = 0; n < MAX_TRIES; n++) {
            key = prefix + n;
            if (KeyGroupRangeAssignment.assignToKeyGroup(key, maxParallelism) == target) {
                break;
            }
        }
        return key;
    }

    /** The host of a key ({@link #keyOf}): the key itself unless it is a shard key {@code host#k-n}. */
    public static String hostOf(String key) {
        int mark = key.indexOf(MARK);
        return mark < 0 ? key : key.substring(0, mark);
    }

    /** The shard number of a key: 0 for a host's own key. */
    public static int shardOf(String key) {
        int mark = key.indexOf(MARK);
        if (mark < 0) {
            return 0;
        }
        int dash = key.indexOf('-', mark);
        try {
            return Integer.parseInt(key.substring(mark + 1, dash < 0 ? key.length() : dash));
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    /**
     * Shard {@code k}'s share of a host's {@code total} among {@code s} shards: {@code total / s}, plus one for the
     * first {@code total mod s} shards, so the shares add up to {@code total} exactly; at least 1 when {@code total}
     * is (S is capped so that it is). A shard number at or past {@code s} (keyed under an earlier, larger S) gets
     * the share of the last shard.
     */
    public static int share(int total, int k, int s) {
        if (s <= 1) {
            return total;
        }
        int shard = Math.min(k, s - 1);
        return Math.max(total > 0 ? 1 : 0, total / s + (shard < total % s ? 1 : 0));
    }
}
