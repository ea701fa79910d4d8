package io.flowget.job;

import io.flowget.job.kafka.CommitGuardedKafkaSink;
import io.flowget.job.kafka.KafkaProperties;
import io.flowget.job.kafka.RawRequestDeserializer;
import io.flowget.job.kafka.TransactionTimeouts;
import io.flowget.udf.fetch.FetchOperatorFactory;
import io.flowget.udf.fetch.HostShards;
import io.flowget.udf.json.DeadLetterSerializationSchema;
import io.flowget.udf.json.FetchResultSerializationSchema;
import io.flowget.udf.model.DeadLetter;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.RawRequest;
import io.flowget.udf.parse.ParseRequestFunction;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.FlatMapFunction;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.source.Source;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.ExecutionOptions;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.sink.TransactionNamingStrategy;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.KafkaSourceBuilder;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

import org.apache.kafka.clients.producer.ProducerConfig;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Properties;

/**
 * The flowget topology (DESIGN.md): requests source → parse/validate (malformed → FAILED result + dead letter)
 * → keyBy(host, or a busy host's shard: {@link HostKeySelector}) → {@link io.flowget.udf.fetch.FetchOperator} → results sink; dead letters to their own sink.
 *
 * <p>Takes its source and sinks in the constructor so tests and the embedded runtime can pass their own;
 * {@link #kafka(Configuration, boolean)} builds the Kafka ones from {@link JobOptions}. Every operator has a
 * stable uid from {@link Uids}, so savepoints stay compatible across releases.
 *
 * <pre>{@code
 * FlowgetJob.kafka(conf, false).build(env);
 * env.execute(conf.get(JobOptions.JOB_NAME));
 * }</pre>
 */
public final class FlowgetJob {
    /** Stable operator uids and names; never change a uid once released (savepoint compatibility). */
    public static final class Uids {
        public static final String SOURCE = "requests-source";
        public static final String PARSE = "parse-requests";
        public static final String FETCH = "fetch";
        public static final String RESULTS_SINK = "results-sink";
        public static final String DEAD_LETTER_SINK = "dead-letter-sink";
        /** Only in fault-injection tests ({@link #withResultsFault}); never in a released topology. */
        public static final String RESULTS_FAULT = "results-fault-test-only";

        private Uids() {}
    }

    private static final Duration BROKER_CHECK_TIMEOUT = Duration.ofSeconds(15);

    private final Configuration config;
    private final Source<RawRequest, ?, ?> source;
    private final Sink<FetchResult> resultsSink;
    private final Sink<DeadLetter> deadLetterSink;
    /** Bootstrap servers whose transactions {@link #build} checks (exactly-once Kafka sinks), else null. */
    private String transactionCheck;
    /** Test-only, see {@link #withResultsFault}; null in every real deployment. */
    private FlatMapFunction<FetchResult, FetchResult> resultsFault;

    public FlowgetJob(
            Configuration config,
            Source<RawRequest, ?, ?> source,
            Sink<FetchResult> resultsSink,
            Sink<DeadLetter> deadLetterSink) {
        this.config = config;
        this.source = source;
        this.resultsSink = resultsSink;
        this.deadLetterSink = deadLetterSink;
    }

