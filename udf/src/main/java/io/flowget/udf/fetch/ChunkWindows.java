package io.flowget.udf.fetch;

import io.flowget.udf.http.Attempt;

import java.util.Arrays;

/**
 * How many bytes a chunk attempt's next window asks for. The base window is a quarter chunk (at least {@code
 * flowget.chunk.min-split}): the most a straggler still owes the origin when the plan runs dry, since a split never
 * takes over what was already asked for ({@link ChunkedDownloads#splitStraggler}). An attempt's first window is the
 * base; a later one grows only while the download has much more left than its connections fetch in that window: with
 * {@code B} the bytes the download still lacks (the plan's untaken ranges plus what each attempt in flight has not
 * written yet), {@code R} the sum of its attempts' rates and {@code r} this attempt's, the window is {@code r * B / R -
 * base} (at most a chunk; never below the base) — at rate {@code r} it ends one base window's time before the whole
 * download would if every connection kept its rate. So a large file needs fewer requests (each costs a round trip, a
 * mail, a send and the client's per-exchange work), the windows shrink back to the base as the download nears its end,
 * and a slow connection keeps the base window: what the unsplittable windows in flight owe when the plan runs dry is
 * then no more than with fixed base windows.
 *
 * <p>An attempt's rate is that of all its windows so far, each timed from its send to its answer on the I/O thread.
 * One of at least half the download's typical rate (the median of its attempts') counts as the typical one: windows
 * sent in one burst share the client's I/O threads and finish in any order, so single rates scatter widely on a busy
 * client (the mean was pulled up by the few windows that found their bytes waiting). The price: a connection truly
 * between half and all of the typical speed may end a grown window up to twice as late as planned. One below half of
 * it counts as measured, which keeps a straggler at the base window.
 *
 * <p>Immutable settings; {@link #next} runs on the task thread that owns the download and its attempts.
 */
final class ChunkWindows {
    private final FetchSettings settings;

    ChunkWindows(FetchSettings settings) {
        this.settings = settings;
    }

    /** The base window of a chunked download: a quarter of its chunk size, at least {@code min-split}. */
    static long base(FetchSettings settings, Download d) {
        return Math.max(settings.minSplit, settings.chunkSizeFor(d.length) / 4);
    }

    /** Records how fast the window that just ended arrived ({@code bytes} of it; task thread, as its outcome lands). */
    static void windowEnded(Attempt a, long bytes) {
        long answered = a.windowAnsweredNanos;
        long took = answered - a.windowSentNanos;
        if (a.windowSentNanos != 0 && answered != 0 && took > 0 && bytes > 0) {
            a.windowBytesTotal += bytes;
            a.windowNanosTotal += took;
            a.windowRate = a.windowBytesTotal * 1e9 / a.windowNanosTotal;
        }
    }

    /** The size of the next window {@code a} asks for (never below the base; the attempt's limit still caps it). */
    long next(Scheduler.Active act, Attempt a) {
        Download d = act.d;
        long base = base(settings, d);
        if (a.windowRate <= 0 || act.plan == null) {
            return base;
        }
        long lacking = act.plan.pendingBytes();
        double[] rates = new double[act.attempts.size()];
        int known = 0;
        int unknown = 0;
        for (Attempt o : act.attempts) {
            if (o.range != null) {
                lacking += Math.max(0, o.rangeLimit - Math.max(o.progress, o.rangeStart) + 1);
                if (o.windowRate > 0) {
                    rates[known++] = o.windowRate;
                } else {
                    unknown++;
                }
            } else if (o.plannedFromHead()) {
                lacking += Math.max(0, o.plannedFirstChunkLast + 1 - o.received); // the probe's own first chunk
                unknown++;
            }
        }
        if (known == 0) {
            return base;
        }
        Arrays.sort(rates, 0, known);
        double typical = rates[known / 2];
        // The download's rate: each attempt at its own rate counted as the typical one (see the class comment), an
        // attempt with no rate yet at the typical one.
        double total = unknown * typical;
        for (int i = 0; i < known; i++) {
            total += effective(rates[i], typical);
        }
        double grown = effective(a.windowRate, typical) * lacking / total - base;
        return grown > base ? Math.min((long) grown, settings.chunkSizeFor(d.length)) : base;
    }

    /** An attempt's rate for the window's size: the typical one from half of it on, else as measured. */
    private static double effective(double rate, double typical) {
        return rate >= typical / 2 ? typical : rate;
    }
}
