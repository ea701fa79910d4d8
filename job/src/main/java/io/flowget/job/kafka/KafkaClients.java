package io.flowget.job.kafka;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

/**
 * Builds the plain Kafka clients that flowget uses outside the Flink job (the {@code run} command's input producer
 * and results reader, the canary's summary reader, the embedded broker's admin, tests): String keys and values,
 * and consumers that see committed records only, never commit offsets and use no group. The job's own source and
 * sinks are built by the Flink connector's builders in {@code FlowgetJob}, not here.
 *
 * <pre>{@code
 * try (KafkaProducer<String, String> producer = KafkaClients.producer(servers).transactionalId("tx").build()) {
 *     producer.initTransactions();
 *     ...
 * }
 * try (KafkaConsumer<String, String> consumer = KafkaClients.committedConsumer(servers).build()) {
 *     KafkaClients.assignFromBeginning(consumer, topic);
 *     ...
 * }
 * }</pre>
 *
 * <p>Stateless and thread-safe. Each client it builds belongs to the caller, who closes it; a consumer must stay on
 * one thread (Kafka's rule).
 */
public final class KafkaClients {
    private KafkaClients() {}

    /** A producer of String keys and values; without options, Kafka's defaults (idempotent, no transactions). */
    public static ProducerBuilder producer(String bootstrapServers) {
        return new ProducerBuilder(bootstrapServers);
    }

    /**
     * A consumer of String keys and values that reads committed records only ({@code read_committed}: records of
     * open or aborted transactions stay invisible) and never commits offsets; meant for {@code assign}, not groups.
     */
    public static ConsumerBuilder committedConsumer(String bootstrapServers) {
        return new ConsumerBuilder(bootstrapServers, "read_committed");
    }

    /**
     * Like {@link #committedConsumer} but {@code read_uncommitted}: it also sees records of open (and aborted)
     * transactions, e.g. results the job emitted that the next checkpoint will commit.
     */
    public static ConsumerBuilder uncommittedConsumer(String bootstrapServers) {
        return new ConsumerBuilder(bootstrapServers, "read_uncommitted");
    }

    /** An admin client with Kafka's default timeouts. */
    public static Admin admin(String bootstrapServers) {
        return Admin.create(adminProperties(bootstrapServers));
    }

    /** An admin client with Kafka's default timeouts and {@code extra} settings (security: {@link KafkaProperties}). */
    public static Admin admin(String bootstrapServers, Properties extra) {
        Properties p = adminProperties(bootstrapServers);
        extra.forEach(p::putIfAbsent);
        return Admin.create(p);
    }

    /** An admin client whose calls give up after {@code apiTimeout}, named {@code clientId} in the broker's logs. */
    public static Admin admin(String bootstrapServers, Duration apiTimeout, String clientId) {
        return admin(bootstrapServers, apiTimeout, clientId, new Properties());
    }

