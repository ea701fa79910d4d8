package io.flowget.job.chaos;

import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * "Nothing lost, nothing corrupted, no result twice" for one experiment, judged from the committed results
 * (read_committed, as consumers see them) and the output directory:
 *
 * <ul>
 *   <li><b>lost</b>: a requested id without a result;
 *   <li><b>duplicated</b>: an id with more than one result (each extra one counts);
 *   <li><b>unexpected</b>: a result for an id nobody requested;
 *   <li><b>corrupted</b>: an OK result whose file at {@code path} is missing or differs from the origin's bytes,
 *       or whose {@code bytes}/{@code sha256} do not describe them; a FAILED {@code checksum mismatch} counts
 *       too (the proxy never alters bytes, so a mismatch means the fetcher stitched or truncated something);
 *   <li><b>stray files</b>: files in the output directory that no OK result names (partial files included).
 * </ul>
 *
 * FAILED results are counted by reason; whether any are acceptable is the experiment's call.
 */
record ChaosVerdict(
        int requested,
        int results,
        int ok,
        int failed,
        int lost,
        int duplicated,
        int unexpected,
        int corrupted,
        int strayFiles,
        Map<String, Integer> failureReasons,
        List<String> problems) {

    static ChaosVerdict judge(Map<String, byte[]> expected, Path out, List<FetchResult> results) throws IOException {
        Map<String, Integer> count = new HashMap<>();
        Map<String, FetchResult> first = new HashMap<>();
        List<String> problems = new ArrayList<>();
        int unexpected = 0;
        for (FetchResult r : results) {
            if (r.id == null || !expected.containsKey(r.id)) {
                unexpected++;
                problems.add("unexpected result " + r.id);
                continue;
            }
            if (count.merge(r.id, 1, Integer::sum) == 1) {
                first.put(r.id, r);
            } else {
                problems.add("duplicate result for " + r.id + ": " + r.status + " " + r.error);
            }
        }
        int duplicated = count.values().stream().mapToInt(c -> c - 1).sum();
        int lost = 0;
        int ok = 0;
        int failed = 0;
        int corrupted = 0;
        Map<String, Integer> reasons = new TreeMap<>();
        Set<Path> named = new HashSet<>();
        for (Map.Entry<String, byte[]> e : expected.entrySet()) {
            FetchResult r = first.get(e.getKey());
            if (r == null) {
                lost++;
                problems.add("no result for " + e.getKey());
                continue;
            }
            if (r.status != ResultStatus.OK) {
                failed++;
                reasons.merge(reasonClass(r.error), 1, Integer::sum);
                if (r.error != null && r.error.contains("checksum mismatch")) {
                    corrupted++;
                    problems.add("checksum mismatch for " + r.id + ": " + r.error);
                }
                continue;
            }
            ok++;
            Path file = out.resolve(r.path == null ? "" : r.path).normalize();
            named.add(file);
            byte[] want = e.getValue();
            String why = null;
            if (r.path == null || !file.startsWith(out) || !Files.isRegularFile(file)) {
                why = "file missing at " + r.path;
            } else if (!Arrays.equals(Files.readAllBytes(file), want)) {
                why = "file differs from the origin (" + Files.size(file) + " bytes, want " + want.length + ")";
            } else if (r.bytes == null || r.bytes != want.length) {
                why = "result says " + r.bytes + " bytes, file has " + want.length;
            } else if (!ChaosData.sha256(want).equalsIgnoreCase(String.valueOf(r.sha256))) {
                why = "result sha256 " + r.sha256 + " does not match the file";
            }
            if (why != null) {
                corrupted++;
                problems.add("corrupted " + r.id + ": " + why);
            }
        }
        int stray = 0;
        if (Files.isDirectory(out)) {
            try (Stream<Path> files = Files.walk(out)) {
                for (Path f : files.filter(Files::isRegularFile).collect(Collectors.toList())) {
                    if (!named.contains(f.normalize())) {
                        stray++;
                        problems.add("stray file in the output directory: " + out.relativize(f));
                    }
                }
            }
        }
        return new ChaosVerdict(expected.size(), results.size(), ok, failed, lost, duplicated, unexpected, corrupted,
                stray, reasons, problems);
    }

    /** The reason without its variable parts (ids, counts), to group failures. */
    static String reasonClass(String error) {
        if (error == null) {
            return "(no reason)";
        }
        int paren = error.indexOf(" (");
        return paren > 0 ? error.substring(0, paren) : error;
    }

    /** Asserts the three promises; with {@code allOk}, also that every request ended OK. */
    ChaosVerdict assertClean(boolean allOk) {
        String detail = summary() + "\n" + problems.stream().limit(20).collect(Collectors.joining("\n"));
        assertThat(lost).as("lost results\n%s", detail).isZero();
        assertThat(duplicated).as("duplicated results\n%s", detail).isZero();
        assertThat(unexpected).as("unexpected results\n%s", detail).isZero();
        assertThat(corrupted).as("corrupted files\n%s", detail).isZero();
        assertThat(strayFiles).as("stray files in the output directory\n%s", detail).isZero();
        if (allOk) {
            assertThat(failed).as("FAILED results\n%s", detail).isZero();
        }
        return this;
    }

    String summary() {
        return String.format(
                "requests=%d results=%d ok=%d failed=%d lost=%d duplicated=%d unexpected=%d corrupted=%d stray=%d%s",
                requested, results, ok, failed, lost, duplicated, unexpected, corrupted, strayFiles,
                failureReasons.isEmpty() ? "" : " failures=" + failureReasons);
    }
}
