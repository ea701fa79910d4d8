package io.flowget.udf.fetch;

import io.flowget.udf.body.BodyPipeline;
import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.TestCertificates;
import io.flowget.udf.testing.TestOrigin;
import io.flowget.udf.testing.TricklingOrigin;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MemorySize;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Heap per in-flight download (issue 5, issue 16: target at most 32 KiB), measured with 2,000 concurrent slow
 * downloads, over plain HTTP and over HTTPS.
 *
 * <p>The origin runs in a separate JVM ({@link TricklingOrigin}) so that none of its objects count: it sends each
 * response's head and first KiB, then holds it. With all 2,000 held, this JVM's heap after a full GC is compared
 * with the heap before they started; the difference over 2,000 is the cost of one download in flight (HTTP
 * connection and exchange, response consumer, body pipeline, staging file channel, operator bookkeeping). A
 * {@code jmap -histo:live} before and during shows which classes make up the difference. Then the origin finishes
 * every response and all 2,000 must be stored byte-exact. Runs once per coding the service decodes: identity,
 * gzip, deflate, zstd and br.
 *
 * <p>Result on the 2-core test machine with the default {@code flowget.http.buffer-size} of 6 KiB (load 16-22):
 * 26.8–27.1 KiB per download for every coding (identity, gzip, deflate, zstd, br); about 18 KiB of it is HttpCore's
 * three per-connection buffers (session in, session out, content), the rest some 8–9 KiB of small objects (headers,
 * exchange, operator bookkeeping). With the former default of 8 KiB: 32.3–32.4 identity, 32.9–33.1 for the coded
 * ones (above the 32 KiB this test holds the default to); with 4 KiB buffers: 20.5 identity, 21.5–22.0 gzip. A
 * download waiting for bytes holds no decode buffer: decoders borrow theirs from {@link
 * io.flowget.udf.body.DecodeBuffers} per call (before: 49.0 gzip, 49.3 deflate, 48.9 zstd, 41.0 br, with a 16 KiB
 * decode buffer each, or brotli's 8 KiB digest copy buffer). These bodies (64 KiB) are below {@code
 * AttemptDispatch.LARGE_BODY}, so every download here reads in the main client's small buffers; large bodies take
 * the large-buffer client's fixed budget ({@code flowget.http.large-buffer-budget}, 4 MiB per TaskManager) while
 * it has a slot, whatever the number of downloads.
 *
 * <p>HTTPS (HTTP/1.1 origin, its own JVM too, the test CA): the origin sends 20 KiB before holding, a whole TLS
 * record and more, as a download in flight has received. Measured (2026-12-06, load 15-26): <b>43.1 KiB</b> per
 * download with {@code flowget.tls.buffer-mode} DYNAMIC (the default), <b>92.8 KiB</b> with HttpClient's own default
 * STATIC, whose three TLS buffers (two of ~16.7 KiB, one of 16 KiB) each connection holds for its life. Still above
 * the 32 KiB of plain HTTP because HttpCore puts each decrypted record (up to 16 KiB) into the connection's session
 * input buffer, which grows to hold it (6 KiB to 17 KiB) and never shrinks; only an HttpCore change (no growth
 * beyond the configured size, or a shared content buffer) removes that.
 *
 * <p>HTTP/2 over TLS (the origin offers {@code h2} in ALPN, same 20 KiB first): <b>93.4 KiB</b> per download against
 * 43.3 KiB for HTTP/1.1 in the same run (2026-12-06, load 13–17), byte arrays 83.0 KB of it. flowget gives each
 * HTTP/2 exchange its own connection (a shared one is closed under all its streams when one fails, see {@code
 * HttpClientHolder}), and an HTTP/2 connection holds HttpCore's frame input and output buffers (16 KiB + 9 each, the
 * protocol's smallest frame size, so no setting lowers them) beside its TLS state. {@code
 * -Dinflight.phases=tls,tls-h2} runs only the HTTPS phases (phase names: the origin, then {@code -variant}).
 *
 * <p>Tagged {@code slow}: {@code mvn -o -pl udf test -Pslow -Dtest=InFlightHeapTest}.
 */
