package io.flowget.cluster;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.jar.JarFile;
import java.util.jar.Manifest;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What the cluster artifact {@code cluster/target/flowget-cluster.jar} may and may not contain: the job's classes,
 * the Kafka connector and clients and the fetch libraries, but neither Flink itself (the image's {@code lib/} has
 * it), nor the embedded broker and its Scala, nor Jetty, nor a logging backend or logging configuration (the image's
 * {@code conf/} decides logging), and its size stays bounded. A failsafe test because it reads the packaged jar.
 */
class ClusterJarITCase {
    /**
     * Today 30.9 MB: kafka-clients alone is 10 MB, BouncyCastle and Tink with protobuf (encrypted payloads) about 9 MB,
     * Jackson and HttpClient 5 most of the rest; flowget.jar is 185 MB. A new dependency that needs more must say so
     * here.
     */
    static final long MAX_BYTES = 36L * 1024 * 1024;

    private static final Path JAR = Path.of("target/flowget-cluster.jar");
    private static List<String> entries;
    private static Manifest manifest;

    @BeforeAll
    static void read() throws IOException {
        assertThat(JAR).as("built by `mvn package` in the cluster module").isRegularFile();
        entries = new ArrayList<>();
        try (JarFile jar = new JarFile(JAR.toFile())) {
            jar.stream().forEach(e -> entries.add(e.getName()));
            manifest = jar.getManifest();
        }
    }

    @Test
    void holdsTheJobAndWhatTheImageDoesNotProvide() {
        assertThat(entries)
                .contains(
                        "io/flowget/job/cli/FlowgetCli.class",
                        "io/flowget/job/FlowgetJob.class",
                        "io/flowget/job/diff/DiffJob.class",
                        "io/flowget/udf/config/FlowgetOptions.class",
                        "org/apache/flink/connector/kafka/source/KafkaSource.class",
                        "org/apache/flink/connector/kafka/sink/KafkaSink.class",
                        "org/apache/kafka/clients/consumer/KafkaConsumer.class",
                        "org/apache/hc/client5/http/impl/async/CloseableHttpAsyncClient.class",
                        "com/fasterxml/jackson/databind/ObjectMapper.class",
                        "com/github/benmanes/caffeine/cache/Caffeine.class",
                        "META-INF/services/org.apache.flink.table.factories.Factory");
        assertThat(manifest.getMainAttributes().getValue("Main-Class")).isEqualTo("io.flowget.job.cli.FlowgetCli");
    }

    @Test
    void holdsNoFlinkBrokerScalaJettyOrLogging() {
        List<String> forbidden = new ArrayList<>();
        for (String e : entries) {
            boolean flinkButNotTheConnector =
                    e.startsWith("org/apache/flink/")
                            && !e.startsWith("org/apache/flink/connector/kafka/")
                            && !e.startsWith("org/apache/flink/streaming/connectors/kafka/")
                            // the connector's one legacy class outside its packages
                            && !e.equals("org/apache/flink/streaming/util/serialization/JSONKeyValueDeserializationSchema.class")
                            && !e.endsWith("/");
            if (flinkButNotTheConnector
                    || e.startsWith("scala/")
                    || e.startsWith("kafka/server/")
                    || e.startsWith("kafka/log/")
                    || e.startsWith("org/apache/kafka/raft/")
                    || e.startsWith("org/apache/kafka/controller/")
                    || e.startsWith("org/apache/kafka/metadata/")
                    || e.startsWith("org/eclipse/jetty/")
                    || e.startsWith("org/apache/logging/")
                    || e.startsWith("org/slf4j/")
                    || e.startsWith("ch/qos/logback/")
                    || e.startsWith("org/rocksdb/")
                    || e.contains("librocksdbjni")
                    || e.equals("log4j2.properties")
                    || e.equals("log4j2-test.properties")
                    || e.equals("log4j.properties")) {
                forbidden.add(e);
            }
        }
        assertThat(forbidden).isEmpty();
    }

    @Test
    void isSlim() throws IOException {
        long size = Files.size(JAR);
        assertThat(size).isLessThan(MAX_BYTES).isGreaterThan(1024L * 1024);
    }

    @Test
    void carriesOnlyLinuxCompressionNatives() {
        assertThat(entries)
                .filteredOn(e -> e.endsWith(".so") || e.endsWith(".dll") || e.endsWith(".dylib") || e.endsWith(".jnilib"))
                .isNotEmpty()
                .allSatisfy(e -> assertThat(e).containsIgnoringCase("linux").doesNotContain("android"));
    }
}
