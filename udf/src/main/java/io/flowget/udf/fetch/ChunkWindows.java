package io.flowget.udf.fetch;

import io.flowget.udf.http.Attempt;

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
 * One of at least half the download's mean counts as the mean: windows sent in one burst share the client's I/O threads
 * and finish in any order, so single rates scatter that much on a busy client. (The price: a connection truly between
 * half and all of the mean's speed may end a grown window up to that factor later than planned.) One below half the
 * mean counts as measured, which keeps a straggler at the base window.
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
        double known = 0;
        int knownCount = 0;
        int unknownCount = 0;
        for (Attempt o : act.attempts) {
            if (o.range != null) {
                lacking += Math.max(0, o.rangeLimit - Math.max(o.progress, o.rangeStart) + 1);
                if (o.windowRate > 0) {
                    known += o.windowRate;
                    knownCount++;
                } else {
                    unknownCount++;
                }
            } else if (o.plannedFromHead()) {
                lacking += Math.max(0, o.plannedFirstChunkLast + 1 - o.received); // the probe's own first chunk
                unknownCount++;
            }
        }
        if (knownCount == 0) {
            return base;
        }
        double mean = known / knownCount;
        double total = known + unknownCount * mean; // an attempt with no rate yet: the mean
        // Within a factor of two of the mean an attempt counts as a normal connection (windows sent in one burst
        // share the client's I/O threads and finish in any order, so single rates scatter that much); below it, as
        // slow as measured.
        double rate = a.windowRate >= mean / 2 ? mean : a.windowRate;
        double grown = rate * lacking / total - base;
        return grown > base ? Math.min((long) grown, settings.chunkSizeFor(d.length)) : base;
    }
}
