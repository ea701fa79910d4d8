package io.flowget.udf.fetch.host;

import io.flowget.udf.config.FlowgetOptions;

import org.apache.flink.annotation.Internal;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * One {@code pattern=N} entry of {@code flowget.host.overrides}: hosts equal to {@code pattern}, or, for a pattern
 * {@code *.example.com}, any subdomain of example.com, may have at most {@code max} requests in flight.
 * Immutable.
 */
@Internal
public record HostOverride(String pattern, int max) implements java.io.Serializable {
    /**
     * Parses entries separated by commas, semicolons or whitespace; patterns are lower-cased.
     *
     * @throws IllegalArgumentException naming the first entry that is not {@code pattern=N} with N ≥ 1
     */
    public static List<HostOverride> parseList(String text) {
        return parseList(text, FlowgetOptions.HOST_OVERRIDES.key());
    }

    /** {@link #parseList(String)} for another option of the same form ({@code flowget.host.spread}), named in errors. */
    public static List<HostOverride> parseList(String text, String option) {
        List<HostOverride> out = new ArrayList<>();
        for (String entry : text.split("[,;\\s]+")) {
            if (entry.isBlank()) {
                continue;
            }
            int eq = entry.indexOf('=');
            try {
                if (eq <= 0) {
                    throw new NumberFormatException();
                }
                int n = Integer.parseInt(entry.substring(eq + 1).trim());
                if (n < 1) {
                    throw new NumberFormatException();
                }
                out.add(new HostOverride(entry.substring(0, eq).trim().toLowerCase(Locale.ROOT), n));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(
                        option + ": expected pattern=N with N >= 1, got '"
                                + entry + "'");
            }
        }
        return List.copyOf(out);
    }

    /** The first matching entry, or null. */
    public static HostOverride first(List<HostOverride> entries, String host) {
        for (HostOverride o : entries) {
            if (o.matches(host)) {
                return o;
            }
        }
        return null;
    }

    /** The first matching entry's max (at least {@code min}), else {@code max}. */
    public static int maxFor(List<HostOverride> overrides, String host, int min, int max) {
        for (HostOverride o : overrides) {
            if (o.matches(host)) {
                return Math.max(min, o.max());
            }
        }
        return max;
    }

    /** True when this entry applies to the (lower-case) host. */
    public boolean matches(String host) {
        if (pattern.startsWith("*.")) {
            return host.endsWith(pattern.substring(1));
        }
        return host.equals(pattern);
    }
}
