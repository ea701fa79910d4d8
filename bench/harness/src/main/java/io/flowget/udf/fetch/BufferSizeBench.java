package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.MemorySize;

import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What {@code flowget.http.buffer-size} costs in throughput (issue 16, heap per in-flight download: each HTTP/1.1
 * connection holds three buffers of this size): 200 × 1 MiB files from one Jetty origin on loopback through the
 * whole operator, with each buffer size in turn, alternated round by round (so load drifts hit every size alike).
 * Prints per round the wall MB/s and this process's CPU milliseconds per MiB (origin included: the same for every
 * size), and the medians. Args: the sizes (default {@code 8kb 6kb 4kb}).
 *
 * <pre>{@code
 * mvn -o -q -Pjmh -pl bench/harness -am -DskipTests package && java -Xmx2g -XX:+UseParallelGC \
 *   -Djava.io.tmpdir=bench/harness/target -cp bench/harness/target/harness-benchmarks.jar \
 *   io.flowget.udf.fetch.BufferSizeBench 8kb 6kb 4kb
 * }</pre>
 */
public final class BufferSizeBench {
    private static final int ROUNDS = 5;
    private static final int MEDIUM = 1024 * 1024;
    private static final int FILES = 200;

    public static void main(String[] args) throws Exception {
        List<String> sizes = args.length == 0 ? List.of("8kb", "6kb", "4kb") : List.of(args);
        BenchDir.run("buffer-size", dir -> compare(dir, sizes));
    }

    private static void compare(Path tmp, List<String> sizes) throws Exception {
        var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        try (TestOrigin origin = TestOrigin.start("127.0.0.1")) {
            Map<String, String> expected = new HashMap<>();
            for (int i = 0; i < FILES; i++) {
                byte[] body = TestOrigin.content("b" + i, MEDIUM);
                origin.file("/b" + i, body);
                expected.put("/b" + i, FetchOperatorTest.sha256(body));
            }
            Map<String, List<Double>> mbs = new HashMap<>();
            Map<String, List<Double>> cpu = new HashMap<>();
            // round 0 warms the JIT and is not counted
            for (int round = 0; round <= ROUNDS; round++) {
                for (String size : sizes) {
                    long cpu0 = os.getProcessCpuTime();
                    double seconds =
                            HarnessThroughputBench.run(
                                    tmp,
                                    List.of(origin),
                                    expected,
                                    "r" + round + "-" + size,
                                    c -> c.set(FlowgetOptions.HTTP_BUFFER_SIZE, MemorySize.parse(size)));
                    double cpuMsPerMiB = (os.getProcessCpuTime() - cpu0) / 1e6 / FILES;
                    double rate = (double) FILES * MEDIUM / seconds / 1e6;
                    System.out.printf(
                            Locale.ROOT,
                            "round %d buffer %s: %d x 1 MiB in %.2f s: %.1f MB/s, %.2f CPU ms per MiB, load %s%n",
                            round, size, FILES, seconds, rate, cpuMsPerMiB, BenchStats.load());
                    if (round > 0) {
                        mbs.computeIfAbsent(size, k -> new ArrayList<>()).add(rate);
                        cpu.computeIfAbsent(size, k -> new ArrayList<>()).add(cpuMsPerMiB);
                    }
                }
            }
            String first = sizes.get(0);
            for (String size : sizes) {
                System.out.printf(
                        Locale.ROOT,
                        "buffer %s: median %.1f MB/s (%.3f x %s), %.2f CPU ms per MiB (%.3f x %s)%n",
                        size, BenchStats.median(mbs.get(size)), BenchStats.median(mbs.get(size)) / BenchStats.median(mbs.get(first)), first,
                        BenchStats.median(cpu.get(size)), BenchStats.median(cpu.get(size)) / BenchStats.median(cpu.get(first)), first);
            }
        }
    }
}
