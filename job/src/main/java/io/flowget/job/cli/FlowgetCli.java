package io.flowget.job.cli;

import io.flowget.job.FlowgetJob;
import io.flowget.job.JobOptions;
import io.flowget.job.demo.DemoOrigin;
import io.flowget.job.run.LocalRun;
import io.flowget.udf.config.FlowgetOptions;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * The {@code flowget} command line (CONTRACT.md):
 *
 * <pre>
 * flowget run  --urls FILE|- --out DIR [--results FILE.jsonl] [--state-dir DIR] [--parallelism N]
 *              [--ca-cert FILE.pem] [--bootstrap-servers HOST:PORT] [--set key=value]... [--quiet]
 * flowget demo [--files N] [--keep] [--quiet]
 * flowget job  --out DIR --bootstrap-servers HOST:PORT [--set key=value]...
 * flowget diff --bootstrap-servers HOST:PORT [--secondary-topic T] [--bounded] ...   (see DiffCommand)
 * flowget canary --bootstrap-servers HOST:PORT [--since T] [--window D] [--max-diff-rate R] ...   (see CanaryCommand)
 * </pre>
 *
 * Exit status: 0 every request OK or NOT_MODIFIED; 2 at least one FAILED; 64 usage error; 70 internal error.
 */
@Command(
        name = "flowget",
        mixinStandardHelpOptions = true,
        version = "flowget " + FlowgetOptions.VERSION,
        description = "Streaming downloader on Apache Flink.",
        subcommands = {
            FlowgetCli.Run.class,
            FlowgetCli.Demo.class,
            FlowgetCli.Job.class,
            DiffCommand.class,
            CanaryCommand.class
        })
public final class FlowgetCli implements Callable<Integer> {

    @Override
    public Integer call() {
        CommandLine.usage(this, System.err);
        return LocalRun.EXIT_USAGE;
    }

    public static void main(String[] args) {
        int code = execute(args, System.out, System.err);
        System.exit(code);
    }

    /** Runs the command line and returns the exit status (tests call this instead of main). */
    public static int execute(String[] args, PrintStream out, PrintStream err) {
        CommandLine cl = new CommandLine(new FlowgetCli());
        cl.setOut(new java.io.PrintWriter(out, true));
        cl.setErr(new java.io.PrintWriter(err, true));
        cl.setParameterExceptionHandler(
                (ex, a) -> {
                    err.println("flowget: " + ex.getMessage());
                    ex.getCommandLine().usage(err);
                    return LocalRun.EXIT_USAGE;
                });
        cl.setExecutionExceptionHandler(
                (ex, commandLine, parseResult) -> {
                    if (ex instanceof LocalRun.UsageException) {
                        err.println("flowget: " + ex.getMessage());
                        return LocalRun.EXIT_USAGE;
                    }
                    err.println("flowget: internal error: " + ex);
                    ex.printStackTrace(err);
                    return LocalRun.EXIT_INTERNAL;
                });
        return cl.execute(args);
    }

    /** Options shared by the commands that build a configuration. */
    static class ConfigOptions {
        @Option(names = "--set", paramLabel = "key=value", description = "Override any configuration key (repeatable).")
        List<String> sets = new ArrayList<>();

        @Option(names = "--conf", paramLabel = "DIR", description = "Directory with config.yaml (default: $FLOWGET_HOME/conf).")
        Path confDir;

        Path confDir() {
            return confDir != null ? confDir : Settings.defaultConfDir();
        }
    }

    @Command(name = "run", mixinStandardHelpOptions = true, description = "Download a list of URLs and exit.")
    static final class Run implements Callable<Integer> {
        @Option(names = "--urls", required = true, paramLabel = "FILE|-", description = "One URL or JSON request per line; - reads stdin.")
        String urls;

        @Option(names = "--out", required = true, paramLabel = "DIR", description = "Where finished files go.")
        Path out;

        @Option(names = "--results", paramLabel = "FILE.jsonl", description = "Write one JSON result per request here.")
        Path results;

        @Option(names = "--state-dir", paramLabel = "DIR", defaultValue = ".flowget", description = "Broker data, checkpoints and partial files (default: ${DEFAULT-VALUE}).")
        Path stateDir;

        @Option(names = "--parallelism", paramLabel = "N", description = "Fetch subtasks (default: number of cores).")
        Integer parallelism;

        @Option(names = "--ca-cert", paramLabel = "FILE.pem", description = "Also trust the CA certificates in this PEM file.")
        Path caCert;

        @Option(names = "--bootstrap-servers", paramLabel = "HOST:PORT", description = "Use this Kafka instead of an embedded broker.")
        String bootstrapServers;

        @Option(names = "--timeout", paramLabel = "DURATION", defaultValue = "P7D", description = "Give up waiting after this ISO-8601 duration (default: ${DEFAULT-VALUE}).")
        Duration timeout;

        @Option(names = {"-q", "--quiet"}, description = "No live progress line, only the summary.")
        boolean quiet;

        @CommandLine.Mixin ConfigOptionsMixin config;

