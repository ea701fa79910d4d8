package io.flowget.udf.fetch;

import org.apache.flink.api.common.operators.MailboxExecutor;
import org.apache.flink.util.function.ThrowingRunnable;

import java.util.concurrent.RejectedExecutionException;
import java.util.function.BiConsumer;
import java.util.function.Consumer;

/**
 * The way back onto the task thread: {@link #post} puts any mail (an HTTP outcome, a DNS answer, a sweep, the
 * commit's renames) into the mailbox under {@link Isolation#survive}, so no exception of a mail escapes into the task;
 * {@link #offThread} hands a finalizing download's work to another thread (the {@link Finalizer}'s digest, the
 * storage pool's publish) and brings its value back by mail to that download, if it is still the one that asked;
 * {@link #step} runs one step of a current download under {@link Isolation#isolated} and gives its host its turn
 * back. It sets the current key and calls the operator only through the callbacks it is built with.
 *
 * <p>Not thread-safe: {@link #post} may be called from any thread (the mailbox is thread-safe); everything else,
 * and every mail it posts, runs on the task thread.
 */
final class MailHandoffs {

    /** What comes of off-thread work (a digest, a publish), on the task thread with the download's host as the key. */
    @FunctionalInterface
    interface OffThreadStep<T> {
        void apply(Scheduler.Host h, Scheduler.Active act, T value, Exception error) throws Exception;
    }

    /** What follows a download's step on its host (the operator re-queues the host and pumps). Task thread. */
    @FunctionalInterface
    interface AfterStep {
        void after(Scheduler.Host h) throws Exception;
    }

    private final MailboxExecutor mailbox;
    private final Isolation isolation;
    private final Scheduler scheduler;
    private final Consumer<String> setKey;
    private final AfterStep afterStep;

    MailHandoffs(
            MailboxExecutor mailbox,
            Isolation isolation,
            Scheduler scheduler,
            Consumer<String> setKey,
            AfterStep afterStep) {
        this.mailbox = mailbox;
        this.isolation = isolation;
        this.scheduler = scheduler;
        this.setKey = setKey;
        this.afterStep = afterStep;
    }

    /**
     * Posts {@code mail} to the mailbox, to run under {@link Isolation#survive}. Returns false when the task is
     * shutting down; then the request is still in keyed state and is issued again on restore. Any thread.
     */
    boolean post(String name, ThrowingRunnable<? extends Exception> mail) {
        try {
            mailbox.execute(() -> isolation.survive(name, mail), name);
            return true;
        } catch (RejectedExecutionException closing) {
            return false;
        }
    }

    /**
     * Runs {@code step} of download {@code act} (its host already the current key) under {@link
     * Isolation#isolated}, then gives the host its turn back ({@link AfterStep}).
     */
    void step(Scheduler.Host h, Scheduler.Active act, ThrowingRunnable<? extends Exception> step) throws Exception {
        isolation.isolated(h, act, step);
        afterStep.after(h);
    }

    /**
     * Marks the download finalizing, has {@code work} run off the task thread (the {@link Finalizer}'s digest, the
     * storage pool's publish), and hands its value to {@code then} by mail if the download is still finalizing that
     * generation; else (it ended or started over meanwhile) to {@code orphaned}, when given. While finalizing, the
     * download stays in keyed state and takes no turn, so a checkpoint meanwhile restores it (issued again). Returns
     * false (and runs nothing) when the download is already finalizing.
     */
    <T> boolean offThread(
            Scheduler.Host h,
            Scheduler.Active act,
            String mail,
            Consumer<BiConsumer<T, Exception>> work,
            OffThreadStep<T> then,
            Consumer<T> orphaned) {
        if (!scheduler.startFinalizing(act)) {
            return false;
        }
        String host = h.host;
        long seq = act.seq;
        int generation = act.d.generation;
        work.accept((value, error) -> post(mail, () -> {
            Scheduler.Host now = scheduler.existing(host);
            Scheduler.Active current = now == null ? null : now.download(seq);
            if (current == null || current.d.generation != generation || !current.finalizing) {
                if (orphaned != null) {
                    orphaned.accept(value); // it ended or started over meanwhile
                }
                return;
            }
            setKey.accept(host);
            scheduler.endFinalizing(current);
            step(now, current, () -> then.apply(now, current, value, error));
        }));
        return true;
    }
}