@Tag("slow")
class InFlightHeapTest {
    private static final int DOWNLOADS = 2_000;
    private static final int BODY = 64 * 1024;
    private static final Duration WAIT = Duration.ofMinutes(3);
    /**
     * Issue 16's bound at the default settings: measured 26.8–27.1 KiB for every coding with the default 6 KiB
     * buffers; the former 8 KiB default (32.3–33.1) fails it, and so would a decode buffer held while waiting (8–16).
     */
    private static final double BOUND_KIB = 32;
    /**
     * HTTPS (HTTP/1.1) at the defaults, measured 43.1 KiB: above issue 16's 32, see the class comment for why; with
     * HttpClient's default STATIC TLS buffers 92.8 KiB, which fails this bound.
     */
    private static final double BOUND_TLS_KIB = 48;
    /**
     * HTTP/2 over TLS at the defaults, one connection per download (flowget shares no HTTP/2 connection, see {@code
     * HttpClientHolder}): measured 93.4 KiB (2026-12-06, load 13–17; HTTPS/1.1 43.3 in the same run), see the class
     * comment. A bound against growth, not issue 16's 32.
     */
    private static final double BOUND_H2_KIB = 100;
    /** With 4 KiB connection buffers, measured 20.5–22.0 KiB: 12 KiB less (three buffers per connection). */
    private static final double BOUND_4K_BUFFERS_KIB = 26;
    /** Bytes an HTTPS origin sends before holding: one full TLS record (16 KiB) and part of the next. */
    private static final int TLS_FIRST = 20 * 1024;
    /** What the report calls each TLS origin. */
    private static final Map<String, String> TLS_NAMES = Map.of("tls", "HTTPS (HTTP/1.1)", "tls-h2", "HTTPS (HTTP/2)");
    /** Origin path prefix (see {@link TricklingOrigin}) to the coding its bodies carry. */
    private static final Map<String, String> KINDS = new LinkedHashMap<>();

    static {
        KINDS.put("hold", "identity");
        KINDS.put("hold-gz", "gzip");
        KINDS.put("hold-deflate", "deflate");
        KINDS.put("hold-zstd", "zstd");
        KINDS.put("hold-br", "br");
    }

    @TempDir Path tmp;

    @RegisterExtension final FetchHarnessExtension fetch = new FetchHarnessExtension();

    /** The origin JVMs by scheme: "http", "tls" (HTTPS, HTTP/1.1 only). */
    private final Map<String, Origin> origins = new LinkedHashMap<>();

    /** One {@link TricklingOrigin} JVM and its stdin/stdout. */
    private record Origin(Process process, PrintWriter to, BufferedReader from, String base) {}

    @AfterEach
    void stopOrigins() throws Exception {
        for (Origin o : origins.values()) {
            o.to.close();
            if (!o.process.waitFor(10, TimeUnit.SECONDS)) {
                o.process.destroyForcibly();
            }
        }
    }

