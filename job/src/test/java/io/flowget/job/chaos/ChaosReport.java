package io.flowget.job.chaos;

import io.flowget.udf.config.FlowgetOptions;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MemorySize;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Shared settings of the chaos experiments and their report: every experiment appends one line with its figures
 * to {@code target/chaos-report.md} (relative to the module, i.e. {@code job/target/}) and prints it, so a soak
 * run leaves its numbers behind ({@code chaos/soak.sh} shows the file).
 */
final class ChaosReport {
    static final Path REPORT = Path.of("target", "chaos-report.md");

    private final String experiment;
    private final Map<String, Object> figures = new LinkedHashMap<>();

    ChaosReport(String experiment) {
        this.experiment = experiment;
    }

    ChaosReport put(String key, Object value) {
        figures.put(key, value instanceof Double d ? String.format(Locale.ROOT, "%.2f", d) : value);
        return this;
    }

    ChaosReport verdict(ChaosVerdict v) {
        put("requests", v.requested());
        put("ok", v.ok());
        put("failed", v.failed());
        put("lost", v.lost());
        put("duplicated", v.duplicated());
        put("corrupted", v.corrupted());
        if (!v.failureReasons().isEmpty()) {
            put("failures", v.failureReasons());
        }
        return this;
    }

    ChaosReport proxies(FaultProxy.Stats s) {
        put("connections", s.connections());
        put("resets", s.resets());
        put("loss_stalls", s.lossStalls());
        put("blackholed", s.blackholed());
        put("faults_injected", s.faults());
        return this;
    }

    /** Prints the line and appends it to the report file. */
    void write() throws IOException {
        String line = "- " + Instant.now() + " **" + experiment + "**: "
                + figures.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).collect(Collectors.joining(" "));
        System.out.println("CHAOS " + line);
        Files.createDirectories(REPORT.getParent());
        Files.writeString(REPORT, line + "\n", StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                StandardOpenOption.APPEND);
    }

    static String seconds(long nanos) {
        return String.format(Locale.ROOT, "%.1f", nanos / 1e9);
    }

    /**
     * Fetch settings for experiments: short timeouts and backoff so that faults turn into retries within
     * seconds, a retry budget that absorbs the injected fault rates (10 attempts), 256 KiB chunks.
     */
    static Configuration fetchSettings() {
        Configuration c = new Configuration();
        c.set(FlowgetOptions.HOST_MAX_CONCURRENCY, 4);
        c.set(FlowgetOptions.NET_POSTURE, FlowgetOptions.NetPosture.LOCAL); // origins and fault proxies on loopback
        c.set(FlowgetOptions.HTTP_CONNECT_TIMEOUT, Duration.ofSeconds(2));
        c.set(FlowgetOptions.HTTP_RESPONSE_TIMEOUT, Duration.ofSeconds(2));
        c.set(FlowgetOptions.HTTP_IDLE_TIMEOUT, Duration.ofSeconds(2));
        c.set(FlowgetOptions.RETRY_INITIAL_BACKOFF, Duration.ofMillis(100));
        c.set(FlowgetOptions.RETRY_MAX_BACKOFF, Duration.ofSeconds(2));
        c.set(FlowgetOptions.RETRY_MAX_ATTEMPTS, 10);
        // Small chunks, so that the experiments' larger files (100 KiB - 2 MiB) go in several Range chunks.
        c.set(FlowgetOptions.CHUNK_SIZE, MemorySize.parse("256kb"));
        return c;
    }

    /** The same settings as {@code --set key=value} arguments, for a child {@code flowget run}. */
    static List<String> fetchSettingsArgs() {
        List<String> args = new ArrayList<>();
        fetchSettings().toMap().forEach((k, v) -> {
            args.add("--set");
            args.add(k + "=" + v);
        });
        return args;
    }
}
