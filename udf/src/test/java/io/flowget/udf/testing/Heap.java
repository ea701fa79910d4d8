package io.flowget.udf.testing;

import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;

/** Heap measurements for memory tests: used heap once full collections stop freeing anything. */
public final class Heap {
    private static final long SETTLED_BYTES = 64 * 1024;
    private static final int MAX_ROUNDS = 10;

    /**
     * What other threads of a test JVM may free while a measurement runs (pools and servers of earlier tests
     * winding down), so a measured growth can fall short of what the code under test allocated by this much.
     */
    public static final long BACKGROUND_NOISE_BYTES = 1 << 20;

    private Heap() {}

    /**
     * Used heap after collections, once two rounds in a row free less than 64 KiB (at most ten rounds). One
     * collection is not enough on a busy machine: objects released through the reference handler and the
     * {@code Cleaner} thread (inflaters, direct-buffer owners of earlier tests) become free only at a later
     * collection, so a baseline taken after a single round can include them and make later growth look smaller
     * than what was really allocated.
     */
    public static long usedAfterGc() {
        MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
        long previous = Long.MAX_VALUE;
        for (int round = 0; round < MAX_ROUNDS; round++) {
            System.gc();
            try {
                // Gives the reference handler and Cleaner threads the time to drop what this collection found.
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
            long used = memory.getHeapMemoryUsage().getUsed();
            if (previous != Long.MAX_VALUE && Math.abs(previous - used) < SETTLED_BYTES) {
                return Math.min(previous, used);
            }
            previous = used;
        }
        return previous;
    }
}
