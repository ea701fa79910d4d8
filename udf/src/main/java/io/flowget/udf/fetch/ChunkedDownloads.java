package io.flowget.udf.fetch;

import io.flowget.udf.http.Attempt;
import io.flowget.udf.http.FetchOutcome;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.storage.SafeFiles;

import java.io.IOException;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * Chunked downloads in memory: turning a probed download into a chunk plan, recording what each chunk attempt
 * delivered into {@link Download#done} and the {@link RangePlan}, splitting the slowest chunk when nothing else is
 * left to plan, and resetting a download for a new generation. It changes the download and its plan only; the
 * operator persists the download and makes the staging file durable.
 *
 * <p>Immutable settings; the downloads it is handed are owned by the task thread.
 */
final class ChunkedDownloads {
    private final FetchSettings settings;

    ChunkedDownloads(FetchSettings settings) {
        this.settings = settings;
    }

    /** The probe's 206 showed a large file with a strong validator: the download becomes chunked. */
    void plan(Scheduler.Active act, Decision.PlanChunks p) {
        Download d = act.d;
        d.switchTo(Download.Mode.CHUNKED);
        d.length = p.length();
        d.validator = p.validator();
        d.validatorIsEtag = p.validatorIsEtag();
        d.done = Intervals.add(Intervals.EMPTY, 0, p.firstChunkLast());
        d.failures = 0;
        act.plan = replan(d);
    }

    /**
     * The probe's response head showed a large file with a strong validator ({@link OutcomeRules#planFromHead})
     * while its body still streams: the download becomes chunked at once and the other chunks are planned, so their
     * connections open now instead of after the probe's whole first chunk. The probe's own range is neither planned
     * nor done: its outcome records it ({@link #recordFirstChunk}) or puts it back into the plan ({@link
     * #replanFirstChunk}).
     */
    void planFromHead(Scheduler.Active act, Attempt probe, Decision.PlanChunks p) {
        Download d = act.d;
        d.switchTo(Download.Mode.CHUNKED);
        d.length = p.length();
        d.validator = p.validator();
        d.validatorIsEtag = p.validatorIsEtag();
        d.done = Intervals.EMPTY;
        d.failures = 0;
        act.plan =
                new RangePlan(
                        d.length, settings.chunkSizeFor(d.length), Intervals.add(Intervals.EMPTY, 0, p.firstChunkLast()));
        probe.plannedFirstChunkLast = p.firstChunkLast(); // still a whole-body attempt: never split or windowed
    }

    /**
     * The outcome of a probe planned from its head ({@link #planFromHead}): when it stored exactly its range ({@link
     * OutcomeRules#firstChunkExact}) the file's first chunk is done and this returns true (the staging file got bytes
     * that must become durable); after a failure its range goes back into the plan.
     */
    boolean firstChunkDone(Scheduler.Active act, Attempt probe, FetchOutcome o) {
        if (OutcomeRules.firstChunkExact(act.d, probe, o)) {
            recordFirstChunk(act, probe);
            return true;
        }
        if (o.error != null) {
            replanFirstChunk(act, probe);
        }
        return false;
    }

    /** A probe planned from its head stored exactly its range: the file's first chunk is done. */
    private void recordFirstChunk(Scheduler.Active act, Attempt probe) {
        act.d.done = Intervals.add(act.d.done, 0, probe.plannedFirstChunkLast);
    }

    /** A probe planned from its head failed: its range goes back to the front of the plan, as a chunk's would. */
    private void replanFirstChunk(Scheduler.Active act, Attempt probe) {
        act.plan.addFirst(new long[] {0, probe.plannedFirstChunkLast});
    }

    /** The plan of what a chunked download still lacks (after {@link #plan}, or after a restore). */
    RangePlan replan(Download d) {
        return new RangePlan(d.length, SegmentedChunks.chunkSize(d, settings.chunkSizeFor(d.length)), d.done);
    }

    /** The next range to fetch of a chunked download (planning it first after a restore), or null for none. */
    long[] nextRange(Scheduler.Active act) {
        if (act.plan == null) {
            act.plan = replan(act.d);
        }
        return act.plan.next();
    }

    /**
     * A request's new download, as it leaves the queue: a fresh download id (random, non-zero: 0 marks state from
     * before ids; never derived from reusable numbers) and its first mode: single streams for a digest-only run and
     * for encrypted payloads that cannot be decrypted chunk by chunk, a probe for everything else.
     */
    Download newDownload(FetchRequest req, long nowMillis, SplittableRandom random) {
        Download d = new Download(req, nowMillis);
        long id;
        do {
            id = random.nextLong();
        } while (id == 0);
        d.downloadId = id;
        // A digest-only run stores nothing, so it has no staging file to write chunks into; an encrypted payload is
        // decrypted as one stream unless its Tink segments can be decrypted chunk by chunk (SegmentedChunks).
        boolean single = settings.digestOnly
                || (req.decryptKeyId != null && !SegmentedChunks.chunkable(settings.decryption(req)));
        d.switchTo(single ? Download.Mode.SINGLE : Download.Mode.PROBE);
        return d;
    }

    /**
     * True when {@code staging} is there with the download's pre-sized length: verified before a restored chunked
     * download trusts its recorded chunks (a missing or foreign file means it starts over).
     */
    static boolean stagingIntact(Path staging, long length) {
        try {
            return java.nio.file.Files.size(staging) == length;
        } catch (IOException missing) {
            return false;
        }
    }

    /** Pre-sizes the (sparse) staging file: chunks are positional writes into it. */
    static void presize(Path staging, long length) throws IOException {
        SafeFiles.presize(staging, length); // never through a link planted in the staging directory
    }

    /**
     * Records what a chunk attempt delivered: its bytes into {@link Download#done}, what it did not deliver back
     * into the plan. Bytes written before a failure belong to the validated version and are kept. Returns true
     * when the staging file got bytes that must become durable.
     */
    boolean record(Scheduler.Active act, Attempt a, FetchOutcome o) {
        Download d = act.d;
        long[] range = a.range;
        long end = Math.min(range[1], a.rangeLimit);
        if (o.error != null) {
            long written = a.progress - 1;
            boolean wrote = written >= range[0];
            if (wrote) {
                d.done = Intervals.add(d.done, range[0], written);
            }
            act.plan.finished(range, new long[] {Math.max(range[0], written + 1), end});
            return wrote;
        }
        if (o.status == 206 && o.stored) {
            if (o.rangeLast >= o.rangeFirst) {
                d.done = Intervals.add(d.done, o.rangeFirst, o.rangeLast);
            }
            long[] rest = o.rangeLast < end ? new long[] {Math.max(range[0], o.rangeLast + 1), end} : null;
            act.plan.finished(range, rest);
            d.failures = 0;
            return true;
        }
        act.plan.finished(range, range);
        return false;
    }

    /**
     * Slow tail: with nothing left to plan, the in-flight chunk that can give away the most gives the second half
     * of what it has left to a new attempt (its own limit is lowered), so one slow connection cannot hold the file
     * at 99 %. The split point is never below what the origin was already asked for (the straggler's current
     * window, {@link Attempt#requestWindow}): the straggler finishes that window and stops, the new attempt asks
     * from the split point on, and no byte is sent twice. Both parts are at least {@code min-split}. Returns true
     * when it split one (the download has work again).
     */
    boolean splitStraggler(Scheduler.Active act) {
        for (int tries = 0; tries < 3; tries++) { // a window sent meanwhile on an I/O thread: look again
            Attempt best = null;
            long bestAt = 0;
            long bestTakes = 0;
            for (Attempt a : act.attempts) {
                if (a.range == null) {
                    continue;
                }
                long limit = a.rangeLimit;
                long from = Math.max(a.progress, a.rangeStart);
                long left = limit - from + 1;
                // at a segment end for a segmented object (SegmentedChunks), else past the requested window
                long at = SegmentedChunks.splitPoint(act.d, Math.max(from + left / 2, a.requestedEnd() + 1), limit);
                long takes = at <= from ? 0 : limit - at + 1;
                if (left >= 2 * settings.minSplit && takes >= settings.minSplit && takes > bestTakes) {
                    best = a;
                    bestAt = at;
                    bestTakes = takes;
                }
            }
            if (best == null) {
                return false;
            }
            long limit = best.rangeLimit;
            if (best.cutAt(bestAt)) {
                act.plan.addFirst(new long[] {bestAt, limit});
                return true;
            }
        }
        return false;
    }

    /** Forgets everything a download learnt about its resource: a new generation in {@code mode}. */
    static void reset(Scheduler.Active act, Download.Mode mode) {
        Download d = act.d;
        d.generation++;
        d.switchTo(mode);
        d.length = -1;
        d.done = Intervals.EMPTY;
        d.validator = null;
        d.validatorIsEtag = false;
        SegmentedChunks.forget(d);
        act.plan = null;
    }
}
