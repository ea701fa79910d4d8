package io.flowget.job.run;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * The memory line of {@code flowget run --set flowget.run.memory-report=true}: figures of this (the test's) JVM, each
 * a number under its documented key, consistent with each other and with what the test itself holds; and the NMT
 * summary of a real JDK 17 ({@code jcmd <pid> VM.native_memory summary}, saved as a resource) read per category.
 */
class MemoryReportTest {
    private static final Pattern PAIR = Pattern.compile(" ([a-z_]+)=([0-9]+(?:\\.[0-9]+)?)");

    @Test
    void lineHoldsEveryComponentAsANumber() {
        String line = MemoryReport.take();

        assertThat(line).startsWith("flowget memory:");
        Map<String, Double> pairs = new LinkedHashMap<>();
        Matcher m = PAIR.matcher(line);
        while (m.find()) {
            pairs.put(m.group(1), Double.parseDouble(m.group(2)));
        }
        assertThat(pairs).containsKeys(
                "heap_used_mib", "heap_committed_mib", "metaspace_mib", "code_cache_mib", "direct_mib", "threads",
                "peak_threads");
        // every pair of the line was parsed: nothing but key=number after the prefix
        assertThat(line.substring("flowget memory:".length()).split(" ")).hasSize(pairs.size() + 1);
        assertThat(pairs.get("threads")).isGreaterThanOrEqualTo(1);
        assertThat(pairs.get("peak_threads")).isGreaterThanOrEqualTo(pairs.get("threads"));
        assertThat(pairs.get("heap_used_mib")).isLessThanOrEqualTo(pairs.get("heap_committed_mib"));
        assertThat(pairs.get("metaspace_mib")).isPositive();
        assertThat(pairs.get("code_cache_mib")).isPositive();
        if (pairs.containsKey("rss_mib")) { // Linux: procfs
            assertThat(pairs).containsKeys("rss_anon_mib", "rss_file_mib", "peak_rss_mib", "native_other_mib");
            assertThat(pairs.get("peak_rss_mib")).isGreaterThanOrEqualTo(pairs.get("rss_mib"));
            assertThat(pairs.get("rss_anon_mib") + pairs.get("rss_file_mib"))
                    .isLessThanOrEqualTo(pairs.get("rss_mib") + 0.1);
        }
        assertThat(pairs).doesNotContainKey("nmt_committed_mib"); // surefire's JVM runs without NMT
    }

    @Test
    void directBuffersThisTestHoldsAreCounted() {
        double before = MemoryReport.figures().get("direct_mib");
        ByteBuffer held = ByteBuffer.allocateDirect(8 << 20);

        double after = MemoryReport.figures().get("direct_mib");

        assertThat(after - before).isGreaterThanOrEqualTo(7.9);
        assertThat(held.capacity()).isEqualTo(8 << 20);
    }

    @Test
    void nativeMemorySummaryOfJdk17IsReadPerCategory() throws IOException {
        String summary;
        try (InputStream in = getClass().getResourceAsStream("/memory/nmt-summary-jdk17.txt")) {
            summary = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        Map<String, Double> f = new LinkedHashMap<>();

        double nonHeap = MemoryReport.addNativeMemory(f, summary);

        assertThat(f.get("nmt_committed_mib")).isCloseTo(477990 / 1024.0, within(0.001));
        assertThat(f.get("nmt_gc_mib")).isCloseTo(52831 / 1024.0, within(0.001));
        assertThat(f.get("nmt_thread_mib")).isCloseTo(739 / 1024.0, within(0.001));
        assertThat(f.get("nmt_symbol_mib")).isCloseTo(1323 / 1024.0, within(0.001));
        assertThat(f.get("nmt_cds_mib")).isCloseTo(12060 / 1024.0, within(0.001));
        assertThat(f).doesNotContainKey("nmt_java_heap_mib");
        // everything but the heap (397,312 KB) and the file-backed archive (12,060 KB)
        assertThat(nonHeap).isCloseTo((477990 - 397312 - 12060) / 1024.0, within(0.001));
    }

    @Test
    void textWithoutATotalAddsNothing() {
        Map<String, Double> f = new LinkedHashMap<>();

        double nonHeap = MemoryReport.addNativeMemory(f, "Native memory tracking is not enabled\n");

        assertThat(nonHeap).isNaN();
        assertThat(f).isEmpty();
    }
}
