package io.flowget.udf.fetch;

import io.flowget.udf.http.Attempt;

/**
 * How many bytes a chunk attempt's next window asks for. The base window is a quarter chunk (at least {@code
 * flowget.chunk.min-split}): the most a straggler still owes the origin when the plan runs dry, since a split never
 * takes over what was already asked for ({@link ChunkedDownloads#splitStraggler}). A window grows past it only while
 * the download has much more left than its connections can fetch in that window, and only for an attempt whose
 * measured rate says it will finish the window early: with {@code B} the bytes the download still lacks (the plan's
 * untaken ranges plus what each attempt in flight has not written yet), {@code R} the sum of its attempts' rates and
 * {@code r} this attempt's, the window is {@code r * B / R - base} — at that attempt's rate it ends one base window's
 * time before the whole download would end if every connection kept its rate. So a large file needs fewer requests
 * (each costs a round trip, a mail, a send and the client's per-exchange work), the windows shrink back to the base as
 * the download nears its end, and a slow connection (a low {@code r}) keeps the base window: the tail, which is what
 * the unsplittable windows in flight still owe, is no longer than with fixed windows while the rates hold. An attempt's
 * first window, before it has a rate, is the base.
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
            a.windowRate = bytes * 1e9 / took;
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
        double total = known + unknownCount * (known / knownCount); // an attempt with no rate yet: the mean
        double grown = a.windowRate * lacking / total - base;
        return grown > base ? Math.min((long) grown, settings.chunkSizeFor(d.length)) : base;
    }
}
