package io.flowget.job.deploy;

import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.GlobalConfiguration;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.core.execution.CheckpointingMode;
import org.apache.flink.state.rocksdb.RocksDBOptions;

import io.flowget.job.embedded.EmbeddedKafka;
import io.flowget.job.kafka.TransactionTimeouts;
import io.flowget.udf.config.FlowgetOptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code conf/config.yaml} is read by Flink's own parser ({@link GlobalConfiguration}) and every key must
 * be a live (non-deprecated) Flink 2.2.1 or flowget option whose value parses as the option's type; the
 * production settings the deployment relies on must be present. The negative cases run the same check
 * on small files written to a temp dir, so the check itself is known to bite.
 */
class ConfigYamlTest {
    private static OptionCatalog catalog;

    @BeforeAll
    static void scan() {
        catalog = OptionCatalog.load();
    }

    @Test
    void catalogKnowsTheOptionClassesItMustCheck() {
        assertThat(catalog.scannedClasses()).containsAll(OptionCatalog.REQUIRED_CLASSES);
        assertThat(catalog.isFlowgetKey(FlowgetOptions.HOST_MAX_CONCURRENCY.key())).isTrue();
        assertThat(catalog.isFlowgetKey("flowget.kafka.results-topic")).isTrue();
    }

    @Test
    void everyKeyIsALiveFlinkOrFlowgetOptionWithAValidValue(@TempDir Path tmp) throws IOException {
        Configuration conf = loadWithFlink(RepoFiles.repoRoot().resolve("conf/config.yaml"), tmp);

        assertThat(conf.keySet()).hasSizeGreaterThan(30);
        assertThat(catalog.check(conf, key -> false)).isEmpty();
    }

    @Test
    void yamlHasNoDuplicateKeys() {
        // Flink's loader keeps one of two equal keys without a word; Jackson is told to refuse them.
        assertThat(RepoFiles.readYamlDocuments(RepoFiles.repoRoot().resolve("conf/config.yaml"))).hasSize(1);
    }

    @Test
    void productionSettingsArePresent(@TempDir Path tmp) throws IOException {
        Configuration conf = loadWithFlink(RepoFiles.repoRoot().resolve("conf/config.yaml"), tmp);

        assertThat(conf.get(StateBackendOptions.STATE_BACKEND)).isEqualTo("rocksdb");
        assertThat(conf.get(CheckpointingOptions.INCREMENTAL_CHECKPOINTS)).isTrue();
        assertThat(conf.get(CheckpointingOptions.CHECKPOINTING_INTERVAL)).isPositive();
        assertThat(conf.get(CheckpointingOptions.CHECKPOINTING_CONSISTENCY_MODE)).isEqualTo(CheckpointingMode.EXACTLY_ONCE);
        assertThat(conf.contains(CheckpointingOptions.CHECKPOINTING_TIMEOUT)).isTrue();
        assertThat(conf.contains(CheckpointingOptions.MIN_PAUSE_BETWEEN_CHECKPOINTS)).isTrue();
        assertThat(conf.get(CheckpointingOptions.EXTERNALIZED_CHECKPOINT_RETENTION).name())
                .isEqualTo("RETAIN_ON_CANCELLATION");
        assertThat(conf.get(CheckpointingOptions.MAX_RETAINED_CHECKPOINTS)).isGreaterThan(1);
        assertThat(conf.get(CheckpointingOptions.CHECKPOINTS_DIRECTORY)).startsWith("file:///var/lib/flowget/");
        assertThat(conf.get(CheckpointingOptions.SAVEPOINT_DIRECTORY)).startsWith("file:///var/lib/flowget/");
        assertThat(conf.get(RestartStrategyOptions.RESTART_STRATEGY)).isEqualTo("exponential-delay");
        assertThat(conf.contains(RestartStrategyOptions.RESTART_STRATEGY_EXPONENTIAL_DELAY_INITIAL_BACKOFF)).isTrue();
        assertThat(conf.contains(RestartStrategyOptions.RESTART_STRATEGY_EXPONENTIAL_DELAY_MAX_BACKOFF)).isTrue();
        assertThat(conf.contains(RocksDBOptions.PREDEFINED_OPTIONS)).isTrue();
        assertThat(conf.contains(RocksDBOptions.LOCAL_DIRECTORIES)).isTrue();
        assertThat(conf.get(PipelineOptions.AUTO_GENERATE_UIDS)).isFalse();
        assertThat(conf.get(PipelineOptions.GENERIC_TYPES)).isFalse();
        assertThat(conf.getString("metrics.reporter.prom.factory.class", null))
                .isEqualTo("org.apache.flink.metrics.prometheus.PrometheusReporterFactory");
        // The Kafka transaction must outlive the longest time it can stay open (tolerated checkpoint failures,
        // timeouts, min pause, a restart) -- the rule the job enforces at start -- and fit the brokers' maximum
        // that k8s/README.md asks for (the embedded broker's).
        Duration txTimeout =
                conf.get(ConfigOptions.key("flowget.kafka.transaction-timeout").durationType().noDefaultValue());
        assertThat(txTimeout).isNotNull();
        assertThat(TransactionTimeouts.problems(conf, txTimeout, EmbeddedKafka.TRANSACTION_MAX_TIMEOUT)).isEmpty();
        assertThat(TransactionTimeouts.longestOpen(conf)).isGreaterThan(Duration.ofMinutes(50));
    }

