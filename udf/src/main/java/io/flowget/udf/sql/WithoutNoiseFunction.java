package io.flowget.udf.sql;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.functions.ScalarFunction;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * {@code WITHOUT_NOISE(kinds ARRAY<STRING>, noise ARRAY<STRING>) → ARRAY<STRING>}: the elements of {@code kinds}
 * that are not in {@code noise}, in their order; NULL when {@code kinds} is NULL; {@code kinds} unchanged when
 * {@code noise} is NULL (no secondary result for the request, so nothing is known to be noise). NULL elements of
 * {@code kinds} are kept, NULL elements of {@code noise} ignored.
 *
 * <p>This is the noise filter of the diff job (as in Twitter's Diffy): {@code noise} is what two
 * production-identical builds, the primary and the secondary, disagree on for the same request (a page that
 * changes on every fetch, a flaky origin); such a field says nothing about the candidate, so its difference is
 * not counted against it.
 */
public class WithoutNoiseFunction extends ScalarFunction {
    private static final long serialVersionUID = 1L;

    public @DataTypeHint("ARRAY<STRING>") String[] eval(
            @DataTypeHint("ARRAY<STRING>") String[] kinds, @DataTypeHint("ARRAY<STRING>") String[] noise) {
        if (kinds == null) {
            return null;
        }
        if (noise == null || noise.length == 0) {
            return kinds;
        }
        Set<String> drop = new HashSet<>(Arrays.asList(noise));
        List<String> kept = new ArrayList<>(kinds.length);
        for (String k : kinds) {
            if (k == null || !drop.contains(k)) {
                kept.add(k);
            }
        }
        return kept.toArray(new String[0]);
    }
}
