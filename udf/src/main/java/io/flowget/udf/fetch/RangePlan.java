package io.flowget.udf.fetch;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * In-memory plan of a chunked download: the ranges still to fetch (the gaps of the completed ranges, cut into
 * chunks) and the ranges in flight. Rebuilt from {@link Download#done} after a restore, so ranges that were in
 * flight at a crash are simply fetched again — and only those.
 *
 * <p>Not thread-safe: owned by the fetch operator's task thread.
 */
final class RangePlan {
    private final long chunkSize;
    private final ArrayDeque<long[]> pending = new ArrayDeque<>();
    private final List<long[]> inFlight = new ArrayList<>();

    RangePlan(long length, long chunkSize, long[] done) {
        this.chunkSize = Math.max(1, chunkSize);
        long[] gaps = Intervals.gaps(done, length);
        for (int i = 0; i < gaps.length; i += 2) {
            for (long s = gaps[i]; s <= gaps[i + 1]; s += this.chunkSize) {
                pending.addLast(new long[] {s, Math.min(gaps[i + 1], s + this.chunkSize - 1)});
            }
        }
    }

    boolean hasPending() {
        return !pending.isEmpty();
    }

    /** Bytes of the ranges still to fetch that no attempt has taken yet. */
    long pendingBytes() {
        long sum = 0;
        for (long[] r : pending) {
            sum += r[1] - r[0] + 1;
        }
        return sum;
    }

    /** Takes the next range to fetch and counts it in flight. */
    long[] next() {
        long[] r = pending.pollFirst();
        if (r != null) {
            inFlight.add(r);
        }
        return r;
    }

    /** A range's attempt ended; {@code rest} (may be null) is what it did not deliver and goes back first. */
    void finished(long[] range, long[] rest) {
        inFlight.remove(range);
        if (rest != null && rest[1] >= rest[0]) {
            pending.addFirst(rest);
        }
    }

    /** Puts a range (a split-off tail) at the front of the plan. */
    void addFirst(long[] range) {
        pending.addFirst(range);
    }

}
