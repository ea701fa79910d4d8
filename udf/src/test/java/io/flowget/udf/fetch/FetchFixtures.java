package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.http.Attempt;

import org.apache.flink.configuration.Configuration;

import java.util.function.Consumer;

/** Hand-built inputs for the unit tests of the fetch operator's pure parts: settings and chunk attempts. */
final class FetchFixtures {
    private FetchFixtures() {}

    /** Settings from the defaults plus {@code options}; the output directory is never touched. */
    static FetchSettings settings(Consumer<Configuration> options) {
        Configuration c = new Configuration();
        c.set(FlowgetOptions.STORAGE_OUT_DIR, "/nonexistent/out");
        options.accept(c);
        return FetchSettings.from(c);
    }

    /** A chunk attempt for {@code range} (the plan's own array), as {@link AttemptRequests#newAttempt} makes it. */
    static Attempt chunkAttempt(String host, long seq, long[] range) {
        Attempt a = new Attempt(host, seq, "http://" + host + "/f", 0, 60_000);
        a.range = range;
        a.rangeStart = range[0];
        a.rangeLimit = range[1];
        a.progress = range[0];
        return a;
    }
}
