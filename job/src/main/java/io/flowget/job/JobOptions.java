package io.flowget.job;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.connector.base.DeliveryGuarantee;

import java.time.Duration;
import java.util.Map;

/**
 * The job-side options of flowget (Kafka wiring and job identity), as Flink {@link ConfigOption}s under the
 * {@code flowget.} prefix; the fetch side is in {@code io.flowget.udf.config.FlowgetOptions}. The same keys work in
 * {@code conf/config.yaml}, in a FlinkDeployment's {@code flinkConfiguration} and on the command line with
 * {@code --set key=value}.
 */
public final class JobOptions {
    private JobOptions() {}

    // ---- Kafka -----------------------------------------------------------------------------------

    public static final ConfigOption<String> KAFKA_BOOTSTRAP_SERVERS =
            ConfigOptions.key("flowget.kafka.bootstrap-servers")
                    .stringType()
                    .noDefaultValue()
                    .withDescription(
                            "Kafka bootstrap servers (host:port,...). Required by `flowget job`; in `flowget run`"
                                    + " it is `--bootstrap-servers`, and unset means: start an embedded broker.");

    public static final ConfigOption<Map<String, String>> KAFKA_PROPERTIES =
            ConfigOptions.key("flowget.kafka.properties")
                    .mapType()
                    .noDefaultValue()
                    .withDescription(
                            "Kafka client settings for every Kafka client flowget creates (the job's source and"
                                    + " sinks, `diff`, `canary`, and `run`'s own clients against"
                                    + " `--bootstrap-servers`), one key each:"
                                    + " `flowget.kafka.properties.security.protocol: SASL_SSL`,"
                                    + " `flowget.kafka.properties.sasl.mechanism: PLAIN`, ... flowget's own"
                                    + " settings (servers, group, isolation, transactions) win over these. `run`"
                                    + " with its embedded broker ignores them.");

    public static final ConfigOption<String> KAFKA_REQUESTS_TOPIC =
            ConfigOptions.key("flowget.kafka.requests-topic")
                    .stringType()
                    .defaultValue("flowget.requests")
                    .withDescription("Topic the request events are read from.");

    public static final ConfigOption<String> KAFKA_RESULTS_TOPIC =
            ConfigOptions.key("flowget.kafka.results-topic")
                    .stringType()
                    .defaultValue("flowget.results")
                    .withDescription("Topic that receives one terminal result event per request.");

    public static final ConfigOption<String> KAFKA_DEAD_LETTER_TOPIC =
            ConfigOptions.key("flowget.kafka.dead-letter-topic")
                    .stringType()
                    .defaultValue("flowget.dead-letter")
                    .withDescription(
                            "Topic that receives malformed request events, with the reason they were rejected.");

    public static final ConfigOption<String> KAFKA_GROUP_ID =
            ConfigOptions.key("flowget.kafka.group-id")
                    .stringType()
                    .defaultValue("flowget")
                    .withDescription(
                            "Consumer group id of the requests source. Offsets are committed to it on checkpoints"
                                    + " for monitoring only; the job resumes from its checkpointed offsets.");

    public static final ConfigOption<DeliveryGuarantee> KAFKA_DELIVERY_GUARANTEE =
            ConfigOptions.key("flowget.kafka.delivery-guarantee")
                    .enumType(DeliveryGuarantee.class)
                    .defaultValue(DeliveryGuarantee.EXACTLY_ONCE)
                    .withDescription(
                            "Guarantee of the results and dead-letter sinks. EXACTLY_ONCE writes in Kafka"
                                    + " transactions committed on checkpoints: consumers must read with"
                                    + " isolation.level=read_committed and see results only after the checkpoint"
                                    + " that covers them. AT_LEAST_ONCE flushes on checkpoints and may duplicate"
                                    + " after a failure (ids make duplicates detectable). NONE may lose results.");

