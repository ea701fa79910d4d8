package io.flowget.job.run;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.management.ObjectName;

import java.io.IOException;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Where the resident memory of this JVM goes, per component, as one line of {@code key=value} pairs (MiB):
 * {@code flowget run --set flowget.run.memory-report=true} prints it before the summary line.
 *
 * <p>Contract: {@link #take()} reads the process's resident set ({@code /proc/self/status}: {@code VmRSS},
 * {@code VmHWM}) and the JVM's own accounts — heap, metaspace (with the compressed class space), code cache
 * (committed), direct and mapped NIO buffers, live and peak thread counts. When the JVM runs with
 * {@code -XX:NativeMemoryTracking=summary} (e.g. {@code FLOWGET_JAVA_OPTS}), the NMT summary adds the JVM's
 * native categories (GC structures, thread stacks, symbols, compiler, class data) and its committed total.
 * {@code rss_file_mib} is the resident part of mapped files (the class-data-sharing archive, the jar, native
 * libraries such as RocksDB's); {@code native_other_mib} estimates the anonymous memory nobody in the JVM accounts
 * for — RocksDB's block cache and memtables, glibc arenas, other native libraries: anonymous RSS minus the used
 * heap minus the JVM's non-heap accounts (NMT's committed total without heap and archive when NMT runs, else
 * metaspace, code cache and direct buffers, so it then also holds GC structures, thread stacks and symbols). It is an
 * upper bound: heap pages that were touched and are free again are resident but not subtracted (how many, the JVM
 * does not tell). Every figure is a snapshot; an account the JVM cannot give is left out.
 *
 * <p>Stateless; callable from any thread. Costs a few milliseconds (a few ms more with NMT).
 */
public final class MemoryReport {
    private static final Logger LOG = LoggerFactory.getLogger(MemoryReport.class);
    private static final double MIB = 1024.0 * 1024.0;
    /** An NMT summary category line: {@code -  Java Heap (reserved=1048576KB, committed=262144KB)}. */
    private static final Pattern NMT_CATEGORY =
            Pattern.compile("(?m)^-\\s+([A-Za-z][A-Za-z ]*?)\\s+\\(reserved=(\\d+)KB, committed=(\\d+)KB\\)");
    private static final Pattern NMT_TOTAL = Pattern.compile("(?m)^Total: reserved=(\\d+)KB, committed=(\\d+)KB");
    /** NMT categories reported, by their key in the line. */
    private static final Map<String, String> NMT_KEYS = Map.of(
            "GC", "nmt_gc_mib",
            "Thread", "nmt_thread_mib",
            "Symbol", "nmt_symbol_mib",
            "Compiler", "nmt_compiler_mib",
            "Class", "nmt_class_mib",
            "Internal", "nmt_internal_mib",
            "Other", "nmt_other_mib",
            "Shared class space", "nmt_cds_mib",
            "Arena Chunk", "nmt_arena_mib");

    private MemoryReport() {}

    /** The report line of this JVM now, starting {@code flowget memory:}. */
    public static String take() {
        Map<String, Double> f = figures();
        StringBuilder sb = new StringBuilder("flowget memory:");
        f.forEach((k, v) -> sb.append(' ').append(k).append('=').append(
                k.endsWith("_mib") ? String.format(Locale.ROOT, "%.1f", v) : Long.toString(Math.round(v))));
        return sb.toString();
    }

