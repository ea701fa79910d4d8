package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.testing.RangeRoute;
import io.flowget.udf.testing.TestCertificates;
import io.flowget.udf.testing.TestOrigin;

import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What {@code flowget.tls.buffer-mode} costs in throughput (issue 16, heap per in-flight HTTPS download: STATIC
 * holds three ~16 KiB TLS buffers per connection for its life, DYNAMIC allocates them per read or write and drops
 * them when empty): 200 × 1 MiB files (over HTTP/1.1 and negotiated HTTP/2) and one 128 MiB file (Range chunks,
 * HTTP/1.1) from one TLS origin on loopback (test CA, ALPN h2 and http/1.1) through the whole operator, each mode in turn,
 * alternated round by round so load drifts hit both alike. Prints per run the wall MB/s, this process's CPU
 * milliseconds per MiB (origin included: the same for both modes) and the GC time, then the medians with the
 * DYNAMIC ÷ STATIC ratios. Args: the rounds after the warm-up round (default 4).
 *
 * <pre>{@code
 * mvn -o -q -Pjmh -pl bench/harness -am -DskipTests package && java -Xmx2g \
 *   -Djava.io.tmpdir=bench/harness/target -cp bench/harness/target/harness-benchmarks.jar \
 *   io.flowget.udf.fetch.TlsBufferBench 4
 * }</pre>
 */
public final class TlsBufferBench {
    private static final int MEDIUM = 1024 * 1024;
    private static final int FILES = 200;
    private static final int LARGE = 128 * 1024 * 1024;

    public static void main(String[] args) throws Exception {
        int rounds = args.length == 0 ? 4 : Integer.parseInt(args[0]);
        BenchDir.run("tls-buffers", dir -> compare(dir, rounds));
    }

    private static void compare(Path tmp, int rounds) throws Exception {
        var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        try (TestOrigin origin = TestOrigin.startTls("127.0.0.1", TestCertificates.get())) {
            Map<String, String> medium = new HashMap<>();
            for (int i = 0; i < FILES; i++) {
                byte[] body = TestOrigin.content("m" + i, MEDIUM);
                origin.file("/m" + i, body);
                medium.put("/m" + i, FetchOperatorTest.sha256(body));
            }
            byte[] large = TestOrigin.content("large", LARGE);
            origin.route("/large", RangeRoute.of(large, "\"large\""));
            Map<String, String> largeOnly = Map.of("/large", FetchOperatorTest.sha256(large));
            Map<String, List<Double>> mbs = new LinkedHashMap<>();
            Map<String, List<Double>> cpu = new LinkedHashMap<>();
            // round 0 warms the JIT and is not counted
            for (int round = 0; round <= rounds; round++) {
                for (String workload : List.of("1mib", "128mib")) {
                    // the large file over HTTP/1.1 only: over h2 its chunks failed against this origin (Jetty reset
                    // the connection, "Connection reset by peer (after 5 failed chunk attempts)"; see the closing note)
                    List<FlowgetOptions.HttpVersion> versions =
                            workload.equals("128mib")
                                    ? List.of(FlowgetOptions.HttpVersion.HTTP_1_1)
                                    : List.of(FlowgetOptions.HttpVersion.HTTP_1_1, FlowgetOptions.HttpVersion.NEGOTIATE);
                    for (FlowgetOptions.HttpVersion version : versions) {
                        // alternate which mode goes first, so neither always runs on a fresher heap
                        List<FlowgetOptions.TlsBufferMode> modes =
                                round % 2 == 0
                                        ? List.of(FlowgetOptions.TlsBufferMode.STATIC,
                                                FlowgetOptions.TlsBufferMode.DYNAMIC)
                                        : List.of(FlowgetOptions.TlsBufferMode.DYNAMIC,
                                                FlowgetOptions.TlsBufferMode.STATIC);
                        for (FlowgetOptions.TlsBufferMode mode : modes) {
                            String key = workload + " " + (version == FlowgetOptions.HttpVersion.HTTP_1_1 ? "http/1.1" : "h2")
                                    + " " + mode;
                            boolean big = workload.equals("128mib");
                            long bytes = big ? LARGE : (long) FILES * MEDIUM;
                            long cpu0 = os.getProcessCpuTime();
                            long gc0 = gcMillis();
                            double seconds =
                                    HarnessThroughputBench.run(
                                            tmp,
                                            List.of(origin),
                                            big ? largeOnly : medium,
                                            "r" + round + "-" + key.replace(' ', '-').replace('/', '_'),
                                            c -> {
                                                c.set(FlowgetOptions.HTTP_VERSION, version);
                                                c.set(FlowgetOptions.TLS_BUFFER_MODE, mode);
                                                c.set(FlowgetOptions.TLS_CA_CERT, caPem());
                                            });
                            double cpuMsPerMiB = (os.getProcessCpuTime() - cpu0) / 1e6 / (bytes / 1048576.0);
                            double rate = bytes / seconds / 1e6;
                            System.out.printf(
                                    Locale.ROOT,
                                    "round %d %s: %.2f s, %.1f MB/s, %.2f CPU ms per MiB, GC %d ms, load %s%n",
                                    round, key, seconds, rate, cpuMsPerMiB, gcMillis() - gc0, BenchStats.load());
                            if (round > 0) {
                                mbs.computeIfAbsent(key, k -> new ArrayList<>()).add(rate);
                                cpu.computeIfAbsent(key, k -> new ArrayList<>()).add(cpuMsPerMiB);
                            }
                        }
                    }
                }
            }
            for (String key : cpu.keySet()) {
                String staticKey = key.replace("DYNAMIC", "STATIC");
                System.out.printf(
                        Locale.ROOT,
                        "%s: median %.1f MB/s (%.3f x STATIC), %.2f CPU ms per MiB (%.3f x STATIC)%n",
                        key, BenchStats.median(mbs.get(key)), BenchStats.median(mbs.get(key)) / BenchStats.median(mbs.get(staticKey)),
                        BenchStats.median(cpu.get(key)), BenchStats.median(cpu.get(key)) / BenchStats.median(cpu.get(staticKey)));
            }
        }
    }

    private static String caPem() {
        try {
            return TestCertificates.get().caPem().toString();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static long gcMillis() {
        long ms = 0;
        for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
            ms += Math.max(0, gc.getCollectionTime());
        }
        return ms;
    }
}