    /** As {@link #admin(String, Duration, String)}, with {@code extra} settings (security: {@link KafkaProperties}). */
    public static Admin admin(String bootstrapServers, Duration apiTimeout, String clientId, Properties extra) {
        Properties p = adminProperties(bootstrapServers);
        extra.forEach(p::putIfAbsent);
        int apiMillis = (int) apiTimeout.toMillis();
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, apiMillis);
        // Kafka refuses to create an admin client whose API timeout is below its request timeout (30 s default).
        Object request = p.get(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG);
        if (request == null || Integer.parseInt(request.toString()) > apiMillis) {
            p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, apiMillis);
        }
        p.put(AdminClientConfig.CLIENT_ID_CONFIG, clientId);
        return Admin.create(p);
    }

    /**
     * Assigns every partition of {@code topic} to the consumer and seeks to their beginning; returns them (empty,
     * and nothing assigned, when the topic has none). Waits for the metadata up to {@code default.api.timeout.ms}.
     */
    public static List<TopicPartition> assignFromBeginning(Consumer<?, ?> consumer, String topic) {
        return assignFromBeginning(consumer, topic, consumer.partitionsFor(topic));
    }

    /** As {@link #assignFromBeginning(Consumer, String)}, waiting for the metadata up to {@code timeout}. */
    public static List<TopicPartition> assignFromBeginning(Consumer<?, ?> consumer, String topic, Duration timeout) {
        return assignFromBeginning(consumer, topic, consumer.partitionsFor(topic, timeout));
    }

    private static List<TopicPartition> assignFromBeginning(
            Consumer<?, ?> consumer, String topic, List<PartitionInfo> infos) {
        List<TopicPartition> parts = new ArrayList<>();
        if (infos != null) {
            infos.forEach(pi -> parts.add(new TopicPartition(topic, pi.partition())));
        }
        if (!parts.isEmpty()) {
            consumer.assign(parts);
            consumer.seekToBeginning(parts);
        }
        return parts;
    }

    private static Properties adminProperties(String bootstrapServers) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        return p;
    }

    /** Options of {@link #producer(String)}; each sets one Kafka producer setting, unset ones keep Kafka's default. */
    public static final class ProducerBuilder {
        private final Properties props = new Properties();

        private ProducerBuilder(String bootstrapServers) {
            props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
            props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        }

        /** Adds settings (security: {@link KafkaProperties}); the builder's own settings win. */
        public ProducerBuilder properties(Properties extra) {
            extra.forEach(props::putIfAbsent);
            return this;
        }

        /** Makes it a transactional producer with this id ({@code initTransactions} fences an older one). */
        public ProducerBuilder transactionalId(String transactionalId) {
            props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
            return this;
        }

        /** How long the broker lets one of its transactions stay open before aborting it. */
        public ProducerBuilder transactionTimeout(Duration timeout) {
            props.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, (int) timeout.toMillis());
            return this;
        }

        /** Batches records for up to {@code linger}, up to {@code batchBytes} per partition batch. */
        public ProducerBuilder batching(Duration linger, int batchBytes) {
            props.put(ProducerConfig.LINGER_MS_CONFIG, String.valueOf(linger.toMillis()));
            props.put(ProducerConfig.BATCH_SIZE_CONFIG, String.valueOf(batchBytes));
            return this;
        }

        /**
         * At most {@code requests} unanswered produce requests per connection (Kafka's default: 5). With 1, a batch is
         * sent only once the one before it is answered, so a retried batch can never land behind a later one.
         */
        public ProducerBuilder maxInFlightRequests(int requests) {
            props.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, String.valueOf(requests));
            return this;
        }

        /** The largest request (so the largest record) the producer sends; Kafka's default is 1 MiB. */
        public ProducerBuilder maxRequestSize(int bytes) {
            props.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, String.valueOf(bytes));
            return this;
        }

        public KafkaProducer<String, String> build() {
            return new KafkaProducer<>(props);
        }

        /** A producer of string keys and byte values, sent as they are. */
        public KafkaProducer<String, byte[]> buildForBytes() {
            Properties p = new Properties();
            p.putAll(props);
            p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
            return new KafkaProducer<>(p);
        }
    }

    /** Options of {@link #committedConsumer(String)} and {@link #uncommittedConsumer}; unset ones keep Kafka's default. */
    public static final class ConsumerBuilder {
        private final Properties props = new Properties();

        private ConsumerBuilder(String bootstrapServers, String isolationLevel) {
            props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
            props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
            props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
            props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolationLevel);
            props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        }

        /** Adds settings (security: {@link KafkaProperties}); the builder's own settings win. */
        public ConsumerBuilder properties(Properties extra) {
            extra.forEach(props::putIfAbsent);
            return this;
        }

        /** Most records one {@code poll} returns. */
        public ConsumerBuilder maxPollRecords(int records) {
            props.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, String.valueOf(records));
            return this;
        }

        /**
         * Longest time the broker holds a fetch that finds nothing new (Kafka's default: 500 ms). A {@code
         * read_committed} fetch is not answered early when a transaction commits, only when new records arrive, so
         * a reader that waits for commits should ask again soon.
         */
        public ConsumerBuilder fetchMaxWait(Duration wait) {
            props.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, String.valueOf(wait.toMillis()));
            return this;
        }

        /** Longest wait between reconnection attempts (lower it to notice a restarted broker sooner). */
        public ConsumerBuilder reconnectBackoffMax(Duration backoff) {
            props.put(ConsumerConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, String.valueOf(backoff.toMillis()));
            return this;
        }

        public KafkaConsumer<String, String> build() {
            return new KafkaConsumer<>(props);
        }
    }
}
