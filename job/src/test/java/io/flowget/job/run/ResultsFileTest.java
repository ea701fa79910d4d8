package io.flowget.job.run;

import io.flowget.udf.json.Json;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code --results} of a run on real files: a resumed run keeps the lines a killed run appended (without the torn
 * last one) so that every request ends up with one line, a new run starts the file empty; and the summary names
 * the slowest requests and why. The appending while results arrive is exercised end to end by the chaos ITCases
 * (SIGKILL of {@code flowget run} and a rerun: no result twice).
 */
class ResultsFileTest {
    @TempDir Path tmp;

    private static ResultCollector collector(int lines) {
        List<InputStaging.Line> l = new java.util.ArrayList<>();
        for (int i = 1; i <= lines; i++) {
            l.add(new InputStaging.Line("line-" + i, "http://example.org/" + i));
        }
        return new ResultCollector(l, false, new PrintStream(OutputStream.nullOutputStream()), Duration.ofMinutes(1));
    }

    private static FetchResult result(String id, long elapsedMs, ResultStatus status, String error) {
        FetchResult r = new FetchResult();
        r.id = id;
        r.url = "http://example.org/" + id;
        r.status = status;
        r.error = error;
        r.elapsedMs = elapsedMs;
        r.attempts = 1;
        return r;
    }

    @Test
    void aResumedRunKeepsTheLinesAKilledRunWroteWithoutItsTornLastLine() throws Exception {
        Path file = tmp.resolve("results.jsonl");
        String l1 = Json.toJson(result("line-1", 10, ResultStatus.OK, null));
        String l2 = Json.toJson(result("line-2", 10, ResultStatus.OK, null));
        String foreign = Json.toJson(result("line-99", 10, ResultStatus.OK, null));
        Files.writeString(file, l1 + "\n" + foreign + "\n" + l2 + "\n" + l1 + "\n" + "{\"id\":\"line-3\",\"st");

        collector(3).appendTo(file, true);

        assertThat(Files.readAllLines(file, StandardCharsets.UTF_8))
                .as("each expected request once, no torn or foreign line")
                .extracting(line -> Json.resultFromJson(line).id)
                .containsExactly("line-1", "line-2");
    }

    @Test
    void aNewRunStartsTheResultsFileEmpty() throws Exception {
        Path file = tmp.resolve("out/results.jsonl");
        Files.createDirectories(file.getParent());
        Files.writeString(file, Json.toJson(result("line-1", 10, ResultStatus.OK, null)) + "\n");

        collector(1).appendTo(file, false);

        assertThat(Files.readString(file)).isEmpty();
    }

    @Test
    void theSummaryNamesTheSlowestRequestsAndWhy() {
        List<FetchResult> results = List.of(
                result("line-1", 200, ResultStatus.OK, null),
                result("line-2", 92_400, ResultStatus.FAILED, "timeout: no progress for 60s over 2 attempts"),
                result("line-3", 12_000, ResultStatus.OK, null),
                result("line-4", 50, ResultStatus.OK, null));
        results.get(2).attempts = 3;

        assertThat(RunSummary.slowest(results, 2))
                .isEqualTo("slowest: line-2 92.4 s FAILED timeout: no progress for 60s over 2 attempts;"
                        + " line-3 12.0 s OK, 3 attempts");
        assertThat(RunSummary.slowest(List.of(), 3)).isEmpty();
    }
}
