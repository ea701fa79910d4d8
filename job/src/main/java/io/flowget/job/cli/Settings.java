package io.flowget.job.cli;

import io.flowget.job.OptionsCatalog;
import io.flowget.job.kafka.KafkaProperties;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.GlobalConfiguration;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Builds the configuration of a command: {@code $FLOWGET_HOME/conf/config.yaml} (or {@code --conf DIR}), then the
 * {@code --set key=value} overrides. For the embedded commands only the {@code flowget.*} keys of the file are
 * taken (the file's cluster settings, such as object-store checkpoint dirs, do not apply to a local run).
 */
final class Settings {
    private Settings() {}

    static Path defaultConfDir() {
        return defaultConfDir(System.getenv("FLOWGET_HOME"));
    }

    /** {@code <home>/conf}, or null without a home. */
    static Path defaultConfDir(String home) {
        return home == null || home.isEmpty() ? null : Path.of(home, "conf");
    }

    static Configuration load(Path confDir, List<String> sets, boolean flowgetKeysOnly) {
        Configuration conf = new Configuration();
        if (confDir != null && Files.isRegularFile(confDir.resolve("config.yaml"))) {
            Configuration file = GlobalConfiguration.loadConfiguration(confDir.toString());
            for (Map.Entry<String, String> e : file.toMap().entrySet()) {
                if (!flowgetKeysOnly || e.getKey().startsWith("flowget.")) {
                    conf.setString(e.getKey(), e.getValue());
                }
            }
        }
        for (String s : sets) {
            int eq = s.indexOf('=');
            if (eq <= 0) {
                throw new UsageException("--set needs key=value, got '" + s + "'");
            }
            String key = s.substring(0, eq).trim();
            String value = s.substring(eq + 1).trim();
            if (key.startsWith("flowget.") && !KafkaProperties.isKafkaProperty(key)) {
                ConfigOption<?> option =
                        OptionsCatalog.find(key)
                                .orElseThrow(() -> new UsageException("unknown option " + key + " (see README, Options)"));
                Configuration probe = new Configuration();
                probe.setString(key, value);
                try {
                    probe.get(option);
                } catch (IllegalArgumentException e) {
                    throw new UsageException("bad value for " + key + ": " + e.getMessage());
                }
            }
            conf.setString(key, value);
        }
        return conf;
    }
}
