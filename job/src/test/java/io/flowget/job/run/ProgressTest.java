package io.flowget.job.run;

import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The progress line's text and where each mode puts it; the line against a real paused host is
 * {@link ProgressLineITCase}.
 */
class ProgressTest {
    private static FetchResult result(ResultStatus status, long bytes) {
        FetchResult r = new FetchResult();
        r.status = status;
        r.bytes = bytes;
        return r;
    }

    @Test
    void theLineSaysWhyTheRestWaitsOnceTheGaugesAreKnown() {
        Progress p = new Progress(500, Progress.Mode.LIVE, new PrintStream(new ByteArrayOutputStream()),
                Optional::empty);
        p.add(result(ResultStatus.OK, 1024));
        p.add(result(ResultStatus.FAILED, 0));

        String line = p.line(System.nanoTime(), Optional.of(new FetchGauges.Totals(16, 364, 1, 2, 3)));

        assertThat(line)
                .startsWith("2/500 done, 1 failed, 1.0 KiB, ")
                .endsWith("; 16 in flight, 364 waiting; hosts: 1 paused, 2 throttled, 3 circuit open");
        assertThat(p.line(System.nanoTime(), Optional.empty())).doesNotContain("waiting");
    }

    @Test
    void offTheTerminalStdoutGetsNothingAndQuietGetsNothingAnywhere() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        List<String> logged = new ArrayList<>();
        Progress periodic = new Progress(
                3, Progress.Mode.PERIODIC, new PrintStream(out), () -> Optional.of(new FetchGauges.Totals(1, 1, 0, 0, 0)),
                logged::add);
        Progress quiet = new Progress(3, Progress.Mode.OFF, new PrintStream(out), Optional::empty, logged::add);
        periodic.add(result(ResultStatus.OK, 10));
        quiet.add(result(ResultStatus.OK, 10));

        periodic.maybePrint(true);
        quiet.maybePrint(true);

        assertThat(out.toString(StandardCharsets.UTF_8)).as("stdout keeps only the summary").isEmpty();
        assertThat(logged).as("the end is the summary's, not a progress line").isEmpty();
    }

    @Test
    void onATerminalTheLastLineIsTheFinalCountOnItsOwnLine() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Progress p = new Progress(1, Progress.Mode.LIVE, new PrintStream(out),
                () -> Optional.of(new FetchGauges.Totals(0, 0, 0, 0, 0)));
        p.add(result(ResultStatus.OK, 10));

        p.maybePrint(true);

        assertThat(out.toString(StandardCharsets.UTF_8)).startsWith("\r\033[K1/1 done, 0 failed, 10 B").endsWith("\n");
    }
}
