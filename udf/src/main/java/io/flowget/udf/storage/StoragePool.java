package io.flowget.udf.storage;

import org.apache.flink.annotation.Internal;

import java.util.concurrent.Executor;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The storage pool: the JVM-wide daemon threads ({@code flowget-store-N}) that do the file-system work of a publish
 * and of the commit's renames for every fetch subtask of the TaskManager, so that the task thread only decides
 * (issue 16): the ownership check's lstat walk, the metadata attribute, directory creation and the renames
 * ({@link OutputStore#prepare}, {@link PublishAtCommit#committedAsync}). Their ends come back to the task thread
 * through the operator's mailbox.
 *
 * <p>Bounded: {@link #THREADS} threads (they mostly wait for the file system's metadata locks and journal, so a few
 * overlap without costing CPU); its queue holds at most one task per download that finished and is being published,
 * plus one per completed checkpoint, so it is bounded by the operator's own bounds on downloads (in flight and
 * queued). Threads end after 30 s idle. The fsyncs of the group commit have their own pool ({@link GroupCommit}):
 * a barrier waits for those and must not queue behind publishes.
 *
 * <p>Thread-safe.
 */
@Internal
public final class StoragePool {
    /** Threads of the pool: 2 to 4, by the machine's cores. */
    public static final int THREADS = Math.max(2, Math.min(4, Runtime.getRuntime().availableProcessors()));

    private static final ThreadPoolExecutor POOL = pool();

    private StoragePool() {}

    /** The pool's executor. */
    public static Executor executor() {
        return POOL;
    }

    /** Tasks the pool has finished since the JVM started (tests: the file work ran here). */
    public static long completed() {
        return POOL.getCompletedTaskCount();
    }

    /** Tasks queued or running (metrics, tests). */
    public static int busy() {
        return POOL.getQueue().size() + POOL.getActiveCount();
    }

    private static ThreadPoolExecutor pool() {
        AtomicInteger n = new AtomicInteger();
        ThreadPoolExecutor pool = new ThreadPoolExecutor(
                THREADS, THREADS, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), r -> {
                    Thread t = new Thread(r, "flowget-store-" + n.incrementAndGet());
                    t.setDaemon(true);
                    return t;
                });
        pool.allowCoreThreadTimeOut(true); // no thread left behind while the job is idle
        return pool;
    }
}
