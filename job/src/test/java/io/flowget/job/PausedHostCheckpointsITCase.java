package io.flowget.job;

import io.flowget.job.diff.Topics;
import io.flowget.job.embedded.EmbeddedFlink;
import io.flowget.job.embedded.EmbeddedKafka;
import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.http.HttpClientHolder;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 12, "a paused, throttled or dead host never stops checkpoints", end to end: the unbounded job on a
 * MiniCluster with RocksDB and 1 s checkpoints over the embedded broker, one subtask (the worst case: every host
 * shares it). One host answers {@code 503 + Retry-After: 300} and holds a full backlog
 * ({@code flowget.fetch.max-host-backlog} requests waiting, the rest refused {@code queue full}); 20 more hosts have
 * names whose DNS lookups hang (a test resolver holds them). Beside both, every request of a healthy host gets its
 * OK result (results are read committed, so each arrives only through a completed checkpoint), and while the paused
 * backlog and the hanging lookups are still in place, checkpoints keep completing: at least {@link #MORE_CHECKPOINTS}
 * more within 60 s (the interval is 1 s), the job never restarts. Bounded everywhere; no rate assertions.
 */
class PausedHostCheckpointsITCase {
    static final int HEALTHY = 300;
    static final int PAUSED_BACKLOG = 400;
    static final int PAUSED_REFUSED = 50;
    static final int SLOW_NAMES = 20;
    static final int MORE_CHECKPOINTS = 5;

    @TempDir Path tmp;

    @Test
    void checkpointsAndHealthyHostsGoOnBesideAPausedHostAndSlowDns() throws Exception {
        CountDownLatch releaseDns = new CountDownLatch(1);
        AtomicInteger slowLookups = new AtomicInteger();
        assertThat(HttpClientHolder.liveClients()).as("no client from an earlier test (it would skip the resolver)")
                .isZero();
        HttpClientHolder.lookupForTests(name -> {
            if (name.startsWith("slow-")) {
                slowLookups.incrementAndGet();
                try {
                    releaseDns.await(3, TimeUnit.MINUTES);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            return new InetAddress[] {InetAddress.getByName("127.0.0.1")};
        });
        try (TestOrigin healthy = TestOrigin.start("127.0.0.1");
                TestOrigin paused = TestOrigin.start("127.0.0.2");
                EmbeddedKafka kafka = EmbeddedKafka.start(tmp.resolve("kafka"))) {
            kafka.createTopics(1, "flowget.requests", "flowget.results", "flowget.dead-letter");
            paused.route("/p", (req, resp, cb, n) -> {
                resp.getHeaders().put("Retry-After", "300");
                TestOrigin.send(resp, cb, 503, new byte[0]);
            });
            Map<String, byte[]> bodies = new HashMap<>();
            List<String[]> records = new ArrayList<>();
            for (int i = 0; i < PAUSED_BACKLOG + PAUSED_REFUSED; i++) {
                records.add(event("paused-" + i, paused.url("/p")));
            }
            for (int i = 0; i < SLOW_NAMES; i++) {
                healthy.file("/s" + i, TestOrigin.content("s" + i, 1000));
                records.add(event("slow-" + i, "http://slow-" + i + ".test:" + healthy.port() + "/s" + i));
            }
            for (int i = 0; i < HEALTHY; i++) {
                byte[] body = TestOrigin.content("h" + i, 2000 + i);
                healthy.file("/h" + i, body);
                bodies.put("healthy-" + i, body);
                records.add(event("healthy-" + i, healthy.url("/h" + i)));
            }
            produce(kafka.bootstrapServers(), records);

            Configuration conf = new Configuration();
            conf.set(FlowgetOptions.STORAGE_OUT_DIR, tmp.resolve("out").toString());
            conf.set(FlowgetOptions.STORAGE_STAGING_DIR, tmp.resolve("partial").toString());
            conf.set(FlowgetOptions.FETCH_MAX_HOST_BACKLOG, PAUSED_BACKLOG);
            conf.set(FlowgetOptions.DNS_TIMEOUT, Duration.ofMinutes(3)); // the held lookups never time out here
            conf.set(FlowgetOptions.NET_POSTURE, FlowgetOptions.NetPosture.LOCAL); // the origins are on loopback
            conf.set(JobOptions.KAFKA_BOOTSTRAP_SERVERS, kafka.bootstrapServers());
            try (EmbeddedFlink flink =
                    EmbeddedFlink.start(conf, tmp.resolve("checkpoints"), tmp.resolve("flink-tmp"), 1, 1)) {
                Configuration jobConf = flink.configuration();
                jobConf.set(PipelineOptions.NAME, "flowget paused host beside checkpoints");
                StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(jobConf);
                FlowgetJob.kafka(jobConf, false).build(env);
                JobID job = flink.submit(env);

                // Every healthy request and every refused paused one gets its result through a checkpoint.
                List<FetchResult> results = await(kafka.bootstrapServers(), flink, job, Duration.ofMinutes(4),
                        rs -> count(rs, "healthy-") >= HEALTHY && count(rs, "paused-") >= PAUSED_REFUSED);
                long before = flink.completedCheckpoints(job);
                long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
                long after = before;
                while (after < before + MORE_CHECKPOINTS && System.nanoTime() < deadline) {
                    Thread.sleep(200);
                    after = flink.completedCheckpoints(job);
                }
                List<FetchResult> during = read(kafka.bootstrapServers());
                int lookupsHeld = slowLookups.get();
                System.out.printf("PausedHostCheckpointsITCase: %d healthy OK, %d paused refused, %d paused waiting,"
                        + " %d lookups held; checkpoints completed %d -> %d beside them%n", count(during, "healthy-"),
                        count(during, "paused-"), PAUSED_BACKLOG, lookupsHeld, before, after);

                assertThat(after - before).as("checkpoints completed within 60 s beside the full paused backlog")
                        .isGreaterThanOrEqualTo(MORE_CHECKPOINTS);
                for (FetchResult r : results) {
                    if (r.id.startsWith("healthy-")) {
                        assertThat(r.status).as("%s", r).isEqualTo(ResultStatus.OK);
                        assertThat(Files.readAllBytes(tmp.resolve("out").resolve(r.path))).isEqualTo(bodies.get(r.id));
                    }
                }
                assertThat(during).filteredOn(r -> r.id.startsWith("paused-"))
                        .as("only the requests beyond the paused host's backlog ended (queue full)")
                        .hasSize(PAUSED_REFUSED)
                        .allSatisfy(r -> assertThat(r.error).startsWith("queue full"));
                assertThat(count(during, "slow-")).as("the slow names were still held").isZero();
                assertThat(lookupsHeld).as("lookups were hanging meanwhile").isPositive();
                assertThat(paused.totalRequests()).as("the paused host was asked, then left alone").isBetween(1, 8);
                assertThat(PoisonCatalogueITCase.restarts(flink.executionGraph(job))).as("numRestarts").isZero();
                assertThat(flink.executionGraph(job).getStatusTimestamp(JobStatus.RESTARTING)).isZero();

                releaseDns.countDown();
                List<FetchResult> end = await(kafka.bootstrapServers(), flink, job, Duration.ofMinutes(2),
                        rs -> count(rs, "slow-") >= SLOW_NAMES);
                assertThat(end).filteredOn(r -> r.id.startsWith("slow-"))
                        .as("once their names answer, the slow hosts' requests complete")
                        .hasSize(SLOW_NAMES)
                        .allSatisfy(r -> assertThat(r.status).isEqualTo(ResultStatus.OK));
                flink.cancel(job);
            }
        } finally {
            releaseDns.countDown();
            HttpClientHolder.lookupForTests(null);
        }
    }

    private static String[] event(String id, String url) {
        return new String[] {id, "{\"id\":\"" + id + "\",\"url\":\"" + url + "\"}"};
    }

    private static void produce(String servers, List<String[]> records) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, servers);
        try (KafkaProducer<String, String> producer =
                new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
            for (String[] r : records) {
                producer.send(new ProducerRecord<>("flowget.requests", r[0], r[1]));
            }
            producer.flush();
        }
    }

    /** Reads the committed results until {@code done} holds (fails after {@code timeout} or if the job ended). */
    private static List<FetchResult> await(String servers, EmbeddedFlink flink, JobID job, Duration timeout,
            Predicate<List<FetchResult>> done) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            List<FetchResult> results = read(servers);
            if (done.test(results)) {
                return results;
            }
            assertThat(flink.status(job).isGloballyTerminalState()).as("job ended early").isFalse();
            assertThat(System.nanoTime()).as("results in time (have %d)", results.size()).isLessThan(deadline);
            Thread.sleep(500);
        }
    }

    private static List<FetchResult> read(String servers) {
        return Topics.readAll(servers, "flowget.results").stream().map(PoisonCatalogueITCase::result).toList();
    }

    private static int count(List<FetchResult> results, String prefix) {
        return (int) results.stream().filter(r -> r.id.startsWith(prefix)).count();
    }
}
