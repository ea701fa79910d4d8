package io.flowget.job.deploy;

import io.flowget.job.FlowgetJob;
import io.flowget.job.JobOptions;
import io.flowget.job.embedded.EmbeddedFlink;
import io.flowget.job.embedded.EmbeddedKafka;
import io.flowget.job.kafka.KafkaClients;
import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

import com.fasterxml.jackson.databind.JsonNode;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

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
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Every {@code flink_*} metric that the alerts ({@code k8s/namespace/prometheusrule.yaml}) and the Grafana dashboard
 * ({@code k8s/namespace/flowget-dashboard.json}) name is one the job really exports under Prometheus naming: the
 * streaming job ({@code FlowgetJob.kafka}, what the FlinkDeployments run) on a MiniCluster with RocksDB, production's
 * RocksDB native-metric settings (read from the rendered base) and Flink's Prometheus reporter, over the embedded
 * broker and a loopback origin; after results for an OK, a 404 and a malformed request and a checkpoint, the
 * reporter's {@code /metrics} page is scraped and compared. {@code kube_*} series (kube-state-metrics) are not the
 * job's and are left out.
 */
class MetricNamesITCase {
    private static final Pattern FLINK_METRIC = Pattern.compile("\\bflink_[A-Za-z0-9_]+");

    @TempDir Path tmp;

    @Test
    void everyFlinkMetricOfTheAlertsAndTheDashboardIsExported() throws Exception {
        Set<String> named = namedMetrics();
        assertThat(named).hasSizeGreaterThan(20);

        int port = freePort();
        Configuration conf = new Configuration();
        K8sManifestsTest.flinkConf(Kustomize.deployment("flowget")).toMap().forEach((k, v) -> {
            if (k.startsWith("state.backend.rocksdb.metrics.")) {
                conf.setString(k, v);
            }
        });
        conf.setString("metrics.reporter.prom.factory.class", "org.apache.flink.metrics.prometheus.PrometheusReporterFactory");
        conf.setString("metrics.reporter.prom.port", Integer.toString(port));
        conf.set(FlowgetOptions.NET_POSTURE, FlowgetOptions.NetPosture.LOCAL); // the origin is on loopback
        conf.set(FlowgetOptions.STORAGE_OUT_DIR, tmp.resolve("out").toString());
        conf.set(FlowgetOptions.STORAGE_STAGING_DIR, tmp.resolve("partial").toString());

        try (TestOrigin origin = TestOrigin.start("127.0.0.1");
                EmbeddedKafka kafka = EmbeddedKafka.start(tmp.resolve("kafka"))) {
            origin.file("/ok.bin", TestOrigin.content("ok", 1000));
            kafka.createTopics(1, "flowget.requests", "flowget.results", "flowget.dead-letter");
            conf.set(JobOptions.KAFKA_BOOTSTRAP_SERVERS, kafka.bootstrapServers());
            try (EmbeddedFlink flink = EmbeddedFlink.start(conf, tmp.resolve("checkpoints"), tmp.resolve("flink-tmp"), 1)) {
                Configuration jobConf = flink.configuration();
                StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(jobConf);
                FlowgetJob.kafka(jobConf, false).build(env);
                JobID job = flink.submit(env);
                try (KafkaProducer<String, String> p = KafkaClients.producer(kafka.bootstrapServers()).build()) {
                    p.send(new ProducerRecord<>("flowget.requests", null, origin.url("/ok.bin")));
                    p.send(new ProducerRecord<>("flowget.requests", null, origin.url("/missing.bin")));
                    p.send(new ProducerRecord<>("flowget.requests", null, "{not json")).get(30, TimeUnit.SECONDS);
                }
                awaitCommittedResults(kafka.bootstrapServers(), 3, Duration.ofMinutes(2));
                flink.triggerCheckpoint(job);

                Set<String> exported = scrape(port);
                // For whoever adds a panel or an alert: every name the job exports, one a line.
                Files.write(Path.of("target/exported-metric-names.txt"), exported);
                Set<String> missing = new TreeSet<>(named);
                missing.removeAll(exported);
                assertThat(missing).as("named by the alerts or the dashboard but not exported (all: target/exported-metric-names.txt)").isEmpty();
                flink.cancel(job);
            }
        }
    }

    /** The flink_* names in the PrometheusRule's expressions and in the dashboard's queries. */
    static Set<String> namedMetrics() {
        Set<String> names = new TreeSet<>();
        Path ns = RepoFiles.repoRoot().resolve(Kustomize.NAMESPACE_DIR);
        for (JsonNode doc : Kustomize.render(ns)) {
            if (doc.path("kind").asText().equals("PrometheusRule")) {
                doc.at("/spec/groups").forEach(g -> g.path("rules").forEach(r -> names.addAll(flinkNames(r.path("expr").asText()))));
            }
        }
        names.addAll(flinkNames(RepoFiles.read(ns.resolve("flowget-dashboard.json"))));
        return names;
    }

    private static Set<String> flinkNames(String text) {
        Set<String> out = new TreeSet<>();
        Matcher m = FLINK_METRIC.matcher(text);
        while (m.find()) {
            out.add(m.group());
        }
        return out;
    }

    private static void awaitCommittedResults(String bootstrap, int n, Duration bound) throws InterruptedException {
        try (KafkaConsumer<String, String> c = KafkaClients.committedConsumer(bootstrap).build()) {
            KafkaClients.assignFromBeginning(c, "flowget.results", Duration.ofSeconds(30));
            int seen = 0;
            long deadline = System.nanoTime() + bound.toNanos();
            while (seen < n) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("only " + seen + " of " + n + " results within " + bound);
                }
                seen += c.poll(Duration.ofMillis(500)).count();
            }
        }
    }

    /** The sample names on the reporter's page (a histogram's quantiles share its name). */
    private static Set<String> scrape(int port) throws IOException, InterruptedException {
        HttpResponse<String> r = HttpClient.newHttpClient()
                .send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics")).timeout(Duration.ofSeconds(30)).build(),
                        HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(200);
        Set<String> names = new TreeSet<>();
        for (String line : r.body().split("\n")) {
            if (!line.isBlank() && !line.startsWith("#")) {
                int end = line.indexOf('{');
                names.add(line.substring(0, end >= 0 ? end : line.indexOf(' ')));
            }
        }
        return names;
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }
}
