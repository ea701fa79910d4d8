package io.flowget.udf.fetch;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * A fresh directory for one benchmark run under {@code java.io.tmpdir} (the documented commands point it into
 * {@code bench/harness/target}), removed with all it holds on {@link #close()}: what {@code @TempDir} did when the
 * benchmarks were JUnit tests. Owned by the benchmark's main thread.
 */
final class BenchDir implements AutoCloseable {
    private final Path path;

    private BenchDir(Path path) {
        this.path = path;
    }

    /** A benchmark's body, given its directory. */
    @FunctionalInterface
    interface Body {
        void run(Path dir) throws Exception;
    }

    /** Runs {@code body} in a fresh directory (see {@link #create}) and deletes the directory afterwards. */
    static void run(String prefix, Body body) throws Exception {
        try (BenchDir dir = create(prefix)) {
            body.run(dir.path());
        }
    }

    /** Creates {@code java.io.tmpdir/<prefix>…}, and {@code java.io.tmpdir} itself when it does not exist yet. */
    static BenchDir create(String prefix) throws IOException {
        Path root = Path.of(System.getProperty("java.io.tmpdir"));
        Files.createDirectories(root);
        return new BenchDir(Files.createTempDirectory(root, prefix));
    }

    Path path() {
        return path;
    }

    /** Deletes {@code dir} and everything below it; a directory that does not exist is fine. */
    static void delete(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            throw new UncheckedIOException("could not delete " + dir, e);
        }
    }

    @Override
    public void close() {
        delete(path);
    }
}