        @Override
        public Integer call() throws Exception {
            Configuration conf = Settings.load(config.confDir(), config.sets, true);
            if (caCert != null) {
                if (!Files.isReadable(caCert)) {
                    throw new LocalRun.UsageException("cannot read --ca-cert " + caCert);
                }
                conf.set(FlowgetOptions.TLS_CA_CERT, caCert.toAbsolutePath().toString());
            }
            if (!"-".equals(urls) && !Files.isReadable(Path.of(urls))) {
                throw new LocalRun.UsageException("cannot read --urls " + urls);
            }
            int p = parallelism != null ? parallelism : Runtime.getRuntime().availableProcessors();
            if (p < 1) {
                throw new LocalRun.UsageException("--parallelism must be at least 1");
            }
            LocalRun.Request req =
                    new LocalRun.Request(
                            "-".equals(urls) ? null : Path.of(urls),
                            System.in,
                            out,
                            results,
                            stateDir,
                            p,
                            bootstrapServers,
                            conf,
                            quiet,
                            System.console() != null,
                            timeout);
            return report(new LocalRun(req, System.out).execute(), System.out);
        }
    }

    /** Prints the one summary line and returns the exit status. */
    public static int report(LocalRun.Summary s, PrintStream out) {
        double rate = s.seconds() > 0 ? s.requests() / s.seconds() : 0;
        out.printf(
                Locale.ROOT,
                "flowget: %d requests: %d OK, %d NOT_MODIFIED, %d FAILED; %s in %.1f s (%.0f files/s, %.1f MiB/s)"
                        + " startup_s=%.2f steady_files_per_s=%.1f steady_mb_per_s=%.1f%n",
                s.requests(),
                s.ok(),
                s.notModified(),
                s.failed(),
                human(s.bytes()),
                s.seconds(),
                rate,
                s.bytes() / 1048576.0 / Math.max(s.seconds(), 1e-3),
                s.startupSeconds(),
                s.steadyFilesPerSecond(),
                s.steadyMbPerSecond());
        return s.exit();
    }

    private static String human(long bytes) {
        return String.format(Locale.ROOT, "%.1f MiB", bytes / 1048576.0);
    }

    @Command(name = "demo", mixinStandardHelpOptions = true, description = "Download a generated data set from a loopback origin.")
    static final class Demo implements Callable<Integer> {
        @Option(names = "--files", defaultValue = "300", description = "Small files to serve (default: ${DEFAULT-VALUE}).")
        int files;

        @Option(names = "--large", defaultValue = "4", description = "Large files (16 MiB each) to serve (default: ${DEFAULT-VALUE}).")
        int large;

        @Option(names = "--keep", description = "Keep the downloaded files and state (printed at the end).")
        boolean keep;

        @Option(names = {"-q", "--quiet"}, description = "No live progress line, only the summary.")
        boolean quiet;

        @CommandLine.Mixin ConfigOptionsMixin config;

        @Override
        public Integer call() throws Exception {
            Configuration conf = Settings.load(config.confDir(), config.sets, true);
            return DemoOrigin.runDemo(files, large, keep, quiet, conf, System.out);
        }
    }

    @Command(name = "job", mixinStandardHelpOptions = true, description = "Run the streaming job (forever) against a Kafka cluster.")
    static final class Job implements Callable<Integer> {
        @Option(names = "--bootstrap-servers", paramLabel = "HOST:PORT", description = "Kafka (or set flowget.kafka.bootstrap-servers).")
        String bootstrapServers;

        @Option(names = "--out", paramLabel = "DIR", description = "Where finished files go (or set flowget.storage.out-dir).")
        Path out;

        @CommandLine.Mixin ConfigOptionsMixin config;

        @Override
        public Integer call() throws Exception {
            Configuration conf = Settings.load(config.confDir(), config.sets, false);
            // Under `flink run` or the Kubernetes operator, the cluster's configuration (flinkConfiguration)
            // carries the flowget.* keys: take them, then let the command line win.
            StreamExecutionEnvironment probe = StreamExecutionEnvironment.getExecutionEnvironment(conf);
            Configuration effective = new Configuration();
            if (probe.getConfiguration() instanceof Configuration cluster) {
                cluster.toMap().forEach((k, v) -> {
                    if (k.startsWith("flowget.")) {
                        effective.setString(k, v);
                    }
                });
            }
            effective.addAll(conf);
            conf = effective;
            if (bootstrapServers != null) {
                conf.set(JobOptions.KAFKA_BOOTSTRAP_SERVERS, bootstrapServers);
            }
            if (out != null) {
                conf.set(FlowgetOptions.STORAGE_OUT_DIR, out.toAbsolutePath().toString());
            }
            if (!conf.contains(JobOptions.KAFKA_BOOTSTRAP_SERVERS)) {
                throw new LocalRun.UsageException("--bootstrap-servers (or flowget.kafka.bootstrap-servers) is required");
            }
            if (!conf.contains(FlowgetOptions.STORAGE_OUT_DIR)) {
                throw new LocalRun.UsageException("--out (or flowget.storage.out-dir) is required");
            }
            StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
            FlowgetJob.kafka(conf, false).build(env);
            env.execute(conf.get(JobOptions.JOB_NAME));
            return LocalRun.EXIT_OK;
        }
    }

    /** picocli mixin wrapper of {@link ConfigOptions}. */
    static final class ConfigOptionsMixin extends ConfigOptions {}
}
