package io.flowget.job.embedded;

import io.flowget.job.kafka.KafkaClients;

import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.metadata.properties.MetaPropertiesEnsemble;
import org.apache.kafka.metadata.storage.Formatter;
import org.apache.kafka.server.common.TransactionVersion;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * An in-process, single-node Kafka 4.2 broker (KRaft, combined broker + controller) on 127.0.0.1, for {@code flowget
 * run} and {@code demo} and for tests. Built exactly as PLATFORM-NOTES §2 describes: a static one-voter quorum,
 * random free loopback ports, single-node replication settings and a small log-cleaner buffer.
 *
 * <p>Durable across runs: everything lives under the caller's data directory, e.g. {@code <state-dir>/kafka}. A
 * directory that is already formatted is reused (its cluster id is read back, nothing is re-formatted), so a
 * re-run of {@code flowget run} with the same state dir keeps its topics, records, committed offsets and
 * transaction state. Layout:
 *
 * <pre>
 * dataDir/
 *   log/                      Kafka's log.dirs (meta.properties, __cluster_metadata-0, topic partitions)
 *   embedded-kafka.properties the ports of the last start, reused when still free
 * </pre>
 *
 * <p>Ports: the broker tries the ports of its previous start first, so a client that remembered the old bootstrap
 * address keeps working; when either is taken it picks new free ones. A restart with new ports is safe with a
 * static quorum: {@code controller.quorum.voters} is read from the configuration at every start, and the broker
 * re-registers its new listener with the controller. {@code EmbeddedKafkaITCase} checks both cases, and a restart after the broker's JVM was killed
 * (SIGKILL): Kafka recovers the unclean log, and a 3 s broker session (instead of 9 s) bounds how long the
 * restarted controller refuses the new broker registration as a duplicate of the dead one.
 *
 * <p>Transactions: the cluster is formatted with {@code transaction.version=1}, not the 4.2 default 2 (PLATFORM-NOTES
 * §3: TV2 logs a misleading "data loss" ERROR when the Flink KafkaSink re-commits after recovery, and FLINK-40689
 * reports a recovery failure at producer-epoch rollover under TV2). {@code transaction.max.timeout.ms} is raised to
 * {@link #TRANSACTION_MAX_TIMEOUT} (1 h, Kafka's default is 15 min) to match {@code flowget.kafka.transaction-timeout}
 * (1 h), which must exceed the longest time a results transaction can stay open (issue 15,
 * {@code TransactionTimeouts}). Timed-out transactions are aborted within a second
 * ({@code transaction.abort.timed.out.transaction.cleanup.interval.ms}; Kafka's default 10 s), so a test of an
 * expiring transaction does not wait for the broker's sweep.
 *
 * <p>Not thread-safe; one owner starts it, uses it and closes it. {@link #close()} shuts the broker down and waits
 * for it, after which no non-daemon Kafka thread is left. Only one broker may use a data directory at a time
 * (Kafka locks its log dir; a second start fails).
 */
public final class EmbeddedKafka implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(EmbeddedKafka.class);

    /** Broker-side ceiling for a producer's transaction.timeout.ms: the default transaction timeout, 1 h. */
    public static final Duration TRANSACTION_MAX_TIMEOUT = Duration.ofHours(1);

    private static final String HOST = "127.0.0.1";
    private static final int NODE_ID = 1;
    private static final String LOG_SUBDIR = "log";
    private static final String PORTS_FILE = "embedded-kafka.properties";
    private static final String BROKER_PORT_KEY = "broker.port";
    private static final String CONTROLLER_PORT_KEY = "controller.port";
    /** Attempts with fresh ports when a chosen port was taken between probing and binding. */
    private static final int START_ATTEMPTS = 3;
    private static final Duration ADMIN_TIMEOUT = Duration.ofSeconds(30);

    private final Path dataDir;
    private final KafkaRaftServer server;
    private final int brokerPort;
    private final int controllerPort;
    /** Port of the SASL_PLAINTEXT listener, or 0 without one. */
    private final int saslPort;
    private boolean closed;

    private EmbeddedKafka(Path dataDir, KafkaRaftServer server, int brokerPort, int controllerPort, int saslPort) {
        this.dataDir = dataDir;
        this.server = server;
        this.brokerPort = brokerPort;
        this.controllerPort = controllerPort;
        this.saslPort = saslPort;
    }

    /** A user of the SASL/PLAIN listener that {@link #start(Path, SaslPlain)} adds. */
    public record SaslPlain(String user, String password) {}

    /**
     * Starts a broker on {@code dataDir}, formatting it first if it is new. Returns when the broker is unfenced and
     * accepts clients (2–4 s warm).
     *
     * @param dataDir directory owned by this broker; created if missing
     * @throws IOException if the directory cannot be prepared
     * @throws IllegalStateException if the broker cannot start (e.g. another broker holds the directory)
     */
    public static EmbeddedKafka start(Path dataDir) throws IOException {
        return start(dataDir, null);
    }

    /**
     * As {@link #start(Path)}, plus (when {@code sasl} is not null) a {@code SASL_PLAINTEXT} listener with the
     * PLAIN mechanism that knows one user ({@link #saslBootstrapServers()}): for testing the client security
     * settings of {@code flowget.kafka.properties.*}. The PLAINTEXT listener stays (inter-broker traffic).
     */
    public static EmbeddedKafka start(Path dataDir, SaslPlain sasl) throws IOException {
        Path dir = dataDir.toAbsolutePath().normalize();
        Path logDir = dir.resolve(LOG_SUBDIR);
        Files.createDirectories(logDir);

        int[] previous = readPorts(dir);
        RuntimeException lastFailure = null;
        for (int attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
            int[] ports = attempt == 1 && previous != null && isFree(previous[0]) && isFree(previous[1])
                    ? previous
                    : freePorts();
            int saslPort = sasl == null ? 0 : freePorts()[0];
            Properties props = brokerProperties(logDir, ports[0], ports[1]);
            if (sasl != null) {
                addSaslListener(props, saslPort, sasl);
            }
            KafkaConfig config = KafkaConfig.fromProps(props, false);
            formatIfNeeded(logDir);
            KafkaRaftServer server = new KafkaRaftServer(config, Time.SYSTEM);
            try {
                server.startup();
            } catch (RuntimeException e) {
                // Usually a port taken between probing and binding; release whatever started and retry.
                LOG.warn("Embedded Kafka did not start on ports {}/{} (attempt {} of {}): {}",
                        ports[0], ports[1], attempt, START_ATTEMPTS, e.toString());
                shutdownQuietly(server);
                lastFailure = e;
                continue;
            }
            writePorts(dir, ports);
            LOG.info("Embedded Kafka started at {}:{} (controller port {}), data in {}",
                    HOST, ports[0], ports[1], dir);
            return new EmbeddedKafka(dir, server, ports[0], ports[1], saslPort);
        }
        throw new IllegalStateException("Embedded Kafka could not start on " + dir, lastFailure);
    }

    /** {@code 127.0.0.1:<port>} of the PLAINTEXT listener. */
    public String bootstrapServers() {
        return HOST + ":" + brokerPort;
    }

    /** {@code 127.0.0.1:<port>} of the SASL_PLAINTEXT listener ({@link #start(Path, SaslPlain)} only). */
    public String saslBootstrapServers() {
        if (saslPort == 0) {
            throw new IllegalStateException("this broker has no SASL listener");
        }
        return HOST + ":" + saslPort;
    }

    /** The data directory given to {@link #start(Path)} (absolute). */
    public Path dataDir() {
        return dataDir;
    }

    /** Port of the controller (KRaft) listener; exposed for diagnostics and tests. */
    public int controllerPort() {
        return controllerPort;
    }

    /**
     * Creates the topics with {@code partitions} partitions and replication factor 1, then waits until every
     * partition has a leader, so producers and consumers can use them at once. Topics that already exist are left
     * as they are (also when their partition count differs, which is logged).
     */
    public void createTopics(int partitions, String... names) {
        if (partitions < 1) {
            throw new IllegalArgumentException("partitions must be >= 1, got " + partitions);
        }
        if (names.length == 0) {
            return;
        }
        List<NewTopic> topics = new ArrayList<>();
        for (String name : names) {
            topics.add(new NewTopic(name, partitions, (short) 1));
        }
        try (Admin admin = KafkaClients.admin(bootstrapServers(), ADMIN_TIMEOUT, "flowget-embedded-admin")) {
            Map<String, KafkaFuture<Void>> results = admin.createTopics(topics).values();
            for (Map.Entry<String, KafkaFuture<Void>> e : results.entrySet()) {
                try {
                    e.getValue().get(ADMIN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
                } catch (ExecutionException ex) {
                    if (!(ex.getCause() instanceof TopicExistsException)) {
                        throw new IllegalStateException("Could not create topic " + e.getKey(), ex.getCause());
                    }
                }
            }
            awaitLeaders(admin, Arrays.asList(names), partitions);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Interrupted while creating topics", e);
        } catch (TimeoutException e) {
            throw new IllegalStateException("Timed out creating topics " + Arrays.toString(names), e);
        }
    }

    /** Shuts the broker down and waits until it has stopped. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        server.shutdown();
        server.awaitShutdown();
        LOG.info("Embedded Kafka at {} stopped", bootstrapServers());
    }

    // ---- internals -------------------------------------------------------------------------------

    private static void awaitLeaders(Admin admin, List<String> names, int requestedPartitions)
            throws InterruptedException, TimeoutException {
        long deadline = System.nanoTime() + ADMIN_TIMEOUT.toNanos();
        while (true) {
            try {
                Map<String, TopicDescription> descriptions =
                        admin.describeTopics(names).allTopicNames().get(ADMIN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
                boolean ready = descriptions.values().stream()
                        .flatMap(d -> d.partitions().stream())
                        .map(TopicPartitionInfo::leader)
                        .allMatch(leader -> leader != null && !leader.isEmpty());
                if (ready) {
                    descriptions.values().stream()
                            .filter(d -> d.partitions().size() != requestedPartitions)
                            .forEach(d -> LOG.info("Topic {} already exists with {} partitions (asked for {}); kept as is",
                                    d.name(), d.partitions().size(), requestedPartitions));
                    return;
                }
            } catch (ExecutionException e) {
                // The broker's metadata cache may not know a just-created topic yet.
                if (!(e.getCause() instanceof UnknownTopicOrPartitionException)) {
                    throw new IllegalStateException("Could not describe topics " + names, e.getCause());
                }
            }
            if (System.nanoTime() > deadline) {
                throw new TimeoutException("Topics " + names + " have no leader after " + ADMIN_TIMEOUT);
            }
            Thread.sleep(50); // bounded by the deadline above; the poll interval of a metadata wait
        }
    }

    private static void addSaslListener(Properties p, int port, SaslPlain sasl) {
        p.put("listeners", p.get("listeners") + ",SASL_PLAINTEXT://" + HOST + ":" + port);
        p.put("advertised.listeners", p.get("advertised.listeners") + ",SASL_PLAINTEXT://" + HOST + ":" + port);
        p.put("listener.security.protocol.map", p.get("listener.security.protocol.map") + ",SASL_PLAINTEXT:SASL_PLAINTEXT");
        p.put("sasl.enabled.mechanisms", "PLAIN");
        p.put(
                "listener.name.sasl_plaintext.plain.sasl.jaas.config",
                "org.apache.kafka.common.security.plain.PlainLoginModule required user_" + sasl.user() + "=\""
                        + sasl.password() + "\";");
    }

    private static Properties brokerProperties(Path logDir, int brokerPort, int controllerPort) {
        Properties p = new Properties();
        p.put("process.roles", "broker,controller");
        p.put("node.id", Integer.toString(NODE_ID));
        // Static one-voter quorum, read from the config at every start: the controller port may change.
        p.put("controller.quorum.voters", NODE_ID + "@" + HOST + ":" + controllerPort);
        p.put("listeners", "PLAINTEXT://" + HOST + ":" + brokerPort + ",CONTROLLER://" + HOST + ":" + controllerPort);
        p.put("advertised.listeners", "PLAINTEXT://" + HOST + ":" + brokerPort);
        p.put("controller.listener.names", "CONTROLLER");
        p.put("inter.broker.listener.name", "PLAINTEXT");
        p.put("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
        p.put("log.dirs", logDir.toString());
        p.put("auto.create.topics.enable", "false");
        // The default 128 MiB dedupe buffer is allocated on the heap at start; the compacted topics here are tiny.
        p.put("log.cleaner.dedupe.buffer.size", Integer.toString(2 * 1024 * 1024));
        // One node: every internal topic with one replica and one partition.
        p.put("offsets.topic.replication.factor", "1");
        p.put("offsets.topic.num.partitions", "1");
        p.put("transaction.state.log.replication.factor", "1");
        p.put("transaction.state.log.min.isr", "1");
        p.put("transaction.state.log.num.partitions", "1");
        p.put("share.coordinator.state.topic.replication.factor", "1");
        p.put("share.coordinator.state.topic.min.isr", "1");
        p.put("group.initial.rebalance.delay.ms", "0");
        p.put("transaction.max.timeout.ms", Long.toString(TRANSACTION_MAX_TIMEOUT.toMillis()));
        p.put("transaction.abort.timed.out.transaction.cleanup.interval.ms", "1000");
        // After a SIGKILL the restarted controller rejects the new broker registration as a duplicate until the
        // dead incarnation's session expires: 9 s by default, measured here as a 12 s start. Heartbeats stay on
        // loopback inside one JVM, so a 3 s session (6 missed heartbeats) is safe and cuts that wait to ~3 s.
        p.put("broker.heartbeat.interval.ms", "500");
        p.put("broker.session.timeout.ms", "3000");
        // One client (the run's own) on loopback: Kafka's thread pools are sized for a shared broker (3 network
        // threads per listener, 8 request handlers, 10 background threads, 4 group-coordinator threads). Fewer
        // threads start faster and hold fewer stacks (issue 16: RSS per component).
        p.put("num.network.threads", "1");
        p.put("num.io.threads", "2");
        p.put("background.threads", "2");
        p.put("num.recovery.threads.per.data.dir", "1");
        p.put("group.coordinator.threads", "1");
        return p;
    }

    /**
     * Formats {@code logDir} unless it already holds meta.properties. A formatted dir keeps its own cluster id;
     * setIgnoreFormatted is set as well, so a dir formatted by a concurrent start is not an error.
     */
    private static void formatIfNeeded(Path logDir) throws IOException {
        MetaPropertiesEnsemble ensemble =
                new MetaPropertiesEnsemble.Loader().addLogDirs(List.of(logDir.toString())).load();
        if (!ensemble.errorLogDirs().isEmpty()) {
            throw new IOException("Kafka log dir is unreadable: " + logDir);
        }
        Optional<String> existing = ensemble.clusterId();
        if (existing.isPresent()) {
            LOG.info("Reusing Kafka log dir {} (cluster id {})", logDir, existing.get());
            return;
        }
        String clusterId = Uuid.randomUuid().toString();
        ByteArrayOutputStream formatterOutput = new ByteArrayOutputStream();
        try (PrintStream out = new PrintStream(formatterOutput, true, StandardCharsets.UTF_8)) {
            new Formatter()
                    .setPrintStream(out)
                    .setNodeId(NODE_ID)
                    .setClusterId(clusterId)
                    .setControllerListenerName("CONTROLLER")
                    .setMetadataLogDirectory(logDir.toString())
                    .addDirectory(logDir.toString())
                    .setHasDynamicQuorum(false)
                    .setIgnoreFormatted(true)
                    // TV1, not the 4.2 default TV2: see the class comment and PLATFORM-NOTES §3.
                    .setFeatureLevel(TransactionVersion.FEATURE_NAME, TransactionVersion.TV_1.featureLevel())
                    .run();
        } catch (IOException | RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IOException("Could not format Kafka log dir " + logDir + ": " + formatterOutput, e);
        }
        LOG.info("Formatted Kafka log dir {} (cluster id {}, transaction.version=1)", logDir, clusterId);
    }

    private static int[] readPorts(Path dir) {
        Path file = dir.resolve(PORTS_FILE);
        if (!Files.isRegularFile(file)) {
            return null;
        }
        Properties p = new Properties();
        try (InputStream in = Files.newInputStream(file)) {
            p.load(in);
            int broker = Integer.parseInt(p.getProperty(BROKER_PORT_KEY, "").trim());
            int controller = Integer.parseInt(p.getProperty(CONTROLLER_PORT_KEY, "").trim());
            if (broker > 0 && broker < 65536 && controller > 0 && controller < 65536 && broker != controller) {
                return new int[] {broker, controller};
            }
        } catch (IOException | NumberFormatException e) {
            LOG.warn("Ignoring unreadable {}: {}", file, e.toString());
        }
        return null;
    }

    private static void writePorts(Path dir, int[] ports) {
        Properties p = new Properties();
        p.setProperty(BROKER_PORT_KEY, Integer.toString(ports[0]));
        p.setProperty(CONTROLLER_PORT_KEY, Integer.toString(ports[1]));
        Path file = dir.resolve(PORTS_FILE);
        Path tmp = dir.resolve(PORTS_FILE + ".tmp");
        try {
            try (OutputStream out = Files.newOutputStream(tmp)) {
                p.store(out, "Ports of the last embedded Kafka start; reused when free");
            }
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            // Only a convenience: the next start falls back to fresh ports.
            LOG.warn("Could not record the Kafka ports in {}: {}", file, e.toString());
        }
    }

    private static boolean isFree(int port) {
        try (ServerSocket s = new ServerSocket()) {
            s.setReuseAddress(true);
            s.bind(new InetSocketAddress(InetAddress.getByName(HOST), port));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** Two distinct free loopback ports. Both must be known before formatting and configuring. */
    private static int[] freePorts() {
        try (ServerSocket a = new ServerSocket(0, 50, InetAddress.getByName(HOST));
                ServerSocket b = new ServerSocket(0, 50, InetAddress.getByName(HOST))) {
            return new int[] {a.getLocalPort(), b.getLocalPort()};
        } catch (IOException e) {
            throw new UncheckedIOException("No free loopback port", e);
        }
    }

    private static void shutdownQuietly(KafkaRaftServer server) {
        try {
            server.shutdown();
            server.awaitShutdown();
        } catch (RuntimeException e) {
            LOG.debug("Ignoring failure while stopping a broker that did not start", e);
        }
    }
}
