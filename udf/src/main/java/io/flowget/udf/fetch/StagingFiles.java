package io.flowget.udf.fetch;

import io.flowget.udf.body.Blake3Tree;
import io.flowget.udf.storage.OutputStore;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A download's staging file as the fetch core sees it: its name ({@link #of}), pre-sized when chunks are planned
 * ({@link #planned}), marked for the checkpoint's group commit and hashed ahead as chunks land ({@link #stored}: the
 * {@link Finalizer}'s contiguous prefix and BLAKE3 block tree), and dropped with its hashing state ({@link #drop}).
 * It joins {@link OutputStore} (names, durability, discard) and {@link Finalizer} (hashing) for one download; what a
 * download's plan and progress are stays in {@link ChunkedDownloads}, and keyed state in the operator.
 *
 * <p>Not thread-safe: task thread only (the {@link Finalizer} and {@link OutputStore} calls only queue work).
 */
final class StagingFiles {
    /** A download's request window ({@link AttemptRequests#window}): the BLAKE3 tree's blocks are sized to it. */
    @FunctionalInterface
    interface Windows {
        long window(Download d);
    }

    private final OutputStore store;
    private final Finalizer finalizer;
    private final Windows windows;

    StagingFiles(OutputStore store, Finalizer finalizer, Windows windows) {
        this.store = store;
        this.finalizer = finalizer;
        this.windows = windows;
    }

    /** The staging file of the download of {@code act} (host {@code h}). */
    Path of(Scheduler.Host h, Scheduler.Active act) {
        return of(h.host, act, act.d.generation);
    }

    /** The staging file of the download of {@code act} at {@code generation} (an attempt's own). */
    Path of(String host, Scheduler.Active act, int generation) {
        return store.stagingFile(host, act.d.downloadId, act.seq, generation);
    }

    /**
     * The download was just planned in chunks: its staging file is pre-sized to {@code length} (chunks are positional
     * writes into it), marked for the group commit, given its BLAKE3 block tree before the prefix hasher starts (it
     * hashes the blocks chunks do not), and the prefix already stored is hashed ahead.
     */
    void planned(Path staging, long length, Download d) throws IOException {
        ChunkedDownloads.presize(staging, length);
        store.markDirty(staging);
        blake3Tree(staging, d);
        finalizer.advance(staging, SegmentedChunks.storedDone(d));
    }

    /**
     * A chunk stored bytes: they must be durable at the next checkpoint, and the final prefix {@code done} (stored-file
     * offsets) is hashed ahead.
     */
    void stored(Path staging, long[] done) {
        store.markDirty(staging); // the chunk's bytes so far must be durable at the next checkpoint
        finalizer.advance(staging, done); // hash the final prefix ahead
    }

    /** The download will not be finalized (failed, or a new generation): its hashing state and file go. */
    void drop(Path staging) {
        finalizer.forget(staging);
        store.discard(staging);
    }

    /** The feeder with which a chunk attempt hashes its own BLAKE3 blocks, or null (no block tree). */
    Blake3Tree.Feeder feeder(Path staging, Download d) {
        Blake3Tree tree = blake3Tree(staging, d);
        return tree == null ? null : tree.feeder();
    }

    /** The BLAKE3 block tree of a chunked download (null: BLAKE3 off, or the file is read in order at the end). */
    private Blake3Tree blake3Tree(Path staging, Download d) {
        return finalizer.treeForWindow(staging, SegmentedChunks.storedLength(d), windows.window(d));
    }
}