    @Test
    void heapPerInFlightDownload() throws Exception {
        Configuration conf = FetchHarness.config(tmp);
        conf.set(FlowgetOptions.TLS_CA_CERT, TestCertificates.get().caPem().toString());
        conf.set(FlowgetOptions.FETCH_MAX_IN_FLIGHT, DOWNLOADS + 100);
        conf.set(FlowgetOptions.HOST_MAX_CONCURRENCY, DOWNLOADS + 100);
        conf.set(FlowgetOptions.HTTP_POOL_MAX_TOTAL, DOWNLOADS + 100);
        conf.set(FlowgetOptions.HTTP_POOL_MAX_PER_ROUTE, DOWNLOADS + 100);
        conf.set(FlowgetOptions.HTTP_IDLE_TIMEOUT, Duration.ofMinutes(10));
        conf.set(FlowgetOptions.HTTP_RESPONSE_TIMEOUT, Duration.ofMinutes(10));
        // The held bodies crawl on purpose: without this the low-speed guard ends them once the stepped clock has
        // passed 30 s, which it can before all 2,000 are held (it did twice at load 3-6, "below 1024 bytes/s for 30s")
        conf.set(FlowgetOptions.FETCH_LOW_SPEED_LIMIT, MemorySize.ZERO);
        conf.set(FlowgetOptions.FETCH_NO_PROGRESS_BUDGET, Duration.ofMinutes(10));
        conf.set(FlowgetOptions.FETCH_MAX_BACKLOG, 10 * DOWNLOADS);
        byte[] plain = TestOrigin.content("trickle", BODY);
        String sha = FetchOperatorTest.sha256(plain);

        // {path kind, coding, variant (null: the defaults), origin}: the default buffers for every coding, HTTPS
        // (HTTP/1.1) at the defaults and with HttpClient's default STATIC TLS buffers, then 4 KiB connection buffers
        // (what flowget.http.buffer-size buys)
        List<String[]> phases = new ArrayList<>();
        KINDS.forEach((kind, coding) -> phases.add(new String[] {kind, coding, null, "http"}));
        phases.add(new String[] {"hold", "identity", null, "tls"});
        phases.add(new String[] {"hold", "identity", null, "tls-h2"});
        phases.add(new String[] {"hold", "identity", "static", "tls"});
        phases.add(new String[] {"hold", "identity", "4kb", "http"});
        phases.add(new String[] {"hold-gz", "gzip", "4kb", "http"});
        // -Dinflight.phases=tls,tls-h2 runs only those (origin, then -variant: http, tls, tls-h2, tls-static, http-4kb)
        String only = System.getProperty("inflight.phases");
        if (only != null && !only.isBlank()) {
            List<String> wanted = List.of(only.split(","));
            phases.removeIf(p -> !wanted.contains(p[3] + (p[2] == null ? "" : "-" + p[2])));
        }

        Map<String, FetchHarness> harnesses = new LinkedHashMap<>();
        Map<FetchHarness, Integer> resultsSoFar = new HashMap<>();
        java.util.Set<String> warmed = new java.util.HashSet<>();
        List<String> report = new ArrayList<>();
        Map<String, Double> perDownloadKiB = new LinkedHashMap<>();
        Map<String, Double> pipelineKiB = new LinkedHashMap<>();
        for (String[] phase : phases) {
            String kind = phase[0];
            String bufferSize = phase[2];
            Origin origin = origin(phase[3]);
            String coding =
                    phase[1]
                            + (phase[3].equals("http") ? "" : " over " + TLS_NAMES.get(phase[3]))
                            + (bufferSize == null ? "" : " (" + bufferSize + " buffers)");
            FetchHarness h = harnesses.computeIfAbsent(String.valueOf(bufferSize), b -> harness(conf, bufferSize));
            if (warmed.add(bufferSize + " " + phase[3])) {
                warm(h, bufferSize + "-" + phase[3], origin.base, resultsSoFar);
            }
            String base = origin.base;
            int done = resultsSoFar.get(h);
            Map<String, long[]> histoBefore = histogram();
            long before = usedAfterGc();
            for (int i = 0; i < DOWNLOADS; i++) {
                h.submit(request(kind + "-" + bufferSize + "-" + phase[3] + "-" + i, base + "/" + kind + "/" + i));
            }
            // 2,000 connections open slowly on a loaded 2-core machine: the harness's 1-minute bound is too short
            try {
                h.drainUntil(
                        () -> heldAt(origin) == DOWNLOADS && BodyPipeline.livePipelines() == DOWNLOADS, WAIT);
            } catch (AssertionError e) {
                // Say why: how many are held, and what the downloads that ended already ended with
                List<FetchResult> ended = h.harness.extractOutputValues();
                throw new AssertionError(
                        String.format(Locale.ROOT, "%s: %d of %d held at the origin, %d pipelines, %d ended early: %s",
                                coding, heldAt(origin), DOWNLOADS, BodyPipeline.livePipelines(), ended.size() - done,
                                ended.subList(done, Math.min(ended.size(), done + 3))),
                        e);
            }
            h.drainUntil(settled()); // let the first KiB of the last responses reach the consumers
            long during = usedAfterGc();
            long pipelineHeap = BodyPipeline.liveHeapBytes();
            Map<String, long[]> histoDuring = histogram();
            assertThat(((FetchOperator) h.harness.getOperator()).forTests().inFlightCount()).isEqualTo(DOWNLOADS);

            double perDownload = (during - before) / (double) DOWNLOADS;
            report.add(
                    String.format(
                            Locale.ROOT,
                            "%s: %d in flight, heap used after GC %.1f MiB -> %.1f MiB: %.1f KiB per download"
                                    + " (BodyPipeline.retainedHeapBytes: %.1f KiB per download)",
                            coding,
                            DOWNLOADS,
                            before / 1048576.0,
                            during / 1048576.0,
                            perDownload / 1024,
                            pipelineHeap / (double) DOWNLOADS / 1024));
            report.add(topGrowth(histoBefore, histoDuring, 15));
            System.out.println(report.get(report.size() - 2) + "\n" + report.get(report.size() - 1));

            release(origin);
            int expected = done + DOWNLOADS;
            h.drainUntil(() -> h.extractOutputValues().size() >= expected, WAIT);
            List<FetchResult> results = h.results(done + DOWNLOADS);
            for (FetchResult r : results.subList(done, done + DOWNLOADS)) {
                assertThat(r.status).as("%s", r).isEqualTo(ResultStatus.OK);
                assertThat(r.bytes).isEqualTo(BODY);
                assertThat(r.sha256).isEqualTo(sha);
            }
            resultsSoFar.put(h, done + DOWNLOADS);
            assertThat(BodyPipeline.livePipelines()).isZero();
            perDownloadKiB.put(coding, perDownload / 1024);
            pipelineKiB.put(coding, pipelineHeap / (double) DOWNLOADS / 1024);
        }
        System.out.println("IN-FLIGHT HEAP\n" + String.join("\n", report));
        // Asserted after every coding was measured, so that one run reports them all.
        perDownloadKiB.forEach(
                (coding, kib) ->
                        assertThat(kib)
                                .as("KiB of heap per download in flight (%s)", coding)
                                .isLessThan(
                                        coding.contains("4kb")
                                                ? BOUND_4K_BUFFERS_KIB
                                                : coding.contains("static")
                                                        ? Double.MAX_VALUE
                                                        : coding.contains("HTTP/2")
                                                                ? BOUND_H2_KIB
                                                                : coding.contains("HTTPS") ? BOUND_TLS_KIB : BOUND_KIB));
        // The STATIC phase is HttpClient's default, the "before" of flowget.tls.buffer-mode: its three buffers of
        // ~16 KiB per connection must show, or the phases do not measure what they claim
        Double tls = perDownloadKiB.get("identity over HTTPS (HTTP/1.1)");
        Double tlsStatic = perDownloadKiB.get("identity over HTTPS (HTTP/1.1) (static buffers)");
        if (tls != null && tlsStatic != null) {
            assertThat(tlsStatic - tls).as("KiB STATIC TLS buffers add per download").isGreaterThan(40);
        }
        pipelineKiB.forEach(
                (coding, kib) ->
                        assertThat(kib).as("KiB of pipeline buffers per download (%s)", coding).isLessThan(0.1));
    }

