package io.flowget.job;

import io.flowget.job.diff.DiffOptions;
import io.flowget.udf.config.FlowgetOptions;

import org.apache.flink.configuration.ConfigOption;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * Every {@code flowget.*} option, from {@link FlowgetOptions}, {@link JobOptions} and {@link DiffOptions}: for --set
 * checks and docs.
 */
public final class OptionsCatalog {
    private OptionsCatalog() {}

    public static List<ConfigOption<?>> all() {
        List<ConfigOption<?>> out = new ArrayList<>();
        for (Class<?> c : List.of(FlowgetOptions.class, JobOptions.class, DiffOptions.class)) {
            for (Field f : c.getFields()) {
                if (Modifier.isStatic(f.getModifiers()) && ConfigOption.class.isAssignableFrom(f.getType())) {
                    try {
                        out.add((ConfigOption<?>) f.get(null));
                    } catch (IllegalAccessException e) {
                        throw new IllegalStateException(e);
                    }
                }
            }
        }
        out.sort(Comparator.comparing(ConfigOption::key));
        return out;
    }

    public static Optional<ConfigOption<?>> find(String key) {
        return all().stream().filter(o -> o.key().equals(key)).findFirst();
    }

    /** The README table: key, default, description. */
    public static String markdownTable() {
        StringBuilder sb = new StringBuilder("| key | default | description |\n|---|---|---|\n");
        for (ConfigOption<?> o : all()) {
            String def = o.hasDefaultValue() ? String.valueOf(o.defaultValue()) : "(none)";
            if (o == FlowgetOptions.HTTP_IO_THREADS) {
                def = "number of cores";
            }
            sb.append("| `").append(o.key()).append("` | `").append(def).append("` | ")
                    .append(new org.apache.flink.configuration.description.HtmlFormatter().format(o.description()).replace("|", "\\|").replace("\n", " "))
                    .append(" |\n");
        }
        return sb.toString();
    }
}
