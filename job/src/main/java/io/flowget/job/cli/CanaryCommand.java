package io.flowget.job.cli;

import io.flowget.job.JobOptions;
import io.flowget.job.diff.Canary;
import io.flowget.job.diff.DiffOptions;
import io.flowget.job.kafka.KafkaProperties;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.util.TimeUtils;

import com.fasterxml.jackson.databind.JsonNode;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code flowget canary}: the release gate over the diff job's summaries ({@link Canary}).
 *
 * <pre>
 * flowget canary --bootstrap-servers HOST:PORT [--summary-topic T] [--since TIME] [--window DURATION]
 *                [--max-diff-rate R] [--max-unmatched R] [--max-latency-ratio X] [--min-compared N]
 *                [--latency-floor-ms MS]
 * </pre>
 *
 * {@code --since} is an instant (RFC 3339, {@code 2026-11-28T10:00:00Z}) or a duration ago ({@code PT30M},
 * {@code 30 min}); {@code --window} bounds the range to that long after {@code --since}, or, alone, means the
 * last {@code --window} before now. Prints the verdict as one JSON line on stdout and one line for people on
 * stderr. Exit status: 0 PASS, 1 FAIL, 64 usage error, 70 internal error (e.g. the summary topic is missing).
 */
@Command(
        name = "canary",
        mixinStandardHelpOptions = true,
        description = "Judge a candidate from the diff summaries: exit 0 PASS, 1 FAIL (verdict as JSON on stdout).")
final class CanaryCommand implements Callable<Integer> {
    @Option(names = "--bootstrap-servers", paramLabel = "HOST:PORT", description = "Kafka (or set flowget.kafka.bootstrap-servers).")
    String bootstrapServers;

    @Option(names = "--summary-topic", paramLabel = "TOPIC", description = "The diff job's summary topic (default flowget.diff-summary).")
    String summaryTopic;

    @Option(names = "--since", paramLabel = "TIME", description = "Start of the range: RFC 3339 instant or a duration ago (PT30M).")
    String since;

    @Option(names = "--window", paramLabel = "DURATION", description = "Length of the range (after --since, or up to now).")
    String window;

    @Option(names = "--max-diff-rate", paramLabel = "R", defaultValue = "0.001", description = "Most differing/compared (default: ${DEFAULT-VALUE}).")
    double maxDiffRate;

    @Option(names = "--max-unmatched", paramLabel = "R", defaultValue = "0.01", description = "Most unmatched results / all results (default: ${DEFAULT-VALUE}).")
    double maxUnmatched;

    @Option(names = "--max-latency-ratio", paramLabel = "X", defaultValue = "1.5", description = "Most p99 candidate / p99 production (default: ${DEFAULT-VALUE}).")
    double maxLatencyRatio;

    @Option(names = "--min-compared", paramLabel = "N", defaultValue = "1", description = "Fewest compared requests for a verdict (default: ${DEFAULT-VALUE}).")
    long minCompared;

    @Option(names = "--latency-floor-ms", paramLabel = "MS", defaultValue = "50", description = "p99s below this count as this (default: ${DEFAULT-VALUE}).")
    long latencyFloorMs;

    @Option(names = "--timeout", paramLabel = "DURATION", defaultValue = "PT1M", description = "Give up reading the topic after this (default: ${DEFAULT-VALUE}).")
    Duration timeout;

    @CommandLine.Mixin FlowgetCli.ConfigOptionsMixin config;

    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        Configuration conf = Settings.load(config.confDir(), config.sets, true);
        String servers = bootstrapServers != null ? bootstrapServers : conf.get(JobOptions.KAFKA_BOOTSTRAP_SERVERS);
        if (servers == null) {
            throw new UsageException("--bootstrap-servers (or flowget.kafka.bootstrap-servers) is required");
        }
        for (double r : new double[] {maxDiffRate, maxUnmatched}) {
            if (!(r >= 0 && r <= 1)) {
                throw new UsageException("--max-diff-rate and --max-unmatched are fractions in [0, 1]");
            }
        }
        if (!(maxLatencyRatio > 0) || minCompared < 0 || latencyFloorMs < 0) {
            throw new UsageException("--max-latency-ratio must be positive, --min-compared and --latency-floor-ms not negative");
        }
        Instant now = Instant.now();
        Instant from = since == null ? null : parseTime(since, now);
        Instant until = null;
        if (window != null) {
            Duration w = parseDuration(window, "--window");
            if (from == null) {
                from = now.minus(w);
                until = now;
            } else {
                until = from.plus(w);
            }
        }
        String topic = summaryTopic != null ? summaryTopic : conf.get(DiffOptions.SUMMARY_TOPIC);
        List<JsonNode> summaries = Canary.readSummaries(servers, KafkaProperties.of(conf), topic, timeout);
        Canary.Verdict verdict =
                Canary.judge(
                        Canary.aggregate(summaries, from, until),
                        new Canary.Thresholds(maxDiffRate, maxUnmatched, maxLatencyRatio, minCompared, latencyFloorMs));
        // The command line's writers (System.out/err from main; the caller's streams in FlowgetCli.execute).
        PrintWriter out = spec.commandLine().getOut();
        out.println(verdict.toJson());
        out.flush();
        PrintWriter err = spec.commandLine().getErr();
        err.println("flowget canary: " + verdict.summaryLine());
        err.flush();
        return verdict.exitStatus();
    }

    static Instant parseTime(String s, Instant now) {
        try {
            return Instant.parse(s);
        } catch (DateTimeParseException notAnInstant) {
            return now.minus(parseDuration(s, "--since"));
        }
    }

    static Duration parseDuration(String s, String flag) {
        try {
            return Duration.parse(s);
        } catch (DateTimeParseException notIso) {
            try {
                return TimeUtils.parseDuration(s);
            } catch (IllegalArgumentException e) {
                throw new UsageException(flag + ": not an instant or duration: " + s);
            }
        }
    }
}
