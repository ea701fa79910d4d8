package io.flowget.job.cli;

import io.flowget.job.JobOptions;
import io.flowget.job.diff.DiffJob;
import io.flowget.job.diff.DiffOptions;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.time.Duration;
import java.util.concurrent.Callable;

/**
 * {@code flowget diff}: runs the diff job ({@link DiffJob}) that compares a candidate build's results with
 * production's, optionally noise-filtered by a secondary.
 *
 * <pre>
 * flowget diff --bootstrap-servers HOST:PORT [--primary-topic T] [--candidate-topic T] [--secondary-topic T]
 *              [--diffs-topic T] [--summary-topic T] [--interval DURATION] [--bounded] [--set key=value]...
 * </pre>
 *
 * Each flag sets its {@link DiffOptions} key; as with {@code flowget job}, the cluster configuration's
 * {@code flowget.*} keys apply under {@code flink run} or the Kubernetes operator, and the command line wins. Without
 * {@code --bounded} it runs forever; with it, it compares what the topics hold now and exits 0 (and, unless a restart
 * strategy is configured, fails at the first error instead of restarting). The sinks commit on checkpoints: when
 * the environment has no checkpoint interval, 10 s is used.
 */
@Command(
        name = "diff",
        mixinStandardHelpOptions = true,
        description = "Compare a candidate build's results with production's (Flink SQL job).")
final class DiffCommand implements Callable<Integer> {
    private static final Duration DEFAULT_CHECKPOINT_INTERVAL = Duration.ofSeconds(10);

    @Option(names = "--bootstrap-servers", paramLabel = "HOST:PORT", description = "Kafka (or set flowget.kafka.bootstrap-servers).")
    String bootstrapServers;

    @Option(names = "--primary-topic", paramLabel = "TOPIC", description = "Production's results (default flowget.results).")
    String primaryTopic;

    @Option(names = "--candidate-topic", paramLabel = "TOPIC", description = "The candidate's results (default flowget.results.shadow).")
    String candidateTopic;

    @Option(names = "--secondary-topic", paramLabel = "TOPIC", description = "A secondary's results: what it and production disagree on is noise.")
    String secondaryTopic;

    @Option(names = "--diffs-topic", paramLabel = "TOPIC", description = "Where diff records go (default flowget.diffs).")
    String diffsTopic;

    @Option(names = "--summary-topic", paramLabel = "TOPIC", description = "Where summaries go (default flowget.diff-summary).")
    String summaryTopic;

    @Option(names = "--interval", paramLabel = "DURATION", description = "Join interval, ISO-8601 (default PT10M).")
    Duration interval;

    @Option(names = "--bounded", description = "Compare what the topics hold now, then exit.")
    boolean bounded;

    @CommandLine.Mixin FlowgetCli.ConfigOptionsMixin config;

    @Override
    public Integer call() throws Exception {
        Configuration conf = ClusterSettings.withClusterFlowgetKeys(Settings.load(config.confDir(), config.sets, false));
        setIfGiven(conf, JobOptions.KAFKA_BOOTSTRAP_SERVERS.key(), bootstrapServers);
        setIfGiven(conf, DiffOptions.PRIMARY_TOPIC.key(), primaryTopic);
        setIfGiven(conf, DiffOptions.CANDIDATE_TOPIC.key(), candidateTopic);
        setIfGiven(conf, DiffOptions.SECONDARY_TOPIC.key(), secondaryTopic);
        setIfGiven(conf, DiffOptions.DIFFS_TOPIC.key(), diffsTopic);
        setIfGiven(conf, DiffOptions.SUMMARY_TOPIC.key(), summaryTopic);
        if (interval != null) {
            if (interval.isNegative() || interval.isZero()) {
                throw new UsageException("--interval must be positive");
            }
            conf.set(DiffOptions.JOIN_INTERVAL, interval);
        }
        if (!conf.contains(JobOptions.KAFKA_BOOTSTRAP_SERVERS)) {
            throw new UsageException("--bootstrap-servers (or flowget.kafka.bootstrap-servers) is required");
        }
        if (conf.get(DiffOptions.PRIMARY_TOPIC).equals(conf.get(DiffOptions.CANDIDATE_TOPIC))) {
            throw new UsageException("the primary and candidate topics are the same: nothing to compare");
        }
        if (bounded && !conf.contains(RestartStrategyOptions.RESTART_STRATEGY)) {
            // A one-off comparison should fail (exit 70) rather than restart forever, e.g. on an unreachable Kafka.
            conf.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        }
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        if (!env.getCheckpointConfig().isCheckpointingEnabled()) {
            env.enableCheckpointing(DEFAULT_CHECKPOINT_INTERVAL.toMillis());
        }
        new DiffJob(conf, bounded).build(env);
        env.execute(conf.getOptional(JobOptions.JOB_NAME).orElse("flowget-diff"));
        return ExitCodes.OK;
    }

    private static void setIfGiven(Configuration conf, String key, String value) {
        if (value != null) {
            conf.setString(key, value);
        }
    }
}
