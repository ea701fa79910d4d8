package io.flowget.job.run;

import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;

import java.io.PrintStream;
import java.util.Locale;

/**
 * The live progress line of {@code flowget run} on a terminal: requests done/total, failures, bytes and rates,
 * redrawn in place at most every half second. Off the terminal (or with {@code --quiet}) it prints nothing; the
 * command prints one summary line at the end either way.
 */
final class Progress {
    private static final long EVERY_NANOS = 500_000_000L;

    private final int total;
    private final boolean live;
    private final PrintStream out;
    private final long start = System.nanoTime();
    private long lastPrint;
    private int done;
    private int failed;
    private long bytes;

    Progress(int total, boolean live, PrintStream out) {
        this.total = total;
        this.live = live;
        this.out = out;
    }

    void add(FetchResult r) {
        done++;
        if (r.status == ResultStatus.FAILED) {
            failed++;
        }
        if (r.bytes != null) {
            bytes += r.bytes;
        }
    }

    void maybePrint(boolean last) {
        if (!live) {
            return;
        }
        long now = System.nanoTime();
        if (!last && now - lastPrint < EVERY_NANOS) {
            return;
        }
        lastPrint = now;
        double secs = Math.max(1e-3, (now - start) / 1e9);
        String line =
                String.format(
                        Locale.ROOT,
                        "%d/%d done, %d failed, %s, %.0f files/s, %s/s",
                        done,
                        total,
                        failed,
                        Sizes.human(bytes),
                        done / secs,
                        Sizes.human((long) (bytes / secs)));
        out.print("\r\033[K" + line);
        if (last) {
            out.println();
        }
        out.flush();
    }
}
