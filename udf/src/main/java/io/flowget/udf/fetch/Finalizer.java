package io.flowget.udf.fetch;

import io.flowget.udf.body.Blake3Tree;
import io.flowget.udf.body.Digests;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.BiConsumer;

/**
 * Whole-file digests of chunked downloads, off the task thread. Chunks arrive out of order, so the digest is
 * computed from the staging file; but not all at the end: whenever the contiguous prefix of a download's bytes
 * grows ({@link #advance}), the hasher reads on from where it stopped, so that when the last chunk lands only the
 * bytes not hashed yet are read ({@link #digest}), typically the last chunk or two instead of the whole file
 * (0.35–0.4 s per 256 MiB before). One daemon thread per operator instance; all hashing state lives on it, and
 * results go to a callback on that thread, which posts them back to the mailbox.
 *
 * <p>The prefix state is in memory only and bounded ({@value #MAX_PREFIXES} downloads; the oldest is dropped): a
 * download without it (restored, dropped, or hashed from the published file) is read whole at the end, as before.
 *
 * <p>Thread-safe: {@link #advance}, {@link #forget} and {@link #digest} may be called from the task thread while
 * the hasher works; they only queue work for it.
 */
final class Finalizer implements AutoCloseable {
    /** Chunked downloads whose prefix is hashed ahead at once, at most. */
    static final int MAX_PREFIXES = 64;

    private final ExecutorService hasher;
    private final boolean blake3;
    /** Staging file → its prefix hashed so far. Touched on the hasher thread only. */
    private final Map<Path, Digests.FileHasher> prefixes =
            new LinkedHashMap<>(16, 0.75f, false) {
                @Override
                protected boolean removeEldestEntry(Map.Entry<Path, Digests.FileHasher> eldest) {
                    return size() > MAX_PREFIXES;
                }
            };

    /**
     * Staging file → the BLAKE3 block tree of a chunked download ({@link Blake3Tree}: chunk windows hash their own
     * blocks on the I/O threads, the prefix reader the rest). Created on the task thread ({@link #tree}), read by
     * I/O threads and the hasher, dropped with the download's digest or {@link #forget}; at most {@value
     * #MAX_PREFIXES}.
     */
    private final Map<Path, Blake3Tree> trees = new ConcurrentHashMap<>();

    /** BLAKE3 blocks of finished digests: hashed by the chunks that received them / read from the file. */
    private final java.util.concurrent.atomic.AtomicLong blocksFromChunks = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicLong blocksFromFile = new java.util.concurrent.atomic.AtomicLong();

    Finalizer(int subtask, boolean blake3) {
        this.hasher = Executors.newSingleThreadExecutor(Sweeper.daemon("flowget-hasher-" + subtask));
        this.blake3 = blake3;
    }

    /**
     * The BLAKE3 block tree of the chunked download of {@code staging} ({@code length} bytes, blocks of {@code
     * blockBytes}), created on first use; null when BLAKE3 is off, the file fits in one block, or {@value
     * #MAX_PREFIXES} trees are in use (that download's BLAKE3 is then read from the file in order, as before).
     * Task thread.
     */
    Blake3Tree tree(Path staging, long length, int blockBytes) {
        if (!blake3) {
            return null;
        }
        Blake3Tree t = trees.get(staging);
        if (t == null && trees.size() < MAX_PREFIXES) {
            t = Blake3Tree.forFile(length, blockBytes);
            if (t != null) {
                trees.put(staging, t);
            }
        }
        return t != null && t.length() == length ? t : null;
    }

    /**
     * {@link #tree(Path, long, int)} of a download's staging file of {@code length} bytes (stored-file bytes), its
     * blocks sized to the chunk attempts' request {@code window} ({@link Blake3Tree#blockBytes}). Task thread.
     */
    Blake3Tree treeForWindow(Path staging, long length, long window) {
        return tree(staging, length, Blake3Tree.blockBytes(length, window));
    }

    /**
     * The bytes of {@code staging} before the first gap of {@code done} (flat inclusive intervals, see {@link
     * Intervals}) are final: hash them ahead. A no-op when the prefix did not grow.
     */
    void advance(Path staging, long[] done) {
        long end = done.length >= 2 && done[0] == 0 ? done[1] + 1 : 0;
        if (end <= 0) {
            return;
        }
        hasher.execute(
                () -> {
                    Digests.FileHasher h = prefixes.computeIfAbsent(staging, this::newHasher);
                    try {
                        h.readUpTo(staging, end);
                    } catch (Exception e) {
                        prefixes.remove(staging); // read whole at the end instead
                    }
                });
    }

    /** The download of {@code staging} will not be finalized (failed, or a new generation): drop its prefix. */
    void forget(Path staging) {
        trees.remove(staging);
        hasher.execute(() -> prefixes.remove(staging));
    }

    /** A hasher for the whole of {@code staging}: BLAKE3 from its block tree when it has one. Hasher thread. */
    private Digests.FileHasher newHasher(Path staging) {
        return new Digests.FileHasher(blake3, trees.get(staging));
    }

    /**
     * Digests {@code staging} (continuing its hashed prefix, if any), or, when it is gone (published before a
     * crash that came ahead of the checkpoint), the file {@code published} names. {@code then} receives the
     * digest or the error, on the hasher thread.
     */
    void digest(Path staging, Callable<Path> published, BiConsumer<Digests.FileDigest, Exception> then) {
        digest(staging, published, then, false);
    }

    private void digest(
            Path staging, Callable<Path> published, BiConsumer<Digests.FileDigest, Exception> then, boolean noLink) {
        hasher.execute(
                () -> {
                    Digests.FileDigest digest = null;
                    Exception error = null;
                    Digests.FileHasher prefix = prefixes.remove(staging);
                    Blake3Tree tree = trees.remove(staging);
                    try {
                        Path file = Files.exists(staging) ? staging : published.call();
                        if (noLink && Files.isSymbolicLink(file)) {
                            throw new IOException(file + " is a symbolic link");
                        }
                        Digests.FileHasher h =
                                prefix != null && file.equals(staging)
                                        ? prefix
                                        : new Digests.FileHasher(blake3, file.equals(staging) ? tree : null);
                        h.readUpTo(file, Long.MAX_VALUE);
                        digest = h.finish();
                        if (tree != null && digest.blake3() != null) {
                            blocksFromChunks.addAndGet(tree.fed());
                            blocksFromFile.addAndGet(tree.blocks() - tree.fed());
                        }
                    } catch (Exception e) {
                        error = e;
                    }
                    then.accept(digest, error);
                });
    }

    /**
     * Digests exactly {@code file} (a published file whose recorded digest is to be checked); a symbolic link
     * there is an error, never followed. {@code then} receives the digest or the error, on the hasher thread.
     */
    void digestFile(Path file, BiConsumer<Digests.FileDigest, Exception> then) {
        digest(file, () -> file, then, true);
    }

    /** BLAKE3 blocks of the digests finished so far: {hashed by the chunks that received them, read from the file}. */
    long[] blake3Blocks() {
        return new long[] {blocksFromChunks.get(), blocksFromFile.get()};
    }

    /** Stops the hasher; a digest cut short runs again after the restore. */
    @Override
    public void close() {
        hasher.shutdownNow();
    }
}
