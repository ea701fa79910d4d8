package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.http.FetchOutcome;
import io.flowget.udf.model.FetchRequest;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.util.InstantiationUtil;
import org.apache.flink.util.clock.ManualClock;

import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * {@link HostShards} (which key a request of a spread host gets) and the shares {@link HostPoliteness} gives each
 * shard: keys of hosts that are not spread and of shard 0 are the host itself, a request keeps its key in every
 * instance, shards are placed on distinct subtasks, and the shards' limits add up to the host's.
 */
class HostShardsTest {
    private static Configuration conf(String spread, int max) {
        Configuration c = new Configuration();
        if (spread != null) {
            c.set(FlowgetOptions.HOST_SPREAD, spread);
        }
        c.set(FlowgetOptions.HOST_MAX_CONCURRENCY, max);
        return c;
    }

    private static FetchRequest request(String host, String path) {
        return new FetchRequest(path, "http://" + host + "/" + path, host, host + "/" + path);
    }

    @Test
    void withoutTheOptionEveryKeyIsTheHostAsInEarlierReleases() {
        HostShards shards = HostShards.from(conf(null, 8), 128);
        assertThat(shards.none()).isTrue();
        for (int i = 0; i < 100; i++) {
            assertThat(shards.keyOf(request("a.example", "f" + i))).isEqualTo("a.example");
        }
        HostShards other = HostShards.from(conf("b.example=2", 8), 128);
        assertThat(other.keyOf(request("a.example", "f1"))).as("a host the option does not name").isEqualTo("a.example");
    }

    @Test
    void aSpreadHostsRequestsFallIntoItsShardsByPathAndShardZeroIsTheHost() throws Exception {
        HostShards shards = HostShards.from(conf("a.example=4", 8), 128);
        Map<String, Integer> perKey = new HashMap<>();
        for (int i = 0; i < 2_000; i++) {
            String key = shards.keyOf(request("a.example", "f" + i));
            perKey.merge(key, 1, Integer::sum);
            assertThat(HostShards.hostOf(key)).isEqualTo("a.example");
        }
        assertThat(perKey).hasSize(4).containsKey("a.example");
        assertThat(perKey.keySet()).extracting(HostShards::shardOf).containsExactlyInAnyOrder(0, 1, 2, 3);
        assertThat(perKey.values()).as("paths spread over the shards: %s", perKey).allSatisfy(n ->
                assertThat(n).isBetween(350, 650));
        // Deterministic: another instance (another JVM, a restore) and a serialized copy give every request its key.
        HostShards again = HostShards.from(conf("a.example=4", 8), 128);
        HostShards copy = InstantiationUtil.clone(shards);
        for (int i = 0; i < 200; i++) {
            FetchRequest r = request("a.example", "f" + i);
            assertThat(again.keyOf(r)).isEqualTo(shards.keyOf(r)).isEqualTo(copy.keyOf(r));
            FetchRequest samePath = request("a.example", "f" + i);
            samePath.id = "other-" + i;
            samePath.url = r.url + "?v=2";
            assertThat(shards.keyOf(samePath)).as("a request for the same path shares the shard").isEqualTo(
                    shards.keyOf(r));
        }
        assertThat(HostShards.shardOf("a.example")).isZero();
        assertThat(HostShards.hostOf("a.example")).isEqualTo("a.example");
    }

    @Test
    void shardsAreOnDistinctSubtasksWhenTheyAreNoMoreThanTheParallelism() {
        for (int maxParallelism : new int[] {128, 256}) {
            for (int s = 2; s <= 4; s++) {
                for (int i = 0; i < 50; i++) {
                    String host = "h" + i + ".example";
                    HostShards shards = HostShards.from(conf(host + "=" + s, 64), maxParallelism);
                    Set<Integer> subtasks = new HashSet<>();
                    for (int k = 0; k < s; k++) {
                        String key = shards.keyOf(host, k, s);
                        assertThat(HostShards.shardOf(key)).isEqualTo(k);
                        subtasks.add(KeyGroupRangeAssignment.assignKeyToParallelOperator(key, maxParallelism, s));
                    }
                    assertThat(subtasks).as("%s over %d shards, %d key groups", host, s, maxParallelism).hasSize(s);
                }
            }
        }
    }