    /** The figures of {@link #take()} by key, in report order. */
    static Map<String, Double> figures() {
        Map<String, Double> f = new LinkedHashMap<>();
        Map<String, Long> status = procStatus();
        Long rss = status.get("VmRSS");
        if (rss != null) {
            f.put("rss_mib", rss / 1024.0);
        }
        for (String[] k : new String[][] {{"RssAnon", "rss_anon_mib"}, {"RssFile", "rss_file_mib"},
                {"VmHWM", "peak_rss_mib"}}) {
            if (status.containsKey(k[0])) {
                f.put(k[1], status.get(k[0]) / 1024.0);
            }
        }
        var heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage();
        f.put("heap_used_mib", heap.getUsed() / MIB);
        f.put("heap_committed_mib", heap.getCommitted() / MIB);
        long metaspace = 0;
        long codeCache = 0;
        for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
            if (pool.getType() != MemoryType.NON_HEAP) {
                continue;
            }
            String name = pool.getName();
            long committed = pool.getUsage().getCommitted();
            if (name.equals("Metaspace")) { // includes the compressed class space
                metaspace += committed;
            } else if (name.startsWith("CodeHeap") || name.equals("Code Cache")) {
                codeCache += committed;
            }
        }
        f.put("metaspace_mib", metaspace / MIB);
        f.put("code_cache_mib", codeCache / MIB);
        long direct = 0;
        for (BufferPoolMXBean pool : ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)) {
            if (pool.getName().equals("direct")) {
                direct = pool.getMemoryUsed();
                f.put("direct_mib", direct / MIB);
            } else if (pool.getName().equals("mapped")) {
                f.put("mapped_mib", pool.getMemoryUsed() / MIB);
            }
        }
        var threads = ManagementFactory.getThreadMXBean();
        f.put("threads", (double) threads.getThreadCount());
        f.put("peak_threads", (double) threads.getPeakThreadCount());

        // What the JVM accounts for in anonymous memory besides the heap: NMT's categories when it runs (GC
        // structures, thread stacks, symbols, ... but not the shared archive, which is file-backed), else the pools.
        double jvmNonHeap = (metaspace + codeCache + direct) / MIB;
        String nmt = nativeMemorySummary();
        if (nmt != null) {
            double nonHeap = addNativeMemory(f, nmt);
            if (!Double.isNaN(nonHeap)) {
                jvmNonHeap = nonHeap;
            }
        }
        Long anon = status.get("RssAnon");
        if (anon != null) {
            f.put("native_other_mib", Math.max(0, anon / 1024.0 - heap.getUsed() / MIB - jvmNonHeap));
        }
        return f;
    }

    /**
     * Adds the reported NMT categories and {@code nmt_committed_mib} of an NMT summary to {@code f}; returns the
     * committed MiB of everything but the Java heap and the shared archive, or NaN if {@code summary} has no total.
     */
    static double addNativeMemory(Map<String, Double> f, String summary) {
        Matcher total = NMT_TOTAL.matcher(summary);
        if (!total.find()) {
            return Double.NaN;
        }
        double committedTotal = Long.parseLong(total.group(2)) / 1024.0;
        double nonHeap = committedTotal;
        Matcher m = NMT_CATEGORY.matcher(summary);
        while (m.find()) {
            String name = m.group(1).trim();
            double committed = Long.parseLong(m.group(3)) / 1024.0;
            String key = NMT_KEYS.get(name);
            if (key != null) {
                f.put(key, committed);
            }
            if (name.equals("Java Heap") || name.equals("Shared class space")) {
                nonHeap -= committed;
            }
        }
        f.put("nmt_committed_mib", committedTotal);
        return nonHeap;
    }

    /** {@code /proc/self/status} sizes in KiB by field name; empty where there is no procfs. */
    public static Map<String, Long> procStatus() {
        Map<String, Long> m = new LinkedHashMap<>();
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                int colon = line.indexOf(':');
                if (colon > 0 && line.endsWith(" kB")) {
                    String v = line.substring(colon + 1, line.length() - 3).trim();
                    m.put(line.substring(0, colon), Long.parseLong(v));
                }
            }
        } catch (IOException | RuntimeException e) {
            LOG.debug("No /proc/self/status: {}", e.toString());
        }
        return m;
    }

    /** The NMT summary ({@code jcmd <pid> VM.native_memory summary}), or null when NMT is off or unavailable. */
    static String nativeMemorySummary() {
        try {
            Object out = ManagementFactory.getPlatformMBeanServer().invoke(
                    new ObjectName("com.sun.management:type=DiagnosticCommand"),
                    "vmNativeMemory",
                    new Object[] {new String[] {"summary"}},
                    new String[] {String[].class.getName()});
            return out instanceof String s && s.contains("Total:") ? s : null;
        } catch (Exception | LinkageError e) {
            LOG.debug("No native memory summary: {}", e.toString());
            return null;
        }
    }
}
