package io.flowget.udf.storage;

import io.flowget.udf.config.FlowgetOptions.Durability;

import org.apache.flink.annotation.Internal;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Makes durable, at once, every file and directory changed since the previous commit: under {@link
 * Durability#CHECKPOINT}, {@link #syncPending()} fsyncs each path passed to {@link #markDirty(Path)} since its
 * last call, so that a result committed with the checkpoint names a durable file; under {@link Durability#NONE}
 * nothing is recorded and nothing is synced (a process crash loses nothing either way: the page cache survives
 * it).
 *
 * <p>One batched flush per checkpoint: the paths are fsynced by up to {@value #PARALLELISM} threads at once (the
 * caller's thread runs one share, a JVM-wide pool of daemon threads the rest), and {@link #syncPending()} returns
 * when all are done. An fsync mostly waits for the disk, so the waits overlap: the time the barrier waits is
 * about that of the slowest share, not the sum of every file's (measured before: 0.47 ms per file, one after
 * another, on the task thread). Java has no {@code syncfs(2)}, which would flush the whole file system in one
 * call but also everything else written to it.
 *
 * <p>This is the committer half of the storage (Iceberg's files committer): it never writes bytes, it only
 * decides when written ones must reach the disk. {@link FilePublisher} and the fetch operator's chunk writes
 * feed it.
 *
 * <p>Not thread-safe: owned by one fetch subtask's task thread, which marks paths while processing and calls
 * {@link #syncPending()} while the operator snapshots; the pool threads only fsync the paths they are handed.
 */
@Internal
final class GroupCommit {
    /** Most fsyncs in flight per commit (the caller's thread included). */
    static final int PARALLELISM = 8;
    /** Below this many paths the caller fsyncs them itself: a hand-off costs more than it overlaps. */
    static final int INLINE_BELOW = 4;

    private static final ExecutorService POOL = syncPool();

    private final Durability durability;
    private final Set<Path> pending = new LinkedHashSet<>();

    GroupCommit(Durability durability) {
        this.durability = durability;
    }

    /** Records that a file or directory changed, so the next commit fsyncs it; a no-op unless CHECKPOINT. */
    void markDirty(Path path) {
        if (durability == Durability.CHECKPOINT) {
            pending.add(path);
        }
    }

    /** Number of files and directories waiting for the next commit. */
    int pendingCount() {
        return pending.size();
    }

    /**
     * The group commit: fsyncs everything marked since the last call (in parallel, see the class comment) and
     * forgets it; returns when every fsync has ended. A path that no longer exists is skipped: it was replaced or
     * deleted since, and its successor was marked too.
     *
     * @throws IOException the first failure of any fsync (the others still ran to their end)
     */
    void syncPending() throws IOException {
        if (pending.isEmpty()) {
            return;
        }
        Path[] paths = pending.toArray(new Path[0]);
        pending.clear();
        if (paths.length < INLINE_BELOW) {
            syncAll(paths, 0, paths.length);
            return;
        }
        int shares = Math.min(PARALLELISM, paths.length);
        List<Future<?>> others = new ArrayList<>(shares - 1);
        for (int i = 1; i < shares; i++) {
            int from = (int) ((long) paths.length * i / shares);
            int to = (int) ((long) paths.length * (i + 1) / shares);
            others.add(POOL.submit(() -> {
                syncAll(paths, from, to);
                return null;
            }));
        }
        IOException failure = null;
        try {
            syncAll(paths, 0, paths.length / shares);
        } catch (IOException e) {
            failure = e;
        }
        boolean interrupted = false;
        for (Future<?> f : others) {
            while (true) {
                try {
                    f.get();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true; // the fsyncs run on regardless; the commit must not claim them early
                } catch (ExecutionException e) {
                    IOException cause = e.getCause() instanceof IOException io ? io : new IOException(e.getCause());
                    if (failure == null) {
                        failure = cause;
                    } else {
                        failure.addSuppressed(cause);
                    }
                    break;
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        if (failure != null) {
            throw failure;
        }
    }

    private static void syncAll(Path[] paths, int from, int to) throws IOException {
        for (int i = from; i < to; i++) {
            try (FileChannel ch = FileChannel.open(paths[i], StandardOpenOption.READ)) {
                ch.force(true);
            } catch (NoSuchFileException gone) {
                // replaced or deleted since: its successor is in the list too
            }
        }
    }

    private static ExecutorService syncPool() {
        AtomicInteger n = new AtomicInteger();
        ThreadPoolExecutor pool = new ThreadPoolExecutor(
                PARALLELISM - 1, PARALLELISM - 1, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), r -> {
                    Thread t = new Thread(r, "flowget-fsync-" + n.incrementAndGet());
                    t.setDaemon(true);
                    return t;
                });
        pool.allowCoreThreadTimeOut(true); // no thread left behind between checkpoints of an idle job
        return pool;
    }
}