    /**
     * The Kafka-backed job.
     *
     * @param bounded stop at the requests topic's end offsets at start (the {@code run} command); a job restored
     *     from a checkpoint must be built with the same boundedness as the run that wrote it
     */
    public static FlowgetJob kafka(Configuration config, boolean bounded) {
        String servers =
                config.getOptional(JobOptions.KAFKA_BOOTSTRAP_SERVERS)
                        .orElseThrow(
                                () -> new IllegalArgumentException(
                                        JobOptions.KAFKA_BOOTSTRAP_SERVERS.key() + " is not set"));
        KafkaSourceBuilder<RawRequest> sb =
                KafkaSource.<RawRequest>builder()
                        .setProperties(KafkaProperties.of(config)) // first: flowget's own settings win
                        .setBootstrapServers(servers)
                        .setTopics(config.get(JobOptions.KAFKA_REQUESTS_TOPIC))
                        .setGroupId(config.get(JobOptions.KAFKA_GROUP_ID))
                        .setStartingOffsets(
                                OffsetsInitializer.committedOffsets(
                                        org.apache.kafka.clients.consumer.OffsetResetStrategy.EARLIEST))
                        .setDeserializer(new RawRequestDeserializer())
                        // Requests produced in a transaction count only once committed.
                        .setProperty("isolation.level", "read_committed");
        if (bounded) {
            sb.setBounded(OffsetsInitializer.latest());
        }
        DeliveryGuarantee guarantee = config.get(JobOptions.KAFKA_DELIVERY_GUARANTEE);
        String prefix = config.get(JobOptions.KAFKA_TRANSACTIONAL_ID_PREFIX);
        // POOLING: each subtask reuses a small pool of transactional ids instead of a new id per checkpoint, so the
        // transaction coordinator's state stays bounded (the default INCREMENTING strategy grows it for 7 days).
        String txTimeout = String.valueOf(config.get(JobOptions.KAFKA_TRANSACTION_TIMEOUT).toMillis());
        KafkaSink<FetchResult> results =
                KafkaSink.<FetchResult>builder()
                        .setKafkaProducerConfig(sinkProducerConfig(config)) // first: flowget's own settings win
                        .setBootstrapServers(servers)
                        .setRecordSerializer(
                                KafkaRecordSerializationSchema.<FetchResult>builder()
                                        .setTopic(config.get(JobOptions.KAFKA_RESULTS_TOPIC))
                                        .setKeySerializationSchema(
                                                r -> r.id == null ? null : r.id.getBytes(StandardCharsets.UTF_8))
                                        .setValueSerializationSchema(new FetchResultSerializationSchema())
                                        .build())
                        .setDeliveryGuarantee(guarantee)
                        .setTransactionalIdPrefix(prefix + "-results")
                        .setTransactionNamingStrategy(TransactionNamingStrategy.POOLING)
                        .setProperty("transaction.timeout.ms", txTimeout)
                        .build();
        KafkaSink<DeadLetter> deadLetters =
                KafkaSink.<DeadLetter>builder()
                        .setKafkaProducerConfig(sinkProducerConfig(config))
                        .setBootstrapServers(servers)
                        .setRecordSerializer(
                                KafkaRecordSerializationSchema.<DeadLetter>builder()
                                        .setTopic(config.get(JobOptions.KAFKA_DEAD_LETTER_TOPIC))
                                        .setValueSerializationSchema(new DeadLetterSerializationSchema())
                                        .build())
                        .setDeliveryGuarantee(guarantee)
                        .setTransactionalIdPrefix(prefix + "-dead-letters")
                        .setTransactionNamingStrategy(TransactionNamingStrategy.POOLING)
                        .setProperty("transaction.timeout.ms", txTimeout)
                        .build();
        FlowgetJob job =
                new FlowgetJob(
                        config,
                        sb.build(),
                        new CommitGuardedKafkaSink<>(results, sinkIdleFlush(config)),
                        new CommitGuardedKafkaSink<>(deadLetters, sinkIdleFlush(config)));
        if (guarantee == DeliveryGuarantee.EXACTLY_ONCE) {
            job.transactionCheck = servers;
        }
        return job;
    }

    /** Batching of the results and dead-letter producers: how long a partition's batch waits for more records. */
    static final Duration SINK_LINGER = Duration.ofMillis(100);

    /** Most bytes of one partition's batch of the results and dead-letter producers (Kafka's default: 16 KiB). */
    static final int SINK_BATCH_BYTES = 256 * 1024;

    /** Shortest pause after which the results and dead-letter writers flush their producer (Kafka's default linger). */
    static final Duration SINK_IDLE_FLUSH_MIN = Duration.ofMillis(5);

    /**
     * After how long without a record the results and dead-letter writers flush their producer, so that the end of a
     * run's results does not wait for {@link #SINK_LINGER} (issue 16, see {@link #sinkProducerConfig}): twice the
     * job's network buffer timeout plus {@link #SINK_IDLE_FLUSH_MIN}. Records reach the sinks in network buffers
     * that upstream sends at least every buffer timeout, so a steady but slow stream arrives in bursts up to that
     * far apart; a shorter pause would flush between every two bursts and undo the batching. {@code run}'s job sends
     * after 10 ms (25 ms here); with Flink's 100 ms (the service job) the linger ends first. Without a buffer timeout
     * (buffers sent only when full) the pause is {@link #SINK_IDLE_FLUSH_MIN}: a pause then means no full buffer.
     */
    static Duration sinkIdleFlush(Configuration config) {
        Duration buffer = config.get(ExecutionOptions.BUFFER_TIMEOUT);
        boolean periodic = config.get(ExecutionOptions.BUFFER_TIMEOUT_ENABLED) && buffer.toMillis() > 0;
        return periodic ? buffer.multipliedBy(2).plus(SINK_IDLE_FLUSH_MIN) : SINK_IDLE_FLUSH_MIN;
    }

