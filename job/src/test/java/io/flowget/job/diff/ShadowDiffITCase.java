package io.flowget.job.diff;

import io.flowget.job.FlowgetJob;
import io.flowget.job.JobOptions;
import io.flowget.job.cli.FlowgetCli;
import io.flowget.job.embedded.EmbeddedFlink;
import io.flowget.job.embedded.EmbeddedKafka;
import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.json.Json;
import io.flowget.udf.sql.LatencyBuckets;
import io.flowget.udf.testing.RangeRoute;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.runtime.jobmaster.JobResult;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Shadow verification end to end on real components: an embedded KRaft broker, one MiniCluster (RocksDB) shared
 * by every job, and Jetty origins on two loopback addresses.
 *
 * <p>The fixture runs, once: four flowget jobs over the same 254 requests (production with files and host limit
 * 8; a secondary, a candidate and a broken candidate, all digest-only with host limit 2, as the shadow
 * deployment runs; the broken one with {@link InjectedRegression}), with 4 of the requests on a page whose
 * content changes on every fetch; then four diff jobs: candidate against production with and without the
 * secondary, the broken candidate against production with the secondary, and one over hand-written results that
 * exercises every diff kind in the SQL ({@link SqlCases}). The tests then read the diff and summary topics and run
 * {@code flowget canary} on each summary topic. One fixture, because Flink SQL planning and cluster start are the
 * expensive part.
 */
class ShadowDiffITCase {
    private static final int FILES = 250;
    private static final int LIVE = 4;
    /** Lenient latency bounds: on a shared 2-core machine a request may stall for seconds in one run only. */
    private static final String[] CANARY_LATENCY = {"--max-latency-ratio", "10", "--latency-floor-ms", "1000"};

    @TempDir static Path tmp;

    private static EmbeddedKafka kafka;
    private static EmbeddedFlink flink;
    private static final List<TestOrigin> origins = new ArrayList<>();
    private static String servers;
    /** Topics read so far: every output is complete once the fixture's jobs have finished. */
    private static final Map<String, List<String>> read = new ConcurrentHashMap<>();
    private static Instant started;

