package io.flowget.job.run;

import static org.assertj.core.api.Assertions.assertThat;

import io.flowget.job.JobOptions;
import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.fetch.HostShards;

import org.apache.flink.configuration.Configuration;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Which hosts `run` spreads: only those with at least twice the threshold's requests, over at most parallelism. */
class BusyHostsTest {
    private static List<InputStaging.Line> lines(Map<String, Integer> perHost) {
        List<InputStaging.Line> out = new ArrayList<>();
        perHost.forEach((host, n) -> {
            for (int i = 0; i < n; i++) {
                int k = out.size() + 1;
                out.add(i % 2 == 0
                        ? new InputStaging.Line("line-" + k, "http://" + host + "/f" + i)
                        : new InputStaging.Line("line-" + k, "{\"url\":\"http://" + host + ":8080/f" + i + "\"}"));
            }
        });
        out.add(new InputStaging.Line("line-x", "not a url")); // rejected by the parser: counts for no host
        return out;
    }

    @Test
    void hostsWithMuchWorkAreSpreadOverAtMostTheParallelism() {
        var lines = lines(Map.of("big.example", 1000, "medium.example", 250, "two.example", 200, "small.example", 199));
        assertThat(BusyHosts.countByHost(lines)).containsEntry("big.example", 1000).containsEntry("small.example", 199);

        Configuration conf = new Configuration();
        conf.set(JobOptions.RUN_SPREAD_MIN_REQUESTS, 100);
        BusyHosts.spread(conf, lines, 4);
        assertThat(conf.get(FlowgetOptions.HOST_SPREAD)).isEqualTo("big.example=4,medium.example=2,two.example=2");
        HostShards shards = HostShards.from(conf, 128);
        assertThat(shards.shardsOf("big.example")).isEqualTo(4);
        assertThat(shards.shardsOf("small.example")).as("199 requests: one key").isEqualTo(1);
    }

    @Test
    void nothingIsSpreadWhenTheUserSaidHowOrAtParallelismOneOrWhenTurnedOff() {
        var lines = lines(Map.of("big.example", 1000));
        Configuration given = new Configuration();
        given.set(FlowgetOptions.HOST_SPREAD, "other.example=2");
        BusyHosts.spread(given, lines, 2);
        assertThat(given.get(FlowgetOptions.HOST_SPREAD)).isEqualTo("other.example=2");

        Configuration one = new Configuration();
        BusyHosts.spread(one, lines, 1);
        assertThat(one.contains(FlowgetOptions.HOST_SPREAD)).isFalse();

        Configuration off = new Configuration();
        off.set(JobOptions.RUN_SPREAD_MIN_REQUESTS, 0);
        BusyHosts.spread(off, lines, 2);
        assertThat(off.contains(FlowgetOptions.HOST_SPREAD)).isFalse();
    }
}
