package io.flowget.job.diff;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;

import java.time.Duration;

/**
 * Options of the diff job ({@code flowget diff}), which compares a candidate build's results with production's,
 * as Flink {@link ConfigOption}s under {@code flowget.diff.}. It also reads {@code flowget.kafka.bootstrap-servers},
 * {@code flowget.kafka.delivery-guarantee} and {@code flowget.kafka.transaction-timeout} from
 * {@link io.flowget.job.JobOptions}. README "Verifying a release with shadow traffic" shows them in use.
 */
public final class DiffOptions {
    private DiffOptions() {}

    public static final ConfigOption<String> PRIMARY_TOPIC =
            ConfigOptions.key("flowget.diff.primary-topic")
                    .stringType()
                    .defaultValue("flowget.results")
                    .withDescription("Results topic of production (the primary), the reference of the comparison.");

    public static final ConfigOption<String> CANDIDATE_TOPIC =
            ConfigOptions.key("flowget.diff.candidate-topic")
                    .stringType()
                    .defaultValue("flowget.results.shadow")
                    .withDescription("Results topic of the candidate build under test (the shadow deployment).");

    public static final ConfigOption<String> SECONDARY_TOPIC =
            ConfigOptions.key("flowget.diff.secondary-topic")
                    .stringType()
                    .noDefaultValue()
                    .withDescription(
                            "Results topic of a secondary: a second shadow running the production build. What"
                                    + " primary and secondary disagree on for a request is noise and is not counted"
                                    + " against the candidate. Unset: no noise filtering.");

    public static final ConfigOption<String> DIFFS_TOPIC =
            ConfigOptions.key("flowget.diff.diffs-topic")
                    .stringType()
                    .defaultValue("flowget.diffs")
                    .withDescription(
                            "Topic that receives one JSON record per request on which the candidate disagrees with"
                                    + " production, or that has a result on one side only.");

    public static final ConfigOption<String> SUMMARY_TOPIC =
            ConfigOptions.key("flowget.diff.summary-topic")
                    .stringType()
                    .defaultValue("flowget.diff-summary")
                    .withDescription(
                            "Topic that receives the per-window summary (compared, matched, differing by kind,"
                                    + " unmatched, latency histograms) that `flowget canary` judges.");

    public static final ConfigOption<Duration> JOIN_INTERVAL =
            ConfigOptions.key("flowget.diff.join-interval")
                    .durationType()
                    .defaultValue(Duration.ofMinutes(10))
                    .withDescription(
                            "Results of one request id are compared when their Kafka timestamps lie within this"
                                    + " interval of each other (event time). It must exceed how far the shadow may"
                                    + " lag production; a result with no partner within it is reported as unmatched"
                                    + " once the watermark has passed it, and every comparison is decided that late.");

    public static final ConfigOption<Duration> WATERMARK_DELAY =
            ConfigOptions.key("flowget.diff.watermark-delay")
                    .durationType()
                    .defaultValue(Duration.ofSeconds(5))
                    .withDescription(
                            "Bound on the out-of-orderness of result timestamps within a partition (several"
                                    + " subtasks' producers append to one partition). Later results are dropped.");

    public static final ConfigOption<Duration> IDLE_TIMEOUT =
            ConfigOptions.key("flowget.diff.idle-timeout")
                    .durationType()
                    .defaultValue(Duration.ofMinutes(1))
                    .withDescription(
                            "A results partition without records for this long stops holding back the watermark,"
                                    + " so a stopped shadow shows up as unmatched results instead of stalling the"
                                    + " diff.");

    public static final ConfigOption<Duration> SUMMARY_WINDOW =
            ConfigOptions.key("flowget.diff.summary-window")
                    .durationType()
                    .defaultValue(Duration.ofMinutes(1))
                    .withDescription(
                            "Size of the tumbling summary windows, by the event time a comparison was decided at.");

    public static final ConfigOption<Double> LATENCY_RATIO =
            ConfigOptions.key("flowget.diff.latency-ratio")
                    .doubleType()
                    .defaultValue(2.0)
                    .withDescription(
                            "A request is a latency diff when the candidate's elapsed_ms exceeds production's times"
                                    + " this ratio and also by flowget.diff.latency-min-delta.");

    public static final ConfigOption<Duration> LATENCY_MIN_DELTA =
            ConfigOptions.key("flowget.diff.latency-min-delta")
                    .durationType()
                    .defaultValue(Duration.ofSeconds(1))
                    .withDescription(
                            "Least extra time for a latency diff, so millisecond jitter on fast origins is not one.");

    public static final ConfigOption<String> GROUP_ID =
            ConfigOptions.key("flowget.diff.group-id")
                    .stringType()
                    .defaultValue("flowget-diff")
                    .withDescription(
                            "Consumer group of the diff job's sources (suffixed -primary, -candidate, -secondary)."
                                    + " A fresh group starts at the earliest offsets.");

    public static final ConfigOption<String> TRANSACTIONAL_ID_PREFIX =
            ConfigOptions.key("flowget.diff.transactional-id-prefix")
                    .stringType()
                    .defaultValue("flowget-diff")
                    .withDescription(
                            "Transactional-id prefix of the diff job's EXACTLY_ONCE sinks; must not share a prefix"
                                    + " with production's or the shadow's.");
}
