package io.flowget.cluster;

import io.flowget.job.embedded.EmbeddedKafka;
import io.flowget.job.kafka.KafkaClients;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.File;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The cluster jar in application mode, the way the Kubernetes operator and the image's {@code standalone-job} run it:
 * a JobManager process started through Flink's own {@code StandaloneApplicationClusterEntryPoint} with
 * {@code --jars flowget-cluster.jar --job-classname io.flowget.job.cli.FlowgetCli job}, and a TaskManager process
 * ({@code TaskManagerRunner}), both on the provided class path only (what the image's {@code lib/} holds,
 * {@code target/flink-lib.classpath}), against the embedded broker. The job must run, take a checkpoint, publish a
 * result committed with it, and keep running: {@code main} returns after a detached submission and must not call
 * {@link System#exit}, which would stop the JobManager with its job (a crash loop under the operator).
 *
 * <p>Lean on purpose: one request (a malformed event, which needs no origin: its FAILED result proves the source, the
 * operator and the transactional sink), 1 s checkpoints, one slot. Every wait is bounded; the processes are destroyed
 * at the end whatever happens.
 */
class ApplicationModeITCase {
    private static final Duration STARTUP = Duration.ofMinutes(2);
    private static final Duration WAIT = Duration.ofMinutes(1);
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * The JVM options the Flink distribution's scripts add on Java 17 ({@code env.java.default-opts.all} of its
     * config.yaml): Flink's own code opens these JDK internals (e.g. the DataStream V2 translators at job submission).
     */
    private static final List<String> FLINK_JAVA_OPTS =
            List.of(
                    "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
                    "--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
                    "--add-opens=java.base/java.lang=ALL-UNNAMED",
                    "--add-opens=java.base/java.net=ALL-UNNAMED",
                    "--add-opens=java.base/java.io=ALL-UNNAMED",
                    "--add-opens=java.base/java.nio=ALL-UNNAMED",
                    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
                    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
                    "--add-opens=java.base/java.text=ALL-UNNAMED",
                    "--add-opens=java.base/java.time=ALL-UNNAMED",
                    "--add-opens=java.base/java.util=ALL-UNNAMED",
                    "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
                    "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
                    "--add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED");

    private final List<Process> processes = new ArrayList<>();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    @AfterEach
    void stopProcesses() throws InterruptedException {
        for (Process p : processes) {
            p.destroy();
        }
        for (Process p : processes) {
            if (!p.waitFor(20, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void jobRunsTakesACheckpointAndKeepsRunning() throws Exception {
        Path jar = Path.of("target/flowget-cluster.jar").toAbsolutePath();
        assertThat(jar).as("built by `mvn package` in the cluster module").isRegularFile();
        String flinkLib = Files.readString(Path.of("target/flink-lib.classpath")).trim();
        Path dir = Files.createTempDirectory(Path.of(System.getProperty("java.io.tmpdir")), "app-mode-");
        Path log4j = repoRoot().resolve("conf/log4j2.properties");

        try (EmbeddedKafka kafka = EmbeddedKafka.start(dir.resolve("kafka"))) {
            kafka.createTopics(1, "flowget.requests", "flowget.results", "flowget.dead-letter");
            int rest = freePort();
            Path conf = Files.createDirectories(dir.resolve("conf"));
            Files.writeString(
                    conf.resolve("config.yaml"),
                    String.join(
                            "\n",
                            "jobmanager.rpc.address: 127.0.0.1",
                            "jobmanager.rpc.port: " + freePort(),
                            "jobmanager.bind-host: 127.0.0.1",
                            "taskmanager.bind-host: 127.0.0.1",
                            "taskmanager.host: 127.0.0.1",
                            "rest.address: 127.0.0.1",
                            "rest.bind-address: 127.0.0.1",
                            "rest.port: " + rest,
                            "jobmanager.memory.process.size: 768m",
                            // Started without Flink's scripts, a TaskManager needs what they compute (BashJavaUtils).
                            "taskmanager.cpu.cores: 1",
                            "taskmanager.memory.framework.heap.size: 64m",
                            "taskmanager.memory.framework.off-heap.size: 64m",
                            "taskmanager.memory.task.heap.size: 256m",
                            "taskmanager.memory.task.off-heap.size: 0m",
                            "taskmanager.memory.network.min: 32m",
                            "taskmanager.memory.network.max: 32m",
                            "taskmanager.memory.managed.size: 64m",
                            "taskmanager.memory.jvm-metaspace.size: 256m",
                            "taskmanager.memory.jvm-overhead.min: 192m",
                            "taskmanager.memory.jvm-overhead.max: 192m",
                            "taskmanager.numberOfTaskSlots: 1",
                            "parallelism.default: 1",
                            "io.tmp.dirs: " + dir.resolve("io-tmp"),
                            "user.artifacts.base-dir: " + dir.resolve("artifacts"),
                            "state.backend.type: rocksdb",
                            "execution.checkpointing.interval: 1 s",
                            "execution.checkpointing.dir: " + dir.resolve("checkpoints").toUri(),
                            "pipeline.auto-generate-uids: false",
                            "pipeline.generic-types: false",
                            // The job's own settings come from the cluster configuration, as in a FlinkDeployment.
                            "flowget.kafka.bootstrap-servers: " + kafka.bootstrapServers(),
                            "flowget.storage.out-dir: " + dir.resolve("out"),
                            ""));

            processes.add(
                    start(
                            dir.resolve("jobmanager.log"),
                            flinkLib,
                            log4j,
                            "-Xmx400m",
                            "org.apache.flink.container.entrypoint.StandaloneApplicationClusterEntryPoint",
                            "--configDir", conf.toString(),
                            "--jars", jar.toUri().toString(),
                            "--job-classname", "io.flowget.job.cli.FlowgetCli",
                            "job"));
            processes.add(
                    start(
                            dir.resolve("taskmanager.log"),
                            flinkLib,
                            log4j,
                            "-Xmx512m",
                            "org.apache.flink.runtime.taskexecutor.TaskManagerRunner",
                            "--configDir", conf.toString()));
            Process jobManager = processes.get(0);
            String base = "http://127.0.0.1:" + rest;

            String jobId =
                    await(
                            STARTUP,
                            jobManager,
                            dir,
                            () -> get(base + "/jobs/overview")
                                    .flatMap(o -> stream(o.path("jobs")).stream()
                                            .filter(j -> j.path("state").asText().equals("RUNNING"))
                                            .map(j -> j.path("jid").asText())
                                            .findFirst()));

            try (KafkaProducer<String, String> producer = KafkaClients.producer(kafka.bootstrapServers()).build()) {
                producer.send(new ProducerRecord<>("flowget.requests", "bad", "{not json")).get(30, TimeUnit.SECONDS);
            }
            JsonNode result;
            try (KafkaConsumer<String, String> consumer = KafkaClients.committedConsumer(kafka.bootstrapServers()).build()) {
                KafkaClients.assignFromBeginning(consumer, "flowget.results", Duration.ofSeconds(30));
                result = await(WAIT, jobManager, dir, () -> firstRecord(consumer));
            }
            assertThat(result.path("status").asText()).isEqualTo("FAILED");

            long completed =
                    await(
                            WAIT,
                            jobManager,
                            dir,
                            () -> get(base + "/jobs/" + jobId + "/checkpoints")
                                    .map(c -> c.at("/counts/completed").asLong())
                                    .filter(n -> n >= 2));
            assertThat(completed).isGreaterThanOrEqualTo(2);
            assertThat(jobManager.isAlive()).as("JobManager still up after the job's checkpoints").isTrue();
            assertThat(get(base + "/jobs/" + jobId).map(j -> j.path("state").asText())).contains("RUNNING");
        }
    }

    /** The first committed record's value as JSON, if one arrived within one poll. */
    private static Optional<JsonNode> firstRecord(KafkaConsumer<String, String> consumer) {
        for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) {
            try {
                return Optional.of(JSON.readTree(r.value()));
            } catch (IOException e) {
                throw new AssertionError("result is not JSON: " + r.value(), e);
            }
        }
        return Optional.empty();
    }

    /** Polls until {@code probe} yields a value; fails early, with the JobManager's log, when it has exited. */
    private static <T> T await(Duration bound, Process jobManager, Path dir, Supplier<Optional<T>> probe)
            throws Exception {
        long deadline = System.nanoTime() + bound.toNanos();
        while (System.nanoTime() < deadline) {
            if (!jobManager.isAlive()) {
                throw new AssertionError(
                        "JobManager exited with status " + jobManager.exitValue() + "; log tail:\n" + tail(dir.resolve("jobmanager.log")));
            }
            Optional<T> v = probe.get();
            if (v.isPresent()) {
                return v.get();
            }
            Thread.sleep(250);
        }
        throw new AssertionError("not within " + bound + "; JobManager log tail:\n" + tail(dir.resolve("jobmanager.log")));
    }

    private Optional<JsonNode> get(String url) {
        try {
            HttpResponse<String> r =
                    http.send(
                            HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(5)).build(),
                            HttpResponse.BodyHandlers.ofString());
            return r.statusCode() == 200 ? Optional.of(JSON.readTree(r.body())) : Optional.empty();
        } catch (IOException e) {
            return Optional.empty(); // not listening yet
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    private static List<JsonNode> stream(JsonNode array) {
        List<JsonNode> l = new ArrayList<>();
        array.forEach(l::add);
        return l;
    }

    private static Process start(Path log, String classPath, Path log4j, String heap, String... mainAndArgs)
            throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add(heap);
        cmd.addAll(FLINK_JAVA_OPTS);
        cmd.add("-XX:MaxDirectMemorySize=256m");
        cmd.add("-XX:+UseSerialGC");
        cmd.add("-Djava.io.tmpdir=" + System.getProperty("java.io.tmpdir"));
        cmd.add("-Dlog4j.configurationFile=" + log4j.toUri());
        cmd.add("-cp");
        cmd.add(classPath);
        cmd.addAll(List.of(mainAndArgs));
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    private static String tail(Path log) {
        try {
            List<String> lines = Files.readAllLines(log);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 60), lines.size()));
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private static Path repoRoot() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("conf/log4j2.properties")) && Files.isDirectory(p.resolve("cluster"))) {
                return p;
            }
        }
        throw new IllegalStateException("no repository root above " + Path.of("").toAbsolutePath() + File.separator);
    }
}