    @Test
    void rejectsAnUnknownKey(@TempDir Path tmp) throws IOException {
        List<String> problems = checkYaml(tmp, "execution.checkpointing.intervall: 30 s\n");
        assertThat(problems).singleElement().asString().contains("intervall").contains("unknown key");
    }

    @Test
    void rejectsADeprecatedKeyAndNamesItsReplacement(@TempDir Path tmp) throws IOException {
        List<String> problems = checkYaml(tmp, "state.checkpoints.dir: file:///tmp/x\n");
        assertThat(problems).singleElement().asString().contains("execution.checkpointing.dir");
    }

    @Test
    void rejectsTheOldNameOfARenamedOption(@TempDir Path tmp) throws IOException {
        // restart-strategy is the pre-1.19 name of restart-strategy.type.
        List<String> problems = checkYaml(tmp, "restart-strategy: exponential-delay\n");
        assertThat(problems).singleElement().asString().contains("use [restart-strategy.type]");
    }

    @Test
    void rejectsAKeyWhoseOnlyOptionIsDeprecated(@TempDir Path tmp) throws IOException {
        // Queryable state is deprecated as a whole in Flink 2.x: no live option declares these keys.
        List<String> problems = checkYaml(tmp, "queryable-state.enable: true\n");
        assertThat(problems).singleElement().asString().contains("deprecated");
    }

    @Test
    void rejectsValuesOfTheWrongType(@TempDir Path tmp) throws IOException {
        List<String> problems =
                checkYaml(
                        tmp,
                        "execution.checkpointing.interval: thirty seconds\n"
                                + "flowget.chunk.size: eight megabytes\n"
                                + "execution.checkpointing.mode: MOSTLY_ONCE\n"
                                + "metrics.reporter.prom.factory.class: org.apache.flink.metrics.prometheus.PrometheusReporterFactory\n"
                                + "metrics.reporter.prom.port: ninety\n");
        assertThat(problems).hasSize(4);
        assertThat(String.join("\n", problems))
                .contains("execution.checkpointing.interval")
                .contains("flowget.chunk.size")
                .contains("execution.checkpointing.mode")
                .contains("metrics.reporter.prom.port");
    }

    @Test
    void rejectsUnknownReporterOptionsAndTheOldClassKey(@TempDir Path tmp) throws IOException {
        List<String> problems =
                checkYaml(
                        tmp,
                        "metrics.reporter.prom.class: org.apache.flink.metrics.prometheus.PrometheusReporter\n"
                                + "metrics.reporter.prom.factory.class: org.apache.flink.metrics.prometheus.PrometheusReporterFactory\n");
        assertThat(problems).singleElement().asString().contains("metrics.reporter.prom.class");
    }

    @Test
    void acceptsNestedYamlTheWayFlinkFlattensIt(@TempDir Path tmp) throws IOException {
        List<String> problems =
                checkYaml(tmp, "execution:\n  checkpointing:\n    interval: 30 s\n    mode: EXACTLY_ONCE\n");
        assertThat(problems).isEmpty();
    }

    private static List<String> checkYaml(Path tmp, String yaml) throws IOException {
        Path file = tmp.resolve("in.yaml");
        Files.writeString(file, yaml);
        return catalog.check(loadWithFlink(file, tmp), key -> false);
    }

    /** Loads a file the way a Flink 2 process loads its conf dir: copied as config.yaml into a folder. */
    static Configuration loadWithFlink(Path yamlFile, Path tmp) throws IOException {
        Path dir = Files.createTempDirectory(tmp, "conf");
        Files.copy(yamlFile, dir.resolve(GlobalConfiguration.getFlinkConfFilename()));
        return GlobalConfiguration.loadConfiguration(dir.toString());
    }
}