    @Test
    void shardsAreCappedByTheHostsLimitAndExactNamesWinOverPatterns() {
        Configuration c = conf("*.example=16,small.example=3,a.example=2", 8);
        c.set(FlowgetOptions.HOST_OVERRIDES, "small.example=2");
        HostShards shards = HostShards.from(c, 128);
        assertThat(shards.shardsOf("x.example")).as("the pattern, capped by max-concurrency").isEqualTo(8);
        assertThat(shards.shardsOf("a.example")).as("the exact entry").isEqualTo(2);
        assertThat(shards.shardsOf("small.example")).as("capped by the host's override").isEqualTo(2);
        assertThat(shards.shardsOf("other.org")).isEqualTo(1);
        assertThatThrownBy(() -> HostShards.from(conf("a.example=0", 8), 128))
                .hasMessageContaining(FlowgetOptions.HOST_SPREAD.key());
    }

    @Test
    void sharesAddUpToTheWhole() {
        for (int total = 1; total <= 70; total++) {
            for (int s = 1; s <= total; s++) {
                int sum = 0;
                for (int k = 0; k < s; k++) {
                    int share = HostShards.share(total, k, s);
                    assertThat(share).as("share %d of %d over %d", k, total, s).isBetween(total / s, total / s + 1);
                    sum += share;
                }
                assertThat(sum).as("%d over %d", total, s).isEqualTo(total);
            }
        }
    }

    /** Each shard's gate: its share of the concurrency (below min-concurrency if need be) and of the rates. */
    @Test
    void eachShardEnforcesItsShareOfTheHostsLimits() {
        Configuration c = conf("a.example=3", 8);
        c.set(FlowgetOptions.HOST_MIN_CONCURRENCY, 4);
        c.set(FlowgetOptions.HOST_INITIAL_CONCURRENCY, 8);
        c.set(FlowgetOptions.HOST_SLOW_START, false);
        c.set(FlowgetOptions.HOST_MAX_REQUESTS_PER_SECOND, 30.0);
        HostShards shards = HostShards.from(c, 128);
        HostPoliteness p = new HostPoliteness(HostPoliteness.Settings.from(c), RetryPolicy.from(c),
                HostPolitenessFacadeTest.store(new HashMap<>()), new ManualClock());
        int total = 0;
        for (int k = 0; k < 3; k++) {
            String key = shards.keyOf("a.example", k, 3);
            assertThat(p.maxFor(key)).isEqualTo(k < 2 ? 3 : 2);
            total += p.maxFor(key);
            // prove the shard (one answer), then count how many it lets go at once
            p.onIssued(key, 0);
            p.onOutcome(key, ok(), null, 1, 1, 1_000_000, 500_000, 0);
            int n = 0;
            while (p.mayIssue(key, n, 0) && n < 100) {
                n++;
            }
            assertThat(n).as("concurrency of shard %d, under min-concurrency 4", k).isEqualTo(p.maxFor(key));
        }
        assertThat(total).isEqualTo(8);
        assertThat(p.maxFor("b.example")).as("a host that is not spread").isEqualTo(8);
        // Rates: 30 requests per second for the host is 10 per shard; the bucket holds one second's worth.
        String shard1 = shards.keyOf("a.example", 1, 3);
        int sent = 0;
        while (p.mayIssue(shard1, 0, 1_000) && sent < 100) {
            p.onIssued(shard1, 1_000);
            sent++;
        }
        assertThat(sent).as("requests shard 1 may send in one burst").isBetween(9, 10);
    }

    private static FetchOutcome ok() {
        FetchOutcome o = new FetchOutcome();
        o.status = 200;
        return o;
    }
}