    /**
     * The producer settings of the results and dead-letter sinks: larger batches than Kafka's defaults ({@link
     * #SINK_LINGER}, {@link #SINK_BATCH_BYTES}), then a deployment's {@code flowget.kafka.properties.*}, which win.
     *
     * <p>Why: with Kafka's 5 ms / 16 KiB a subtask producing 1,500 results per second sent a produce request every
     * few records, and the broker's cost is per request (the transaction verification, the append, the response):
     * Kafka was the third largest CPU consumer per small file (issue 16). The sink flushes its producer when it
     * prepares the checkpoint's commit (exactly-once and at-least-once), so the commit does not wait for the linger.
     * The end of a stream of results does not either: the writers flush once no record has come for {@link
     * #sinkIdleFlush} ({@code IdleFlushingWriter}), which a run's tail needs: {@code TailCheckpoint} triggers the
     * committing checkpoint when it has seen every result in the results topic, and the last results waited up to
     * the whole linger in the producer before the flush (tail 0.35 -> 0.50 s). Under a steady stream the writer
     * never pauses that long and the batches stay as large as configured. Memory stays bounded by the producer's
     * {@code buffer.memory} (32 MiB by default); a batch buffer is taken per partition written.
     */
    static Properties sinkProducerConfig(Configuration config) {
        Properties p = new Properties();
        p.setProperty(ProducerConfig.LINGER_MS_CONFIG, Long.toString(SINK_LINGER.toMillis()));
        p.setProperty(ProducerConfig.BATCH_SIZE_CONFIG, Integer.toString(SINK_BATCH_BYTES));
        p.putAll(KafkaProperties.of(config));
        return p;
    }

    /**
     * TEST ONLY: passes every result through {@code fault} before the results sink, so a test can run "a candidate
     * build with a known regression" (results turned FAILED, digests corrupted, results lost) through the real job
     * and check that the shadow diff catches each one (ShadowDiffITCase). No command, option or configuration key
     * reaches this: without a call, the topology is exactly the released one.
     */
    public FlowgetJob withResultsFault(FlatMapFunction<FetchResult, FetchResult> fault) {
        this.resultsFault = fault;
        return this;
    }

    /**
     * Adds the topology to {@code env}.
     *
     * @throws IllegalArgumentException when the results transactions could expire before their checkpoint commits
     *     them under {@code env}'s checkpointing (see {@link TransactionTimeouts}), naming the keys
     */
    public void build(StreamExecutionEnvironment env) {
        if (transactionCheck != null) {
            Duration timeout = config.get(JobOptions.KAFKA_TRANSACTION_TIMEOUT);
            // The environment's checkpointing and restart settings are what the job will run with.
            Configuration effective = new Configuration(config);
            effective.addAll(Configuration.fromMap(env.getConfiguration().toMap()));
            TransactionTimeouts.validate(
                    effective, timeout,
                    TransactionTimeouts.brokerMaxTimeout(
                                    transactionCheck, KafkaProperties.of(config), BROKER_CHECK_TIMEOUT)
                            .orElse(null));
        }
        DataStream<RawRequest> raw =
                env.fromSource(source, WatermarkStrategy.noWatermarks(), "Requests")
                        // no event time: requests are processed as they come, nothing waits for watermarks
                        .uid(Uids.SOURCE)
                        .name("Requests");
        SingleOutputStreamOperator<FetchRequest> parsed =
                raw.process(new ParseRequestFunction())
                        .returns(TypeInformation.of(FetchRequest.class))
                        .uid(Uids.PARSE)
                        .name("Parse requests");
        SingleOutputStreamOperator<FetchResult> fetched =
                parsed.keyBy(new HostKeySelector(HostShards.from(config, maxParallelism(env))))
                        .transform("Fetch", TypeInformation.of(FetchResult.class), new FetchOperatorFactory(config))
                        .uid(Uids.FETCH)
                        .name("Fetch");
        DataStream<FetchResult> results = fetched.union(parsed.getSideOutput(ParseRequestFunction.FAILED));
        if (resultsFault != null) {
            results = results.flatMap(resultsFault)
                    .returns(TypeInformation.of(FetchResult.class))
                    .uid(Uids.RESULTS_FAULT)
                    .name("Injected fault (test only)");
        }
        results.sinkTo(resultsSink)
                .uid(Uids.RESULTS_SINK)
                .name("Results");
        parsed.getSideOutput(ParseRequestFunction.DEAD_LETTERS)
                .sinkTo(deadLetterSink)
                .uid(Uids.DEAD_LETTER_SINK)
                .name("Dead letters");
    }

    /**
     * The key groups the Fetch operator's keys are spread over: the environment's {@code pipeline.max-parallelism},
     * else the job configuration's, else Flink's default for small parallelisms (only where a spread host's shard
     * keys are placed depends on it, see {@link HostShards}).
     */
    private int maxParallelism(StreamExecutionEnvironment env) {
        int max = env.getMaxParallelism();
        return max > 0
                ? max
                : config.getOptional(PipelineOptions.MAX_PARALLELISM).orElse(HostShards.DEFAULT_MAX_PARALLELISM);
    }
}
