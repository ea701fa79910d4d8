package io.flowget.job.kafka;

import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.configuration.RestartStrategyOptions;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.config.ConfigResource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

/**
 * The start-up rule that a results transaction cannot expire before its checkpoint commits it (issue 15).
 *
 * <p>An EXACTLY_ONCE sink opens a transaction when checkpoint {@code k-1}'s barrier passes it and hands it to the
 * committer at checkpoint {@code k}; the committer commits it when a checkpoint {@code >= k} completes. With
 * {@code T} tolerable failed checkpoints, checkpoints {@code k .. k+T-1} may all fail, so the commit can come with
 * {@code k+T}. Each checkpoint cycle lasts at most {@code max(interval, timeout + min-pause)}, and the committing
 * checkpoint itself up to {@code timeout}; a failover between "checkpoint complete" and "committed" adds one restart
 * delay before the restored committer commits. So the longest time a transaction can stay open is
 *
 * <pre>(T + 1) * max(interval, timeout + min-pause) + timeout + restart delay</pre>
 *
 * <p>and {@code flowget.kafka.transaction-timeout} must exceed it (else the broker aborts a transaction that a
 * checkpoint still means to commit: its results are gone while their requests have left state), and must not
 * exceed the broker's {@code transaction.max.timeout.ms} (else InitProducerId fails and the job restart-loops).
 * {@link #problems} names the keys involved; {@link #brokerMaxTimeout} asks the broker for its maximum.
 *
 * <p>Stateless; called once on the thread that builds the job.
 */
public final class TransactionTimeouts {
    private static final Logger LOG = LoggerFactory.getLogger(TransactionTimeouts.class);

    /** The broker's setting that caps a producer's transaction.timeout.ms. */
    public static final String BROKER_MAX_KEY = "transaction.max.timeout.ms";

    private TransactionTimeouts() {}

    /** The longest time a results transaction can stay open under {@code checkpointing} (see the class comment). */
    public static Duration longestOpen(ReadableConfig conf) {
        Duration interval = conf.getOptional(CheckpointingOptions.CHECKPOINTING_INTERVAL).orElse(Duration.ZERO);
        Duration timeout = conf.get(CheckpointingOptions.CHECKPOINTING_TIMEOUT);
        Duration minPause = conf.get(CheckpointingOptions.MIN_PAUSE_BETWEEN_CHECKPOINTS);
        int tolerable = Math.max(0, conf.get(CheckpointingOptions.TOLERABLE_FAILURE_NUMBER));
        Duration cycle = max(interval, timeout.plus(minPause));
        return cycle.multipliedBy(tolerable + 1L).plus(timeout).plus(restartDelay(conf));
    }

    /**
     * What is wrong with {@code transactionTimeout} under {@code conf}, each as one sentence naming the keys; empty
     * when it is fine. {@code brokerMax} is the broker's transaction.max.timeout.ms, or null when unknown.
     */
    public static List<String> problems(ReadableConfig conf, Duration transactionTimeout, Duration brokerMax) {
        List<String> problems = new ArrayList<>();
        Duration longest = longestOpen(conf);
        if (transactionTimeout.compareTo(longest) <= 0) {
            problems.add(String.format(
                    "flowget.kafka.transaction-timeout (%s) must exceed the longest time a results transaction can"
                            + " stay open, %s = (execution.checkpointing.tolerable-failed-checkpoints %d + 1) x"
                            + " max(execution.checkpointing.interval %s, execution.checkpointing.timeout %s +"
                            + " execution.checkpointing.min-pause %s) + execution.checkpointing.timeout + restart delay"
                            + " %s (restart-strategy.*): raise it, or lower those",
                    human(transactionTimeout),
                    human(longest),
                    conf.get(CheckpointingOptions.TOLERABLE_FAILURE_NUMBER),
                    human(conf.getOptional(CheckpointingOptions.CHECKPOINTING_INTERVAL).orElse(Duration.ZERO)),
                    human(conf.get(CheckpointingOptions.CHECKPOINTING_TIMEOUT)),
                    human(conf.get(CheckpointingOptions.MIN_PAUSE_BETWEEN_CHECKPOINTS)),
                    human(restartDelay(conf))));
        }
        if (brokerMax != null && transactionTimeout.compareTo(brokerMax) > 0) {
            problems.add(String.format(
                    "flowget.kafka.transaction-timeout (%s) exceeds the broker's %s (%s): raise the broker's setting"
                            + " (the producers would fail at start)",
                    human(transactionTimeout), BROKER_MAX_KEY, human(brokerMax)));
        }
        return problems;
    }

