package io.flowget.job.daemon;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

/**
 * The CPU time this JVM's JIT compiler threads have used so far ({@code C1/C2 CompilerThreadN}), read from
 * {@code /proc/self/task/<tid>/stat} (utime + stime in clock ticks, taken as 100 per second, the Linux default). The
 * warm-up ({@link DaemonWarmUp}) uses it to tell whether a round still made the compilers work and to wait until
 * they are idle before its next round. Empty where {@code /proc} is not there (then the warm-up runs its rounds
 * without these checks).
 *
 * <p>Stateless; any thread.
 */
final class CompilerCpu {
    private static final Path TASKS = Path.of("/proc/self/task");
    private static final long TICK_MILLIS = 10;

    private CompilerCpu() {}

    /** The compiler threads' CPU so far, or empty when it cannot be read. */
    static Optional<Duration> used() {
        if (!Files.isDirectory(TASKS)) {
            return Optional.empty();
        }
        long ticks = 0;
        try (DirectoryStream<Path> tasks = Files.newDirectoryStream(TASKS)) {
            for (Path t : tasks) {
                String stat;
                try {
                    stat = Files.readString(t.resolve("stat"), StandardCharsets.US_ASCII);
                } catch (IOException gone) {
                    continue; // the thread ended meanwhile
                }
                int open = stat.indexOf('(');
                int close = stat.lastIndexOf(')');
                if (open < 0 || close < open) {
                    continue;
                }
                String name = stat.substring(open + 1, close);
                if (!name.contains("CompilerThre")) {
                    continue;
                }
                // fields after the name: state(3) ppid ... utime(14) stime(15), counted from 1 over the whole line
                String[] f = stat.substring(close + 2).split(" ");
                if (f.length > 12) {
                    ticks += Long.parseLong(f[11]) + Long.parseLong(f[12]);
                }
            }
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
        return Optional.of(Duration.ofMillis(ticks * TICK_MILLIS));
    }
}
