package io.flowget.udf.fetch;

import io.flowget.udf.body.Digests;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.BiConsumer;

/**
 * Whole-file digests of completed chunked downloads, off the task thread: chunks arrive out of order, so their
 * SHA-256 (and BLAKE3) is computed by reading the staging file once at the end, which takes about a second per
 * GiB. One daemon thread per operator instance; results go to a callback on that thread, which posts them back
 * to the mailbox.
 *
 * <p>Thread-safe: {@link #digest} may be called from the task thread while the hasher works.
 */
final class Finalizer implements AutoCloseable {
    private final ExecutorService hasher;
    private final boolean blake3;

    Finalizer(int subtask, boolean blake3) {
        this.hasher = Executors.newSingleThreadExecutor(Sweeper.daemon("flowget-hasher-" + subtask));
        this.blake3 = blake3;
    }

    /**
     * Digests {@code staging}, or, when it is gone (published before a crash that came ahead of the checkpoint),
     * the file {@code published} names. {@code then} receives the digest or the error, on the hasher thread.
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
                    try {
                        Path file = Files.exists(staging) ? staging : published.call();
                        if (noLink && Files.isSymbolicLink(file)) {
                            throw new IOException(file + " is a symbolic link");
                        }
                        digest = Digests.digest(file, blake3);
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

    /** Stops the hasher; a digest cut short runs again after the restore. */
    @Override
    public void close() {
        hasher.shutdownNow();
    }
}