    /**
     * Throws {@link IllegalArgumentException} listing every problem, when there is one.
     *
     * @param brokerMax the broker's transaction.max.timeout.ms, or null when unknown (only the first rule is checked)
     */
    public static void validate(ReadableConfig conf, Duration transactionTimeout, Duration brokerMax) {
        List<String> problems = problems(conf, transactionTimeout, brokerMax);
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException(
                    "results transactions could expire before they commit: " + String.join("; ", problems));
        }
    }

    /**
     * The brokers' smallest transaction.max.timeout.ms, asked within {@code timeout}; empty when it cannot be read
     * (no DescribeConfigs permission, no answer): then the producers themselves fail at start if it is too low.
     */
    public static Optional<Duration> brokerMaxTimeout(String servers, Duration timeout) {
        return brokerMaxTimeout(servers, new Properties(), timeout);
    }

    /** As {@link #brokerMaxTimeout(String, Duration)}, with Kafka client settings ({@link KafkaProperties}). */
    public static Optional<Duration> brokerMaxTimeout(String servers, Properties kafkaProps, Duration timeout) {
        try (Admin admin = KafkaClients.admin(servers, timeout, "flowget-transaction-check", kafkaProps)) {
            Collection<Node> nodes = admin.describeCluster().nodes().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            List<ConfigResource> brokers = new ArrayList<>();
            nodes.forEach(n -> brokers.add(new ConfigResource(ConfigResource.Type.BROKER, n.idString())));
            Map<ConfigResource, Config> configs =
                    admin.describeConfigs(brokers).all().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            Duration min = null;
            for (Config c : configs.values()) {
                ConfigEntry e = c.get(BROKER_MAX_KEY);
                if (e != null && e.value() != null) {
                    Duration d = Duration.ofMillis(Long.parseLong(e.value()));
                    min = min == null || d.compareTo(min) < 0 ? d : min;
                }
            }
            return Optional.ofNullable(min);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.empty();
        } catch (Exception e) {
            LOG.warn("Could not read the brokers' {} ({}); not checked against flowget.kafka.transaction-timeout",
                    BROKER_MAX_KEY, e.toString());
            return Optional.empty();
        }
    }

    /** How long a failover waits before the restored job runs again, from the restart strategy's settings. */
    static Duration restartDelay(ReadableConfig conf) {
        String type = conf.getOptional(RestartStrategyOptions.RESTART_STRATEGY).orElse("exponential-delay");
        switch (type) {
            case "none":
            case "off":
            case "disable":
                return Duration.ZERO;
            case "fixed-delay":
            case "fixeddelay":
                return conf.get(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY);
            case "failure-rate":
            case "failurerate":
                return conf.get(RestartStrategyOptions.RESTART_STRATEGY_FAILURE_RATE_DELAY);
            default: // exponential-delay, Flink's default with checkpointing on
                return conf.get(RestartStrategyOptions.RESTART_STRATEGY_EXPONENTIAL_DELAY_MAX_BACKOFF);
        }
    }

    private static Duration max(Duration a, Duration b) {
        return a.compareTo(b) >= 0 ? a : b;
    }

    private static String human(Duration d) {
        return d.toString().substring(2).toLowerCase();
    }
}
