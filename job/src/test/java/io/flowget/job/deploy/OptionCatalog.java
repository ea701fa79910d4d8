package io.flowget.job.deploy;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.FallbackKey;
import org.apache.flink.configuration.MetricOptions;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.util.PortRange;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Predicate;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Every configuration key this project may write, collected from the code that reads it: all
 * {@link ConfigOption}s declared as public static fields of {@code *Options} classes of Flink (core,
 * runtime, clients, RocksDB, connectors, metrics on the test classpath) and of flowget
 * ({@code io.flowget..*Options}), with their fallback and deprecated keys.
 *
 * <p>{@link #check(Configuration, Predicate)} reports, for each key of a configuration: unknown keys,
 * deprecated or fallback keys (naming the key to use), and values that do not parse as the option's
 * type. {@code metrics.reporter.<name>.<option>} keys are checked against Flink's reporter options and
 * the named reporter factory. A key is deprecated when every option that declares it is deprecated
 * (field or class annotated {@code @Deprecated}, as Flink's legacy {@code contrib} RocksDB classes are).
 *
 * <p>While {@code io.flowget.job.JobOptions} is not on the classpath (it is written on another branch),
 * the job's keys are taken from {@link #JOB_OPTION_STAND_INS}, so the deploy files can be checked
 * either way; once the class exists, only its real options count.
 */
final class OptionCatalog {
    private static final Logger LOG = LoggerFactory.getLogger(OptionCatalog.class);

    static final String JOB_OPTIONS_CLASS = "io.flowget.job.JobOptions";

    /** Stand-ins for the job's options until {@code io.flowget.job.JobOptions} exists. */
    static final List<ConfigOption<?>> JOB_OPTION_STAND_INS =
            List.of(
                    ConfigOptions.key("flowget.kafka.bootstrap-servers").stringType().noDefaultValue(),
                    ConfigOptions.key("flowget.kafka.requests-topic").stringType().noDefaultValue(),
                    ConfigOptions.key("flowget.kafka.results-topic").stringType().noDefaultValue(),
                    ConfigOptions.key("flowget.kafka.dead-letter-topic").stringType().noDefaultValue(),
                    ConfigOptions.key("flowget.kafka.group-id").stringType().noDefaultValue(),
                    ConfigOptions.key("flowget.kafka.delivery-guarantee")
                            .enumType(DeliveryGuarantee.class)
                            .noDefaultValue(),
                    ConfigOptions.key("flowget.kafka.transactional-id-prefix").stringType().noDefaultValue(),
                    ConfigOptions.key("flowget.kafka.transaction-timeout").durationType().noDefaultValue(),
                    ConfigOptions.key("flowget.job.name").stringType().noDefaultValue(),
                    // Shadow deployment: keep digests, not files (DESIGN.md "Shadow pipeline").
                    ConfigOptions.key("flowget.sink.mode").stringType().noDefaultValue());

    /** Classes that must be found, so that a broken scan cannot pass by knowing nothing. */
    static final List<String> REQUIRED_CLASSES =
            List.of(
                    "org.apache.flink.configuration.CheckpointingOptions",
                    "org.apache.flink.configuration.StateBackendOptions",
                    "org.apache.flink.configuration.RestartStrategyOptions",
                    "org.apache.flink.configuration.PipelineOptions",
                    "org.apache.flink.configuration.TaskManagerOptions",
                    "org.apache.flink.configuration.MetricOptions",
                    "org.apache.flink.configuration.CoreOptions",
                    "org.apache.flink.configuration.SecurityOptions",
                    "org.apache.flink.configuration.HighAvailabilityOptions",
                    "org.apache.flink.configuration.JobManagerOptions",
                    "org.apache.flink.configuration.RestOptions",
                    "org.apache.flink.configuration.ExecutionOptions",
                    "org.apache.flink.configuration.StateRecoveryOptions",
                    "org.apache.flink.state.rocksdb.RocksDBOptions",
                    "org.apache.flink.state.rocksdb.RocksDBConfigurableOptions",
                    "io.flowget.udf.config.FlowgetOptions");

    /** Classes whose jar (or class folder) is scanned besides java.class.path (surefire may hide it). */
    private static final List<String> ANCHORS =
            List.of(
                    "org.apache.flink.configuration.CoreOptions",
                    "org.apache.flink.runtime.highavailability.JobResultStoreOptions",
                    "org.apache.flink.client.cli.ClientOptions",
                    "org.apache.flink.state.rocksdb.RocksDBOptions",
                    "org.apache.flink.connector.base.source.reader.SourceReaderOptions",
                    "org.apache.flink.connector.kafka.source.KafkaSourceOptions",
                    "org.apache.flink.metrics.prometheus.PrometheusReporterFactory",
                    "io.flowget.udf.config.FlowgetOptions",
                    JOB_OPTIONS_CLASS);

    private static final Pattern REPORTER_KEY = Pattern.compile("^metrics\\.reporter\\.([A-Za-z0-9_-]+)\\.(.+)$");

    /** One declaration of an option: where, and whether deprecated there. */
    record Declared(ConfigOption<?> option, String declaringClass, boolean deprecated) {}

    private final Map<String, List<Declared>> byKey = new TreeMap<>();
    private final Map<String, List<String>> fallbackToPrimary = new TreeMap<>();
    private final Set<String> scannedClasses = new TreeSet<>();
    private final Map<String, ConfigOption<?>> reporterOptions = new TreeMap<>();
    private final boolean jobOptionsPresent;

    private OptionCatalog(boolean jobOptionsPresent) {
        this.jobOptionsPresent = jobOptionsPresent;
    }

    /** Scans the classpath once; cheap enough (a few hundred classes) to call per test class. */
    static OptionCatalog load() {
        ClassLoader cl = OptionCatalog.class.getClassLoader();
        boolean jobOptionsPresent;
        try {
            Class.forName(JOB_OPTIONS_CLASS, false, cl);
            jobOptionsPresent = true;
        } catch (ClassNotFoundException e) {
            jobOptionsPresent = false;
        }
        OptionCatalog catalog = new OptionCatalog(jobOptionsPresent);
        for (String name : optionClassNames(cl)) {
            Class<?> k;
            try {
                k = Class.forName(name, true, cl);
            } catch (ClassNotFoundException | LinkageError e) {
                // Options classes of optional features (e.g. Kafka's table factory without flink-table)
                // cannot load here; their keys are not ours to write.
                LOG.debug("skipping {}: {}", name, e.toString());
                continue;
            }
            catalog.addClass(k);
        }
        if (!jobOptionsPresent) {
            for (ConfigOption<?> o : JOB_OPTION_STAND_INS) {
                catalog.add(o, "stand-in for " + JOB_OPTIONS_CLASS, false);
            }
        }
        for (Field f : MetricOptions.class.getFields()) {
            // Per-reporter options have relative keys ("factory.class", "interval", ...).
            if (f.getName().startsWith("REPORTER_")
                    && !f.getName().equals("REPORTERS_LIST")
                    && !f.getName().equals("REPORTER_CONFIG_PARAMETER")
                    && ConfigOption.class.isAssignableFrom(f.getType())) {
                ConfigOption<?> o = staticOption(f);
                catalog.reporterOptions.put(o.key(), o);
            }
        }
        return catalog;
    }

    boolean jobOptionsPresent() {
        return jobOptionsPresent;
    }

    Set<String> scannedClasses() {
        return scannedClasses;
    }

    /** True when {@code key} is the primary key of a flowget option (FlowgetOptions, JobOptions, ...). */
    boolean isFlowgetKey(String key) {
        List<Declared> d = byKey.get(key);
        return key.startsWith("flowget.") && d != null && !d.isEmpty();
    }

    /** The non-deprecated option whose primary key is {@code key}, if any. */
    ConfigOption<?> option(String key) {
        List<Declared> d = byKey.get(key);
        if (d == null) {
            return null;
        }
        return d.stream().filter(x -> !x.deprecated()).map(Declared::option).findFirst().orElse(null);
    }

    /**
     * Problems of every key of {@code conf}, one line each; empty when all is well. Keys accepted by
     * {@code external} (e.g. kubernetes.* of flink-kubernetes, which is not on this classpath) are only
     * checked for not being deprecated Flink keys.
     */
    List<String> check(Configuration conf, Predicate<String> external) {
        List<String> problems = new ArrayList<>();
        Map<String, Map<String, String>> reporters = new LinkedHashMap<>();
        Map<String, String> flat = conf.toMap();
        for (String key : new TreeSet<>(conf.keySet())) {
            Matcher rm = REPORTER_KEY.matcher(key);
            if (rm.matches()) {
                reporters.computeIfAbsent(rm.group(1), n -> new TreeMap<>()).put(rm.group(2), flat.get(key));
                continue;
            }
            List<Declared> declared = byKey.get(key);
            if (declared != null) {
                ConfigOption<?> live = option(key);
                if (live == null) {
                    problems.add(key + ": deprecated (declared only by deprecated " + classesOf(declared) + ")");
                } else {
                    checkValue(conf, live, key, problems);
                }
            } else if (fallbackToPrimary.containsKey(key)) {
                problems.add(key + ": deprecated or fallback key; use " + fallbackToPrimary.get(key));
            } else if (!external.test(key)) {
                problems.add(key + ": unknown key (no ConfigOption declares it)");
            }
        }
        reporters.forEach((name, opts) -> checkReporter(name, opts, problems));
        return problems;
    }

    private static void checkValue(Configuration conf, ConfigOption<?> option, String key, List<String> problems) {
        try {
            conf.get(option);
        } catch (RuntimeException e) {
            problems.add(key + ": value '" + conf.toMap().get(key) + "' does not parse: " + e.getMessage());
        }
    }

    private void checkReporter(String name, Map<String, String> opts, List<String> problems) {
        String prefix = "metrics.reporter." + name + ".";
        String factory = opts.get(MetricOptions.REPORTER_FACTORY_CLASS.key());
        Map<String, Predicate<String>> specific = new TreeMap<>();
        if (factory == null) {
            problems.add(prefix + "*: no " + MetricOptions.REPORTER_FACTORY_CLASS.key());
        } else {
            specific.putAll(factorySpecificKeys(prefix, factory, problems));
        }
        for (Map.Entry<String, String> e : opts.entrySet()) {
            String key = prefix + e.getKey();
            ConfigOption<?> generic = reporterOptions.get(e.getKey());
            if (generic != null) {
                Configuration one = new Configuration();
                one.setString(generic.key(), e.getValue());
                checkValue(one, generic, generic.key(), problems);
            } else if (specific.containsKey(e.getKey())) {
                if (!specific.get(e.getKey()).test(e.getValue())) {
                    problems.add(key + ": value '" + e.getValue() + "' is not valid for " + factory);
                }
            } else {
                problems.add(key + ": unknown reporter option (known: " + reporterOptions.keySet() + " + " + specific.keySet() + ")");
            }
        }
    }

    /** Options a reporter factory reads beyond Flink's generic per-reporter ones, with a validity test. */
    private static Map<String, Predicate<String>> factorySpecificKeys(String prefix, String factory, List<String> problems) {
        Class<?> k;
        try {
            k = Class.forName(factory);
        } catch (ClassNotFoundException | LinkageError e) {
            problems.add(prefix + "factory.class: " + factory + " is not on the classpath");
            return Map.of();
        }
        try {
            Class<?> api = Class.forName("org.apache.flink.metrics.reporter.MetricReporterFactory");
            if (!api.isAssignableFrom(k)) {
                problems.add(prefix + "factory.class: " + factory + " is not a MetricReporterFactory");
            }
        } catch (ClassNotFoundException e) {
            throw new IllegalStateException(e);
        }
        Map<String, Predicate<String>> keys = new TreeMap<>();
        if (k.getName().equals("org.apache.flink.metrics.prometheus.PrometheusReporterFactory")) {
            // The pull reporter reads one key, a plain String constant rather than a ConfigOption; read
            // the constant so a rename upstream fails here instead of silently being ignored.
            keys.put(stringConstant(k, "ARG_PORT"), OptionCatalog::isPortRange);
        } else if (k.getName().equals("org.apache.flink.metrics.prometheus.PrometheusPushGatewayReporterFactory")) {
            try {
                Class<?> opts = Class.forName("org.apache.flink.metrics.prometheus.PrometheusPushGatewayReporterOptions");
                for (Field f : opts.getFields()) {
                    if (Modifier.isStatic(f.getModifiers()) && ConfigOption.class.isAssignableFrom(f.getType())) {
                        ConfigOption<?> o = staticOption(f);
                        keys.put(o.key(), v -> parses(o, v));
                    }
                }
            } catch (ClassNotFoundException e) {
                problems.add(prefix + "*: PrometheusPushGatewayReporterOptions not found");
            }
        } else {
            problems.add(prefix + "factory.class: no option list known for " + factory + "; teach OptionCatalog");
        }
        return keys;
    }

    private static boolean parses(ConfigOption<?> o, String value) {
        Configuration c = new Configuration();
        c.setString(o.key(), value);
        try {
            c.get(o);
            return true;
        } catch (RuntimeException e) {
            return false;
        }
    }

    private static boolean isPortRange(String value) {
        try {
            new PortRange(value);
            return true;
        } catch (RuntimeException e) {
            return false;
        }
    }

    private static String stringConstant(Class<?> k, String field) {
        try {
            Field f = k.getDeclaredField(field);
            f.setAccessible(true);
            return (String) f.get(null);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(k.getName() + "." + field + " not found: upstream changed", e);
        }
    }

    private void addClass(Class<?> k) {
        boolean classDeprecated = k.isAnnotationPresent(Deprecated.class);
        boolean any = false;
        for (Field f : k.getFields()) {
            if (!Modifier.isStatic(f.getModifiers()) || !ConfigOption.class.isAssignableFrom(f.getType())) {
                continue;
            }
            ConfigOption<?> o = staticOption(f);
            if (o == null || o.key().contains("<")) {
                continue; // templates such as MetricOptions' "<parameter>"
            }
            add(o, k.getName(), classDeprecated || f.isAnnotationPresent(Deprecated.class));
            any = true;
        }
        if (any) {
            scannedClasses.add(k.getName());
        }
    }

    private void add(ConfigOption<?> o, String where, boolean deprecated) {
        byKey.computeIfAbsent(o.key(), x -> new ArrayList<>()).add(new Declared(o, where, deprecated));
        for (FallbackKey fk : o.fallbackKeys()) {
            fallbackToPrimary.computeIfAbsent(fk.getKey(), x -> new ArrayList<>()).add(o.key());
        }
    }

    private static ConfigOption<?> staticOption(Field f) {
        try {
            return (ConfigOption<?>) f.get(null);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String classesOf(List<Declared> d) {
        return d.stream().map(Declared::declaringClass).distinct().toList().toString();
    }

    /** Names of top-level org.apache.flink / io.flowget classes named *Options on the classpath. */
    private static Set<String> optionClassNames(ClassLoader cl) {
        Set<Path> roots = new LinkedHashSet<>();
        for (String e : System.getProperty("java.class.path", "").split(File.pathSeparator)) {
            if (!e.isBlank()) {
                roots.add(Path.of(e));
            }
        }
        for (String anchor : ANCHORS) {
            try {
                Class<?> k = Class.forName(anchor, false, cl);
                var src = k.getProtectionDomain().getCodeSource();
                if (src != null) {
                    roots.add(Path.of(src.getLocation().toURI()));
                }
            } catch (ClassNotFoundException e) {
                // JobOptions may not exist yet; the others are dependencies and always present.
            } catch (Exception e) {
                throw new IllegalStateException("cannot locate " + anchor, e);
            }
        }
        Set<String> names = new TreeSet<>();
        for (Path root : roots) {
            if (Files.isDirectory(root)) {
                try (Stream<Path> s = Files.walk(root)) {
                    s.map(p -> root.relativize(p).toString().replace(File.separatorChar, '/'))
                            .forEach(n -> addIfOptionClass(n, names));
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            } else if (Files.isRegularFile(root) && root.toString().endsWith(".jar")) {
                try (JarFile jar = new JarFile(root.toFile())) {
                    jar.stream().map(JarEntry::getName).forEach(n -> addIfOptionClass(n, names));
                } catch (IOException e) {
                    throw new UncheckedIOException("cannot read " + root, e);
                }
            }
        }
        return names;
    }

    private static void addIfOptionClass(String entry, Set<String> names) {
        boolean ours = entry.startsWith("org/apache/flink/") || entry.startsWith("io/flowget/");
        if (ours
                && entry.endsWith("Options.class")
                && !entry.contains("$")
                && !entry.contains("/shaded/")) {
            names.add(entry.substring(0, entry.length() - ".class".length()).replace('/', '.'));
        }
    }
}