    @BeforeAll
    static void runShadowsAndDiffs() throws Exception {
        started = Instant.now();
        kafka = EmbeddedKafka.start(tmp.resolve("kafka"));
        servers = kafka.bootstrapServers();
        flink = EmbeddedFlink.start(new Configuration(), tmp.resolve("checkpoints"), 8);
        TestOrigin a = TestOrigin.start("127.0.0.2");
        TestOrigin b = TestOrigin.start("127.0.0.3");
        origins.add(a);
        origins.add(b);
        kafka.createTopics(2, "requests");

        List<Topics.Rec> requests = new ArrayList<>();
        long now = System.currentTimeMillis();
        for (int i = 0; i < FILES; i++) {
            String path = "/files/f" + i + ".bin";
            byte[] body = TestOrigin.content(path, 100 + (i * 7919) % 20_000);
            if (i % 2 == 0) {
                a.file(path, body);
            } else {
                // Range-capable, as most real origins: production probes with a Range request (206), the
                // digest-only shadows fetch with a plain GET (200).
                b.route(path, RangeRoute.of(body, "\"v" + i + "\""));
            }
            requests.add(request(String.format("req-%03d", i), (i % 2 == 0 ? a : b).url(path), now));
        }
        for (int i = 0; i < LIVE; i++) {
            String path = "/live/" + i;
            // A page that changes on every fetch: production and every shadow see a different version.
            a.route(path, (req, resp, cb, n) -> TestOrigin.send(resp, cb, 200, ("live " + path + " version " + n).getBytes(StandardCharsets.UTF_8)));
            requests.add(request("live-" + i, a.url(path), now));
        }
        Topics.produce(servers, "requests", requests);
        SqlCases.produce(kafka, servers);

        // Flink SQL planning is the slow part (the first planning in a JVM takes 10-20 s here), and it needs no
        // data: the bounded sources fix their end offsets when the job starts. So the four diff jobs are planned
        // on another thread while the flowget jobs run, and submitted once those have finished.
        kafka.createTopics(2, "diffs.identical", "summary.identical", "diffs.no-secondary", "summary.no-secondary",
                "diffs.regression", "summary.regression");
        List<Configuration> diffConfigs = List.of(
                diffConfig("identical", "results.primary", "results.candidate", "results.secondary"),
                diffConfig("no-secondary", "results.primary", "results.candidate", null),
                diffConfig("regression", "results.primary", "results.broken", "results.secondary"),
                SqlCases.diffConfig(flink.configuration(), servers));
        ExecutorService planner = Executors.newSingleThreadExecutor();
        ExecutorService readers = Executors.newFixedThreadPool(5);
        try {
            Future<List<StreamExecutionEnvironment>> planned = planner.submit(() -> {
                List<StreamExecutionEnvironment> envs = new ArrayList<>();
                for (Configuration c : diffConfigs) {
                    envs.add(planDiff(c));
                }
                return envs;
            });

            List<JobID> shadows = new ArrayList<>();
            shadows.add(flowget("primary", true, false));
            shadows.add(flowget("secondary", false, false));
            shadows.add(flowget("candidate", false, false));
            shadows.add(flowget("broken", false, true));
            awaitAll(shadows);

            List<JobID> diffs = new ArrayList<>();
            for (StreamExecutionEnvironment env : planned.get(5, TimeUnit.MINUTES)) {
                diffs.add(flink.submit(env));
            }
            awaitAll(diffs);
            // Every output is final now: read them all at once (one consumer each) rather than test by test.
            List<Future<List<String>>> reads = new ArrayList<>();
            for (String t : List.of("results.primary", "results.candidate", "sql.diffs", "sql.summary")) {
                reads.add(readers.submit(() -> read(t)));
            }
            for (String name : List.of("identical", "no-secondary", "regression")) {
                reads.add(readers.submit(() -> read("diffs." + name)));
                reads.add(readers.submit(() -> read("summary." + name)));
            }
            for (Future<List<String>> f : reads) {
                f.get(1, TimeUnit.MINUTES);
            }
        } finally {
            planner.shutdownNow();
            readers.shutdownNow();
        }
    }

    @AfterAll
    static void stop() throws Exception {
        try {
            if (flink != null) {
                flink.close();
            }
        } finally {
            for (TestOrigin o : origins) {
                o.close();
            }
            if (kafka != null) {
                kafka.close();
            }
        }
    }

    // ---- the cases ---------------------------------------------------------------------------------

    @Test
    void identicalBuildsOnTheSameInputHaveNoDiffsAndPass() throws Exception {
        assertThat(read("diffs.identical")).isEmpty();
        Map<String, Long> s = summaryTotals("summary.identical");
        assertThat(s).containsEntry("compared", (long) FILES + LIVE)
                .containsEntry("matched", (long) FILES + LIVE)
                .containsEntry("differing", 0L)
                .containsEntry("unmatched_primary", 0L)
                .containsEntry("unmatched_candidate", 0L)
                .containsEntry("with_secondary", (long) FILES + LIVE)
                .as("the changing pages are noise: primary and secondary disagree on them")
                .containsEntry("noisy", (long) LIVE);

        Canary c = canary("summary.identical");
        assertThat(c.exit).as(c.err).isZero();
        assertThat(c.json.get("verdict").asText()).isEqualTo("PASS");
        assertThat(c.json.get("compared").asLong()).isEqualTo(FILES + LIVE);
    }

