package io.flowget.job.run;

import io.flowget.job.JobOptions;
import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.parse.ParseOutcome;
import io.flowget.udf.parse.RequestParser;

import org.apache.flink.configuration.Configuration;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Which hosts of a {@code flowget run} are busy enough to be spread over several Fetch subtasks: {@code run} knows its
 * whole input before the job starts, so it counts the requests per host (with the job's own parser) and names every
 * host with at least twice {@code flowget.run.spread-min-requests} of them in {@code flowget.host.spread}, over
 * {@code min(parallelism, requests / min-requests)} shards (the operator caps that by the host's concurrency). A
 * host with few requests stays one key: each shard warms up and learns its limit on its own, so a shard with little
 * work would only hold a share of the host's limit idle.
 *
 * <p>Deterministic: a resumed run reads the same staged input, so it spreads the same hosts the same way and its
 * restored requests keep their keys. Nothing is set when the option is given (the user's spread wins), when the
 * threshold is 0, or at parallelism 1. Called once, on the thread that starts the run.
 */
final class BusyHosts {
    private static final Logger LOG = LoggerFactory.getLogger(BusyHosts.class);
    private static final RequestParser PARSER = new RequestParser(); // stateless

    private BusyHosts() {}

    /** Sets {@code flowget.host.spread} in {@code conf} for the busy hosts of {@code lines}, as the class says. */
    static void spread(Configuration conf, List<InputStaging.Line> lines, int parallelism) {
        int minRequests = conf.get(JobOptions.RUN_SPREAD_MIN_REQUESTS);
        if (conf.contains(FlowgetOptions.HOST_SPREAD) || minRequests <= 0 || parallelism < 2) {
            return;
        }
        String spread = spec(countByHost(lines), minRequests, parallelism);
        if (!spread.isEmpty()) {
            conf.set(FlowgetOptions.HOST_SPREAD, spread);
            LOG.info("Busy hosts spread over several keys: {}", spread.length() > 500
                    ? spread.substring(0, 500) + "..." : spread);
        }
    }

    /** Requests per host among the lines the parser accepts (rejected lines never reach the Fetch operator). */
    static Map<String, Integer> countByHost(List<InputStaging.Line> lines) {
        Map<String, Integer> counts = new HashMap<>();
        for (InputStaging.Line l : lines) {
            ParseOutcome parsed = PARSER.parse(l.key(), l.value());
            FetchRequest r = parsed.isOk() ? parsed.request() : null;
            if (r != null && r.host != null) {
                counts.merge(r.host, 1, Integer::sum);
            }
        }
        return counts;
    }

    /** {@code host=S,...} for the hosts with S ≥ 2, in host order; empty when there is none. */
    static String spec(Map<String, Integer> counts, int minRequests, int parallelism) {
        StringBuilder out = new StringBuilder();
        for (Map.Entry<String, Integer> e : new TreeMap<>(counts).entrySet()) {
            int shards = Math.min(parallelism, e.getValue() / minRequests);
            if (shards >= 2) {
                out.append(out.length() == 0 ? "" : ",").append(e.getKey()).append('=').append(shards);
            }
        }
        return out.toString();
    }
}
