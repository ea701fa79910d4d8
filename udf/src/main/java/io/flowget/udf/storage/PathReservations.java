package io.flowget.udf.storage;

import io.flowget.udf.config.FlowgetOptions.OnConflict;
import io.flowget.udf.storage.OutputStore.PathConflictException;
import io.flowget.udf.storage.OutputStore.Publish;

import javax.annotation.concurrent.NotThreadSafe;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * The publishes on their way to each final path, so that two URLs' files on one path are decided in the order their
 * publishes begin on the task thread, never by the order their file work happens to end in on the storage pool (both
 * would pass the ownership check on an empty path, and the later rename would replace the other URL's file).
 *
 * <p>Two rules do it. <b>One path's file work runs one publish after another</b>, in the order they began: {@link
 * #take} gives each publish the completion of the one before it on its path ({@link Publish#after}), so each
 * ownership check sees what the earlier ones left on disk. And <b>a file staged for the next checkpoint holds its
 * path</b> ({@link #staged}, with checkpoints only) until its commit's rename ({@link #release}): another URL's
 * publish then fails at once, as it would once the file is there. A publish of another URL still being prepared is not
 * a conflict yet (it may yet fail: its path is not its own, its staging file is gone); the later one waits for it and
 * is told in {@link Publish#rivals} whom to look at (a rival's staged file is that conflict; see {@link
 * PublishAtCommit#prepare}). Refusing it at once instead would let a doomed publish of a stranger turn away the
 * path's owner, which is what happened to a URL published again while another URL's claim on its path was checked.
 *
 * <p>Owned by one fetch subtask's task thread, as {@link OutputStore}.
 */
@NotThreadSafe
final class PathReservations {
    private final Map<Path, Claims> held = new HashMap<>();

    /**
     * Enters {@code p} on its path: it will run its file work after the publishes that began before it there.
     *
     * @param until how long a staged file holds the path, for the conflict's message ("whose file appears with the
     *     next checkpoint")
     * @throws PathConflictException when {@code onConflict} is FAIL and a file of another URL is staged for the path
     */
    void take(Publish p, OnConflict onConflict, String until) throws PathConflictException {
        Claims c = held.get(p.target);
        if (c != null && onConflict == OnConflict.FAIL) {
            for (String url : c.staged) {
                if (!url.equals(p.url)) {
                    throw new PathConflictException(p.relative, "it is reserved for " + url + ", " + until);
                }
            }
        }
        if (c == null) {
            c = new Claims();
            held.put(p.target, c);
        }
        List<Publish> rivals = null;
        for (Publish q : c.preparing) {
            if (!q.url.equals(p.url)) {
                if (rivals == null) {
                    rivals = new ArrayList<>(1);
                }
                rivals.add(q);
            }
        }
        p.rivals = rivals == null ? List.of() : rivals;
        p.after = c.tail == null || c.tail.isDone() ? null : c.tail;
        c.tail = p.done;
        c.preparing.add(p);
    }

    /** {@code p}'s file is staged for the next checkpoint: it holds the path until its {@link #release}. */
    void staged(Publish p) {
        Claims c = held.get(p.target);
        if (c != null && c.preparing.remove(p)) {
            c.staged.add(p.url);
        }
    }

    /** {@code p} ended before staging a file (published in place, failed, nothing to publish, abandoned). */
    void drop(Publish p) {
        Claims c = held.get(p.target);
        if (c != null && c.preparing.remove(p)) {
            forgetIfEmpty(p.target, c);
        }
    }

    /** A file staged for {@code target} (resolved) for {@code url} was renamed into place, or dropped. */
    void release(Path target, String url) {
        Claims c = held.get(target);
        if (c != null && c.staged.remove(url)) {
            forgetIfEmpty(target, c);
        }
    }

    /** Whether a publish is on its way to {@code target} or a file is staged for it. */
    boolean contains(Path target) {
        return held.containsKey(target);
    }

    private void forgetIfEmpty(Path target, Claims c) {
        // Every publish's file work has ended when it leaves (its end comes by mail after it), so the tail is done.
        if (c.preparing.isEmpty() && c.staged.isEmpty()) {
            held.remove(target);
        }
    }

    private static final class Claims {
        /** Publishes that began and have not ended yet, in the order they began. */
        final List<Publish> preparing = new ArrayList<>(1);
        /** The URLs of files staged for the next checkpoint, one entry per file. */
        final List<String> staged = new ArrayList<>(1);
        /** Completes when the file work of the last publish that began here has ended. */
        CompletableFuture<Void> tail;
    }
}
