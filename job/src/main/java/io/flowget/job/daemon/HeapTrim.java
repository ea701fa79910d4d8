package io.flowget.job.daemon;

import io.flowget.job.run.MemoryReport;

import org.apache.flink.annotation.Internal;

import com.sun.management.HotSpotDiagnosticMXBean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.management.ManagementFactory;
import java.lang.management.MemoryUsage;
import java.time.Duration;
import java.util.Locale;

/**
 * Gives back to the system the heap a daemon's warm-up grew and no longer uses (issue 16, memory: after its warm-up
 * a daemon kept 40-160 MiB more heap committed, that G1 never returns to a daemon that idles).
 *
 * <p>Contract: {@link #trim()} runs one full collection ({@code System.gc()}) with G1's free-heap bounds lowered for
 * it to {@link #MIN_FREE_PERCENT}/{@link #MAX_FREE_PERCENT} ({@code MinHeapFreeRatio}/{@code MaxHeapFreeRatio} are
 * manageable flags; the JVM's own values are put back right after), so that the collection shrinks the committed heap
 * to about 1.25 times what is live instead of keeping up to 3.3 times (the default 70 %). The heap grows again as
 * runs need it. One stop-the-world collection of the live set (~100 MiB: some 100-300 ms on 2 cores); a run that
 * arrives meanwhile waits that long once. Where the flags cannot be set (another VM) the collection runs with the
 * JVM's own bounds; under {@code -XX:+DisableExplicitGC} nothing happens. Returns the heap and RSS before and after.
 *
 * <p>Called by the warm-up's thread once, when the warm-up ends on an idle daemon ({@link DaemonWarmUp}). Any thread;
 * calls must not overlap (the flags are process-wide).
 */
@Internal
final class HeapTrim {
    private static final Logger LOG = LoggerFactory.getLogger(HeapTrim.class);
    static final int MIN_FREE_PERCENT = 10;
    static final int MAX_FREE_PERCENT = 20;

    private HeapTrim() {}

    /** Heap committed and used and the process's RSS, in MiB, before and after; how long the collection took. */
    record Result(double committedBefore, double committedAfter, double usedAfter, double rssBefore, double rssAfter,
                  Duration took) {
        String line() {
            return String.format(Locale.ROOT,
                    "heap committed %.0f -> %.0f MiB (%.0f used), RSS %.0f -> %.0f MiB, in %d ms",
                    committedBefore, committedAfter, usedAfter, rssBefore, rssAfter, took.toMillis());
        }
    }

    static Result trim() {
        MemoryUsage before = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage();
        double rssBefore = rssMib();
        HotSpotDiagnosticMXBean vm = ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class);
        String minFree = option(vm, "MinHeapFreeRatio");
        String maxFree = option(vm, "MaxHeapFreeRatio");
        long t0 = System.nanoTime();
        try {
            // lower the minimum first: the JVM refuses a maximum below the minimum
            set(vm, "MinHeapFreeRatio", String.valueOf(MIN_FREE_PERCENT));
            set(vm, "MaxHeapFreeRatio", String.valueOf(MAX_FREE_PERCENT));
            System.gc();
        } finally {
            // and raise the maximum first on the way back
            if (maxFree != null) {
                set(vm, "MaxHeapFreeRatio", maxFree);
            }
            if (minFree != null) {
                set(vm, "MinHeapFreeRatio", minFree);
            }
        }
        Duration took = Duration.ofNanos(System.nanoTime() - t0);
        MemoryUsage after = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage();
        return new Result(mib(before.getCommitted()), mib(after.getCommitted()), mib(after.getUsed()), rssBefore,
                rssMib(), took);
    }

    private static String option(HotSpotDiagnosticMXBean vm, String name) {
        try {
            return vm == null ? null : vm.getVMOption(name).getValue();
        } catch (RuntimeException e) {
            return null;
        }
    }

    private static void set(HotSpotDiagnosticMXBean vm, String name, String value) {
        if (vm == null) {
            return;
        }
        try {
            vm.setVMOption(name, value);
        } catch (RuntimeException e) {
            LOG.debug("Cannot set {}={}: {}", name, value, e.toString());
        }
    }

    private static double rssMib() {
        Long kib = MemoryReport.procStatus().get("VmRSS");
        return kib == null ? 0 : kib / 1024.0;
    }

    private static double mib(long bytes) {
        return bytes / (1024.0 * 1024.0);
    }
}
