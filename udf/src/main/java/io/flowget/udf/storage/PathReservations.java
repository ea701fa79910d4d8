package io.flowget.udf.storage;

import io.flowget.udf.config.FlowgetOptions.OnConflict;
import io.flowget.udf.storage.OutputStore.PathConflictException;

import javax.annotation.concurrent.NotThreadSafe;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * Final paths reserved for the URL whose file is on its way there, with how many of that URL's publishes hold
 * each. Two URLs' files on one path are decided when their publishes begin, in the task thread's order, not by the
 * order their file work ends in on the storage pool (both would pass the ownership check, and the later rename
 * would replace the other URL's file).
 *
 * <p>Owned by one fetch subtask's task thread, as {@link OutputStore}.
 */
@NotThreadSafe
final class PathReservations {
    private final Map<Path, Holder> held = new HashMap<>();

    /**
     * Reserves {@code target} for {@code url} once more.
     *
     * @param until how long it stays reserved, for the conflict's message ("whose file appears with the next
     *     checkpoint")
     * @throws PathConflictException when another URL holds it and {@code onConflict} is FAIL
     */
    void take(Path target, String relative, String url, OnConflict onConflict, String until)
            throws PathConflictException {
        Holder h = held.get(target);
        if (h != null && !h.url.equals(url) && onConflict == OnConflict.FAIL) {
            throw new PathConflictException(relative, "it is reserved for " + h.url + ", " + until);
        }
        held.computeIfAbsent(target, t -> new Holder(url)).count++;
    }

    /** Gives one reservation of {@code target} back (null or unknown: nothing). */
    void release(Path target) {
        Holder h = target == null ? null : held.get(target);
        if (h != null && --h.count <= 0) {
            held.remove(target);
        }
    }

    boolean contains(Path target) {
        return held.containsKey(target);
    }

    private static final class Holder {
        final String url;
        int count;

        Holder(String url) {
            this.url = url;
        }
    }
}