    @Test
    void withoutASecondaryTheChangingPagesAreReportedAsDiffs() throws Exception {
        Map<String, List<String>> kinds = diffKinds("diffs.no-secondary");
        assertThat(kinds.keySet()).containsExactly("live-0", "live-1", "live-2", "live-3");
        kinds.values().forEach(k -> assertThat(k).contains("sha256").doesNotContain("status"));
        assertThat(summaryTotals("summary.no-secondary"))
                .containsEntry("compared", (long) FILES + LIVE)
                .containsEntry("differing", (long) LIVE)
                .containsEntry("diff_sha256", (long) LIVE)
                .containsEntry("with_secondary", 0L);

        Canary c = canary("summary.no-secondary");
        assertThat(c.exit).isEqualTo(1);
        assertThat(c.json.get("verdict").asText()).isEqualTo("FAIL");
        assertThat(c.json.get("reasons").toString()).contains("diff rate");
    }

    @Test
    void everyInjectedRegressionIsReportedAndNothingElse() throws Exception {
        Map<String, List<String>> kinds = diffKinds("diffs.regression");
        Map<String, List<String>> expected = new TreeMap<>();
        for (int i = 0; i < FILES; i++) {
            String id = String.format("req-%03d", i);
            InjectedRegression.Fault f = InjectedRegression.faultOf(id);
            if (f == InjectedRegression.Fault.FAILED) {
                expected.put(id, List.of("status", "http_status", "bytes", "sha256", "error_class"));
            } else if (f == InjectedRegression.Fault.CORRUPT_DIGEST) {
                expected.put(id, List.of("sha256"));
            } else if (f == InjectedRegression.Fault.LOST) {
                expected.put(id, List.of("unmatched_primary"));
            }
        }
        assertThat(expected).as("2%% of %d requests per fault", FILES).hasSize(15);
        // Detected == injected, kind for kind; the changing pages are filtered as noise: no false alarm.
        assertThat(kinds).isEqualTo(expected);

        Map<String, Long> s = summaryTotals("summary.regression");
        assertThat(s).containsEntry("compared", (long) FILES + LIVE - 5)
                .containsEntry("differing", 10L)
                .containsEntry("diff_status", 5L)
                .containsEntry("diff_sha256", 10L)
                .containsEntry("unmatched_primary", 5L)
                .containsEntry("unmatched_candidate", 0L)
                .containsEntry("noisy", (long) LIVE);

        Canary c = canary("summary.regression");
        assertThat(c.exit).isEqualTo(1);
        assertThat(c.json.get("verdict").asText()).isEqualTo("FAIL");
        assertThat(c.json.at("/differing_by_kind/status").asLong()).isEqualTo(5);
        String reasons = c.json.get("reasons").toString();
        assertThat(reasons).contains("diff rate 0.0402 (10 of 249").contains("unmatched rate");
        assertThat(c.err).contains("flowget canary: FAIL: diff rate");
    }

    @Test
    void lostCandidateResultsAreUnmatchedNotMatched() throws Exception {
        Set<String> lost = new TreeSet<>();
        for (int i = 0; i < FILES; i++) {
            String id = String.format("req-%03d", i);
            if (InjectedRegression.faultOf(id) == InjectedRegression.Fault.LOST) {
                lost.add(id);
            }
        }
        Set<String> unmatched = new TreeSet<>();
        for (String v : read("diffs.regression")) {
            JsonNode d = Json.readTree(v);
            if (d.get("kinds").toString().contains("unmatched_primary")) {
                unmatched.add(d.get("id").asText());
                assertThat(d.has("candidate")).isFalse();
                assertThat(d.at("/primary/status").asText()).isEqualTo("OK");
            }
        }
        assertThat(unmatched).isEqualTo(lost);
        Map<String, Long> s = summaryTotals("summary.regression");
        assertThat(s.get("matched") + s.get("differing")).as("lost results are in no comparison").isEqualTo(s.get("compared"));
        assertThat(s.get("compared") + s.get("unmatched_primary")).isEqualTo(FILES + LIVE);
    }

    @Test
    void everyShadowReallyFetchedTheChangingPages() {
        for (int i = 0; i < LIVE; i++) {
            assertThat(origins.get(0).hits("/live/" + i)).as("primary, secondary, candidate, broken").isEqualTo(4);
        }
    }