    public static final ConfigOption<String> KAFKA_TRANSACTIONAL_ID_PREFIX =
            ConfigOptions.key("flowget.kafka.transactional-id-prefix")
                    .stringType()
                    .defaultValue("flowget")
                    .withDescription(
                            "Prefix of the Kafka transactional ids of the EXACTLY_ONCE sinks (each sink appends"
                                    + " its own suffix). Keep it stable across restarts of one deployment, so a"
                                    + " restored job can finish or abort the transactions it left open, and unique"
                                    + " per deployment on a shared cluster (a shadow job needs its own).");

    public static final ConfigOption<Duration> KAFKA_TRANSACTION_TIMEOUT =
            ConfigOptions.key("flowget.kafka.transaction-timeout")
                    .durationType()
                    .defaultValue(Duration.ofHours(1))
                    .withDescription(
                            "transaction.timeout.ms of the EXACTLY_ONCE sinks. Checked at start (the job refuses to"
                                    + " start, naming the keys): it must exceed the longest time a results"
                                    + " transaction can stay open, (execution.checkpointing.tolerable-failed-checkpoints"
                                    + " + 1) x max(execution.checkpointing.interval, execution.checkpointing.timeout +"
                                    + " execution.checkpointing.min-pause) + execution.checkpointing.timeout + the"
                                    + " restart delay, and must not exceed the brokers' transaction.max.timeout.ms"
                                    + " (Kafka's default is 15 min: raise it; the embedded broker's is 1 h). A"
                                    + " transaction the broker aborts is never silently dropped: its commit fails the"
                                    + " job.");

    // ---- job -------------------------------------------------------------------------------------

    public static final ConfigOption<String> JOB_NAME =
            ConfigOptions.key("flowget.job.name")
                    .stringType()
                    .defaultValue("flowget")
                    .withDescription("Name of the Flink job (web UI, REST API, metrics).");

    // ---- local runs ------------------------------------------------------------------------------

    public static final ConfigOption<Boolean> RUN_WEB_UI =
            ConfigOptions.key("flowget.run.web-ui")
                    .booleanType()
                    .defaultValue(false)
                    .withDescription(
                            "flowget run / demo: print the address of the embedded cluster's Flink Web UI (a random"
                                    + " loopback port, 127.0.0.1) when it starts, to watch the local job like a cluster"
                                    + " job while the run lasts. Same as --web-ui. Default false: the REST endpoint"
                                    + " still listens on loopback, unannounced.");

    public static final ConfigOption<Integer> RUN_SPREAD_MIN_REQUESTS =
            ConfigOptions.key("flowget.run.spread-min-requests")
                    .intType()
                    .defaultValue(0)
                    .withDescription(
                            "flowget run: a host with at least twice this many requests in the input is spread over"
                                    + " min(parallelism, its requests / this) keys (`flowget.host.spread`), so its"
                                    + " work runs on several Fetch subtasks, each with its share of the host's"
                                    + " limits (e.g. 100). Ignored when `flowget.host.spread` is set; 0 (the default)"
                                    + " turns it off: on 2 cores spreading cost CPU and gained nothing (README,"
                                    + " Performance).");

    public static final ConfigOption<Boolean> RUN_MEMORY_REPORT =
            ConfigOptions.key("flowget.run.memory-report")
                    .booleanType()
                    .defaultValue(false)
                    .withDescription(
                            "flowget run / demo: print where the process's resident memory goes, once every result"
                                    + " is in and before the job stops, as a line 'flowget memory: rss_mib=..."
                                    + " heap_used_mib=... metaspace_mib=... code_cache_mib=... direct_mib=... threads=..."
                                    + " native_other_mib=...' before the summary line (MiB; native_other_mib bounds"
                                    + " RocksDB's and other native libraries' memory from above; with"
                                    + " -XX:NativeMemoryTracking=summary in FLOWGET_JAVA_OPTS also the JVM's native"
                                    + " categories). Default false.");
}
