package io.flowget.udf.fetch;

import java.util.ArrayList;
import java.util.List;

/**
 * Sorted, disjoint, merged byte intervals {@code [start, end]} (inclusive), stored flat as
 * {@code [s0, e0, s1, e1, ...]} so that the array is a plain POJO field in keyed state. Immutable operations
 * return new arrays; a file's completed ranges stay a handful of pairs because neighbours merge.
 */
public final class Intervals {
    private Intervals() {}

    public static final long[] EMPTY = new long[0];

    /** Adds {@code [s, e]} and merges overlapping or adjacent intervals. */
    public static long[] add(long[] flat, long s, long e) {
        if (e < s) {
            return flat;
        }
        List<long[]> out = new ArrayList<>(flat.length / 2 + 1);
        boolean placed = false;
        for (int i = 0; i < flat.length; i += 2) {
            long a = flat[i];
            long b = flat[i + 1];
            if (b + 1 < s) {
                out.add(new long[] {a, b});
            } else if (e + 1 < a) {
                if (!placed) {
                    out.add(new long[] {s, e});
                    placed = true;
                }
                out.add(new long[] {a, b});
            } else {
                s = Math.min(s, a);
                e = Math.max(e, b);
            }
        }
        if (!placed) {
            out.add(new long[] {s, e});
        }
        out.sort((x, y) -> Long.compare(x[0], y[0]));
        long[] r = new long[out.size() * 2];
        for (int i = 0; i < out.size(); i++) {
            r[2 * i] = out.get(i)[0];
            r[2 * i + 1] = out.get(i)[1];
        }
        return r;
    }


    /** True when {@code [0, length-1]} is covered entirely. */
    public static boolean complete(long[] flat, long length) {
        return length == 0 || (flat.length == 2 && flat[0] == 0 && flat[1] >= length - 1);
    }

    /** The gaps of {@code [0, length-1]} not covered, as flat pairs. */
    public static long[] gaps(long[] flat, long length) {
        List<Long> out = new ArrayList<>();
        long next = 0;
        for (int i = 0; i < flat.length; i += 2) {
            if (flat[i] > next) {
                out.add(next);
                out.add(Math.min(flat[i] - 1, length - 1));
            }
            next = Math.max(next, flat[i + 1] + 1);
        }
        if (next < length) {
            out.add(next);
            out.add(length - 1);
        }
        long[] r = new long[out.size()];
        for (int i = 0; i < r.length; i++) {
            r[i] = out.get(i);
        }
        return r;
    }

}
