package io.flowget.udf.fetch;

import io.flowget.udf.storage.OutputStore;
import io.flowget.udf.storage.PendingPublish;

import org.apache.flink.api.common.TaskInfo;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.runtime.state.KeyGroupRange;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.runtime.state.StateInitializationContext;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executor;
import java.util.function.Consumer;
import java.util.function.LongSupplier;

/**
 * The fetch operator at the edges of a checkpoint, in the order they come: the restore (the in-memory view rebuilt
 * from keyed state, in the constructor; the files whose results were emitted but not committed handed back to the
 * store, and the staging files no restored download owns swept: {@link #open}), the barrier's group commit ({@link
 * #beforeBarrier}), the snapshot ({@link #snapshot}: what is written behind, then operator state) and the completion
 * ({@link #completed}: the committed files renamed on the storage pool). It owns the operator (union list) state
 * {@value #PENDING_PUBLISHES_STATE} ({@link io.flowget.udf.storage.PublishAtCommit}) and this run's incarnation; the
 * keyed state stays {@link FetchState}'s. The operator calls each step from its own lifecycle method.
 *
 * <p>Not thread-safe: task thread only.
 */
final class Checkpoints {
    private static final Logger LOG = LoggerFactory.getLogger(FetchOperator.class);
    /** Operator (union list) state of the files waiting for their checkpoint; part of the savepoint contract. */
    static final String PENDING_PUBLISHES_STATE = "pending-publishes";

    private final FetchState state;
    private final HostPoliteness politeness;
    private final Consumer<String> setKey;
    /** Files whose results are emitted but not yet committed (operator union state, see PublishAtCommit). */
    private final ListState<PendingPublish> pendingPublishes;
    private List<PendingPublish> restoredPublishes = new ArrayList<>();
    private final String incarnation;
    /** The hosts restored with their downloads, until {@link #open} swept the staging files no download owns. */
    private List<FetchState.RestoredHost> restored = List.of();
    private OutputStore store;

    /**
     * From {@code initializeState}: registers {@value #PENDING_PUBLISHES_STATE} and, on a restore, rebuilds the
     * in-memory view from keyed state (counts queues, re-readies every active download in {@code scheduler} at
     * processing time ({@code now}).
     */
    Checkpoints(
            StateInitializationContext context,
            String jobId,
            FetchState state,
            Scheduler scheduler,
            HostPoliteness politeness,
            Consumer<String> setKey,
            LongSupplier now)
            throws Exception {
        this.state = state;
        this.politeness = politeness;
        this.setKey = setKey;
        if (context.isRestored()) {
            rebuildFromState(scheduler, now);
        }
        pendingPublishes =
                context.getOperatorStateStore()
                        .getUnionListState(
                                new ListStateDescriptor<>(
                                        PENDING_PUBLISHES_STATE, TypeInformation.of(PendingPublish.class)));
        if (context.isRestored()) {
            pendingPublishes.get().forEach(restoredPublishes::add);
        }
        incarnation = jobId + "-" + context.getRestoredCheckpointId().orElse(0);
    }

    /** Rebuilds the in-memory view from keyed state: counts queues, re-readies every active download. */
    private void rebuildFromState(Scheduler scheduler, LongSupplier now) throws Exception {
        long queued = 0;
        int reissued = 0;
        List<FetchState.RestoredHost> found = state.restore(setKey);
        restored = found;
        for (FetchState.RestoredHost r : found) {
            reissued += scheduler.restore(r.host(), r.queued(), r.active(), now.getAsLong());
            queued += r.queued();
        }
        LOG.info("Restored {} hosts: {} requests queued, {} unfinished downloads to continue",
                found.size(), queued, reissued);
    }

    /**
     * From {@code open}, before any staging file is written: files become visible with the checkpoint that commits
     * their results (issue 15; without checkpoints nothing is committed later, so they are renamed at once), the
     * restored ones are handed back to {@code store}, and the staging files no restored download owns are swept.
     */
    void open(OutputStore store, TaskInfo task, boolean checkpointing) throws Exception {
        this.store = store;
        int subtask = task.getIndexOfThisSubtask();
        store.publishAtCommit(incarnation, "s" + subtask + "-a" + task.getAttemptNumber(), checkpointing);
        store.restorePublishes(restoredPublishes, subtask, task.getNumberOfParallelSubtasks());
        restoredPublishes = null;
        sweepStaging(task);
    }

    /**
     * Staging files live in per-key-group namespaces ({@code StagingArea}); before it writes any, the subtask deletes
     * the files of the key groups it now owns that none of its restored downloads refers to (after a crash, a
     * restore from an older checkpoint, or a rescale). Other subtasks' key groups are never touched.
     */
    private void sweepStaging(TaskInfo task) throws Exception {
        store.namespaceStagingByKeyGroup(task.getMaxNumberOfParallelSubtasks());
        List<Path> owned = new ArrayList<>();
        for (FetchState.RestoredHost r : restored) {
            for (Map.Entry<Long, Download> e : r.active()) {
                Download d = e.getValue();
                owned.add(store.stagingFile(r.host(), d.downloadId, e.getKey(), d.generation));
            }
        }
        restored = List.of();
        KeyGroupRange groups = KeyGroupRangeAssignment.computeKeyGroupRangeForOperatorIndex(
                task.getMaxNumberOfParallelSubtasks(),
                task.getNumberOfParallelSubtasks(),
                task.getIndexOfThisSubtask());
        store.sweepStaging(groups.getStartKeyGroup(), groups.getEndKeyGroup(), owned);
    }

    /**
     * Group commit: files published and chunks recorded before this barrier become durable before the checkpoint
     * (and with it the result or chunk progress that refers to them) can complete.
     */
    void beforeBarrier() throws Exception {
        store.syncPending();
    }

    /**
     * From {@code snapshotState}, before the keyed backend is snapshotted (right after that method returns): what
     * {@link FetchState} and the hosts' gates hold in memory is written first, then the files waiting for this
     * checkpoint are sealed into {@value #PENDING_PUBLISHES_STATE}.
     */
    void snapshot(long checkpointId) throws Exception {
        politeness.flush();
        state.flush(setKey);
        pendingPublishes.update(store.sealPublishes(checkpointId));
    }

    /**
     * The results emitted before checkpoint {@code checkpointId}'s barrier have committed: their files are renamed
     * into place on the storage pool; the entries stay in {@value #PENDING_PUBLISHES_STATE} until the renames' end
     * comes back by mail.
     */
    void completed(long checkpointId, MailHandoffs mail) {
        long started = System.nanoTime();
        Executor taskThread = end -> mail.post("fetch-published", () -> {
            end.run();
            if (LOG.isDebugEnabled()) {
                LOG.debug("Checkpoint {} complete: its files published in {} ms (renamed on the storage pool)",
                        checkpointId, (System.nanoTime() - started) / 1_000_000);
            }
        });
        store.committedAsync(checkpointId, taskThread);
    }
}