    // ------------------------------------------------------------------------------------------------

    /**
     * A harness for the phases of one variant: {@code null} the defaults, a size ("4kb") for connection buffers of
     * that size, "static" for HttpClient's default TLS buffer mode.
     */
    private FetchHarness harness(Configuration conf, String variant) {
        try {
            Configuration c = conf;
            if (variant != null) {
                c = new Configuration(conf);
                if (variant.equals("static")) {
                    c.set(FlowgetOptions.TLS_BUFFER_MODE, FlowgetOptions.TlsBufferMode.STATIC);
                } else {
                    c.set(FlowgetOptions.HTTP_BUFFER_SIZE, MemorySize.parse(variant));
                }
                c.set(FlowgetOptions.STORAGE_OUT_DIR, tmp.resolve(variant).resolve("out").toString());
                c.set(FlowgetOptions.STORAGE_STAGING_DIR, tmp.resolve(variant).resolve("staging").toString());
            }
            return fetch.harness(c, FetchHarness.Clock.STEPPED);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    /**
     * Warms {@code h} up against one origin: classes loaded, client and pool created, TLS sessions cached;
     * Connection: close leaves no idle connection.
     */
    private static void warm(FetchHarness h, String tag, String base, Map<FetchHarness, Integer> resultsSoFar)
            throws Exception {
        int done = resultsSoFar.getOrDefault(h, 0);
        for (int i = 0; i < 200; i++) {
            h.submit(request("warm-" + tag + "-" + i, base + "/quick/" + i));
        }
        List<FetchResult> all = h.results(done + 200);
        assertThat(all.subList(done, done + 200)).allSatisfy(r -> assertThat(r.status).isEqualTo(ResultStatus.OK));
        resultsSoFar.put(h, done + 200);
    }

    /** The origin JVM of {@code scheme}, started on first use. */
    private Origin origin(String scheme) throws IOException, InterruptedException {
        Origin o = origins.get(scheme);
        if (o == null) {
            o = startOrigin(scheme);
            origins.put(scheme, o);
        }
        return o;
    }

    private Origin startOrigin(String scheme) throws IOException, InterruptedException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> cmd = new ArrayList<>(List.of(
                java,
                "-Xmx512m",
                "-Djava.io.tmpdir=" + System.getProperty("java.io.tmpdir"),
                "-cp",
                cp,
                TricklingOrigin.class.getName(),
                String.valueOf(BODY)));
        if (!scheme.equals("http")) {
            // A whole TLS record (16 KiB) and more before holding, as a download in flight has had: HttpCore puts
            // each decrypted record into the connection's session input buffer, which grows to hold it
            cmd.addAll(List.of(String.valueOf(TLS_FIRST), scheme,
                    TestCertificates.get().caPem().getParent().toString()));
        }
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.redirectError(ProcessBuilder.Redirect.INHERIT);
        Process process = pb.start();
        PrintWriter to = new PrintWriter(process.getOutputStream(), true, StandardCharsets.UTF_8);
        BufferedReader from =
                new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        String line = from.readLine();
        assertThat(line).as("origin started").startsWith("port ");
        String base = (scheme.equals("http") ? "http" : "https") + "://127.0.0.1:" + line.substring(5).trim();
        return new Origin(process, to, from, base);
    }

    private static int heldAt(Origin origin) {
        try {
            origin.to.println("count");
            String line = origin.from.readLine();
            assertThat(line).startsWith("held ");
            return Integer.parseInt(line.substring(5).trim());
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    private static void release(Origin origin) throws IOException {
        origin.to.println("release");
        assertThat(origin.from.readLine()).isEqualTo("released " + DOWNLOADS);
    }

    /** True once the operator has had no mail for half a second (the reactor has delivered everything). */
    private static java.util.function.BooleanSupplier settled() {
        long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(500);
        return () -> System.nanoTime() >= until;
    }

    private static long usedAfterGc() throws InterruptedException {
        var memory = ManagementFactory.getMemoryMXBean();
        long used = Long.MAX_VALUE;
        for (int i = 0; i < 4; i++) {
            System.gc();
            Thread.sleep(100);
            used = Math.min(used, memory.getHeapMemoryUsage().getUsed());
        }
        return used;
    }

    /** {@code jmap -histo:live} of this JVM: class name to {instances, bytes}. Empty when jmap is unavailable. */
    private static Map<String, long[]> histogram() throws Exception {
        Map<String, long[]> m = new HashMap<>();
        Path jmap = Path.of(System.getProperty("java.home"), "bin", "jmap");
        if (!jmap.toFile().canExecute()) {
            return m;
        }
        Process p =
                new ProcessBuilder(jmap.toString(), "-histo:live", String.valueOf(ProcessHandle.current().pid()))
                        .redirectErrorStream(true)
                        .start();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = r.readLine()) != null) {
                String[] f = line.trim().split("\\s+");
                if (f.length >= 4 && f[0].endsWith(":")) {
                    m.put(f[3], new long[] {Long.parseLong(f[1]), Long.parseLong(f[2])});
                }
            }
        }
        p.waitFor(60, TimeUnit.SECONDS);
        return m;
    }

    private static String topGrowth(Map<String, long[]> before, Map<String, long[]> during, int n) {
        List<Map.Entry<String, long[]>> growth = new ArrayList<>();
        for (Map.Entry<String, long[]> e : during.entrySet()) {
            long[] b = before.getOrDefault(e.getKey(), new long[2]);
            growth.add(Map.entry(e.getKey(), new long[] {e.getValue()[0] - b[0], e.getValue()[1] - b[1]}));
        }
        growth.sort((x, y) -> Long.compare(y.getValue()[1], x.getValue()[1]));
        StringBuilder sb = new StringBuilder("  growth by class (jmap -histo:live), bytes per download:\n");
        for (Map.Entry<String, long[]> e : growth.subList(0, Math.min(n, growth.size()))) {
            sb.append(
                    String.format(
                            Locale.ROOT,
                            "  %9.0f B  %7.2f objects  %s%n",
                            e.getValue()[1] / (double) DOWNLOADS,
                            e.getValue()[0] / (double) DOWNLOADS,
                            e.getKey()));
        }
        return sb.toString();
    }

    private static FetchRequest request(String id, String url) {
        return new FetchRequest(id, url, "127.0.0.1", "trickle/" + id);
    }
}