    @Test
    void shadowsKeepDigestsButNoFiles() throws Exception {
        Map<String, String> production = new HashMap<>();
        for (String v : read("results.primary")) {
            JsonNode r = Json.readTree(v);
            production.put(r.get("id").asText(), r.path("sha256").asText());
        }
        assertThat(read("results.primary")).as("production fetched the range-capable files by Range")
                .anySatisfy(v -> assertThat(v).contains("\"http_status\":206"));
        List<String> candidate = read("results.candidate");
        assertThat(candidate).hasSize(FILES + LIVE);
        for (String v : candidate) {
            JsonNode r = Json.readTree(v);
            assertThat(r.get("status").asText()).as("%s", v).isEqualTo("OK");
            if (r.get("id").asText().startsWith("req-")) {
                assertThat(r.get("sha256").asText()).isEqualTo(production.get(r.get("id").asText()));
            }
        }
        try (var files = Files.walk(tmp.resolve("out-primary"))) {
            assertThat(files.filter(Files::isRegularFile).count()).isEqualTo(FILES + LIVE);
        }
        try (var files = Files.walk(tmp.resolve("out-candidate"))) {
            assertThat(files.filter(Files::isRegularFile).count()).as("digest-only stores nothing").isZero();
        }
    }

    @Test
    void sqlReportsEveryKnownDisagreementAndOnlyThose() throws Exception {
        SqlCases.check(servers);
    }

    // ---- helpers -----------------------------------------------------------------------------------

    /** Every committed record of an output topic, read once. */
    static List<String> read(String topic) {
        return read.computeIfAbsent(topic, t -> Topics.readAll(servers, t));
    }

    private static Topics.Rec request(String id, String url, long ts) {
        return new Topics.Rec(id, "{\"id\":\"" + id + "\",\"url\":\"" + url + "\"}", ts);
    }

    /** Submits a bounded flowget job reading "requests" as deployment {@code name}. */
    private static JobID flowget(String name, boolean production, boolean broken) throws Exception {
        Configuration c = flink.configuration();
        c.set(CoreOptions.DEFAULT_PARALLELISM, 1);
        c.set(PipelineOptions.NAME, "flowget " + name);
        c.set(JobOptions.KAFKA_BOOTSTRAP_SERVERS, servers);
        c.set(JobOptions.KAFKA_REQUESTS_TOPIC, "requests");
        c.set(JobOptions.KAFKA_RESULTS_TOPIC, "results." + name);
        c.set(JobOptions.KAFKA_DEAD_LETTER_TOPIC, "dead-letter." + name);
        c.set(JobOptions.KAFKA_GROUP_ID, "flowget-" + name);
        c.set(JobOptions.KAFKA_TRANSACTIONAL_ID_PREFIX, "tx-" + name);
        c.set(FlowgetOptions.STORAGE_OUT_DIR, tmp.resolve("out-" + name).toString());
        c.set(FlowgetOptions.NET_POSTURE, FlowgetOptions.NetPosture.LOCAL); // the origins are on loopback
        // As k8s/overlays/production and k8s/overlays/shadow: shadows keep digests only and a lower host limit.
        c.set(FlowgetOptions.SINK_MODE, production ? FlowgetOptions.SinkMode.FILES : FlowgetOptions.SinkMode.DIGEST_ONLY);
        c.set(FlowgetOptions.HOST_MAX_CONCURRENCY, production ? 8 : 2);
        kafka.createTopics(2, "results." + name, "dead-letter." + name);
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(c);
        FlowgetJob job = FlowgetJob.kafka(c, true);
        if (broken) {
            job.withResultsFault(new InjectedRegression());
        }
        job.build(env);
        return flink.submit(env);
    }

    private static Configuration diffConfig(String name, String primary, String candidate, String secondary) {
        Configuration c = flink.configuration();
        c.set(JobOptions.KAFKA_BOOTSTRAP_SERVERS, servers);
        c.set(DiffOptions.PRIMARY_TOPIC, primary);
        c.set(DiffOptions.CANDIDATE_TOPIC, candidate);
        if (secondary != null) {
            c.set(DiffOptions.SECONDARY_TOPIC, secondary);
        }
        c.set(DiffOptions.DIFFS_TOPIC, "diffs." + name);
        c.set(DiffOptions.SUMMARY_TOPIC, "summary." + name);
        c.set(DiffOptions.GROUP_ID, "diff-" + name);
        c.set(DiffOptions.TRANSACTIONAL_ID_PREFIX, "tx-diff-" + name);
        c.set(DiffOptions.JOIN_INTERVAL, Duration.ofMinutes(5));
        // Per-request latency is covered by the SQL cases; here a scheduling stall must not make a diff.
        c.set(DiffOptions.LATENCY_MIN_DELTA, Duration.ofSeconds(30));
        return c;
    }

    /** A bounded diff job, planned into an environment that is ready to submit. */
    private static StreamExecutionEnvironment planDiff(Configuration c) {
        c.set(CoreOptions.DEFAULT_PARALLELISM, 2);
        // As deployed (conf/config.yaml): no generated uids; the diff job has the planner set them.
        c.set(PipelineOptions.AUTO_GENERATE_UIDS, false);
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(c);
        new DiffJob(c, true).build(env);
        return env;
    }

    private static void awaitAll(List<JobID> jobs) throws Exception {
        for (JobID id : jobs) {
            JobResult r = flink.await(id, Duration.ofMinutes(4));
            assertThat(r.isSuccess()).as("job %s: %s", id, r.getSerializedThrowable()).isTrue();
        }
    }

    /** Diff records of a topic: id → kinds (sorted when an id has several records). */
    static Map<String, List<String>> diffKinds(String topic) throws Exception {
        Map<String, List<String>> kinds = new TreeMap<>();
        for (String v : read(topic)) {
            JsonNode d = Json.readTree(v);
            List<String> k = new ArrayList<>();
            d.get("kinds").forEach(x -> k.add(x.asText()));
            kinds.merge(d.get("id").asText(), k, (x, y) -> {
                List<String> both = new ArrayList<>(x);
                both.addAll(y);
                both.sort(null);
                return both;
            });
        }
        return kinds;
    }

    /** Numeric fields of all summaries of a topic, added up; the latency histograms as their total counts. */
    static Map<String, Long> summaryTotals(String topic) throws Exception {
        Map<String, Long> totals = new TreeMap<>();
        for (String v : read(topic)) {
            JsonNode w = Json.readTree(v);
            w.fields().forEachRemaining(e -> {
                if (e.getValue().isNumber()) {
                    totals.merge(e.getKey(), e.getValue().asLong(), Long::sum);
                } else if (e.getValue().isObject()) {
                    Map<String, Long> h = new HashMap<>();
                    e.getValue().fields().forEachRemaining(x -> h.put(x.getKey(), x.getValue().asLong()));
                    totals.merge(e.getKey() + "_count", LatencyBuckets.count(h), Long::sum);
                }
            });
        }
        return totals;
    }

    private record Canary(int exit, JsonNode json, String err) {}

    /** {@code flowget canary} through the command line, over everything since the fixture started. */
    private static Canary canary(String summaryTopic) throws Exception {
        List<String> args = new ArrayList<>(List.of(
                "canary", "--bootstrap-servers", servers, "--summary-topic", summaryTopic,
                "--since", started.minus(Duration.ofMinutes(1)).toString()));
        args.addAll(List.of(CANARY_LATENCY));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int exit = FlowgetCli.execute(
                args.toArray(new String[0]),
                new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        String json = out.toString(StandardCharsets.UTF_8).strip();
        assertThat(json).as("one JSON line on stdout; stderr: %s", err).isNotEmpty().doesNotContain("\n");
        return new Canary(exit, Json.readTree(json), err.toString(StandardCharsets.UTF_8));
    }
}
