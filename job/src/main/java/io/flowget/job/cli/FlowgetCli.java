package io.flowget.job.cli;

import io.flowget.job.FlowgetJob;
import io.flowget.job.JobOptions;
import io.flowget.job.demo.DemoOrigin;
import io.flowget.job.run.LocalRun;
import io.flowget.job.daemon.DaemonClient;
import io.flowget.job.run.RunServices;
import io.flowget.job.run.RunSummary;
import io.flowget.job.run.StateDirLock;
import io.flowget.udf.config.FlowgetOptions;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.BufferedWriter;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

/**
 * The {@code flowget} command line (CONTRACT.md):
 *
 * <pre>
 * flowget run  --urls FILE|- --out DIR [--results FILE.jsonl] [--state-dir DIR] [--parallelism N]
 *              [--ca-cert FILE.pem] [--bootstrap-servers HOST:PORT] [--set key=value]... [--quiet] [--web-ui]
 *              [--wait-for-daemon PT1M]
 * flowget demo [--files N] [--keep] [--quiet]
 * flowget job  --out DIR --bootstrap-servers HOST:PORT [--set key=value]...
 * flowget daemon start|stop|status [--state-dir DIR] [--parallelism N] [--set key=value]... [--idle-timeout D]
 *              (see DaemonCommand; `run` attaches to the daemon serving its state dir)
 * flowget diff --bootstrap-servers HOST:PORT [--secondary-topic T] [--bounded] ...   (see DiffCommand)
 * flowget canary --bootstrap-servers HOST:PORT [--since T] [--window D] [--max-diff-rate R] ...   (see CanaryCommand)
 * flowget promote --verdict PASS|FAIL [--namespace NS] [--deployment NAME] [--shadow NAME] ...   (see PromoteCommand)
 * </pre>
 *
 * Exit status ({@link ExitCodes}): 0 every request OK or NOT_MODIFIED; 2 at least one FAILED; 64 usage error
 * ({@link UsageException}); 70 internal error.
 *
 * <p>Each command checks its flags (a {@link UsageException} before any work starts), then hands over to the
 * package that does the work ({@code run}, {@code demo}, {@code diff}); a command runs on the thread that called
 * {@link #execute}.
 */
@Command(
        name = "flowget",
        mixinStandardHelpOptions = true,
        versionProvider = BuildInfo.class,
        description = "Streaming downloader on Apache Flink.",
        subcommands = {
            FlowgetCli.Run.class,
            FlowgetCli.Demo.class,
            FlowgetCli.Job.class,
            DaemonCommand.class,
            DiffCommand.class,
            CanaryCommand.class,
            PromoteCommand.class
        })
public final class FlowgetCli implements Callable<Integer> {

    @Override
    public Integer call() {
        CommandLine.usage(this, System.err);
        return ExitCodes.USAGE;
    }

    /**
     * True only in {@link #main} from a shell, which ends the JVM as soon as the command returns: a finished
     * {@code run} may then leave its embedded broker and cluster to the exit ({@link LocalRun#exitFollows(boolean)}).
     * Tests call {@link #execute} in their own JVM and keep the full shutdown.
     */
    private static volatile boolean exitFollows;

    /** Set by {@code run} when it completed with nothing left for the JVM to do ({@link ProcessExit}). */
    private static volatile boolean nothingLeft;

    /**
     * The JVM entry point. From a shell, it exits with the command's status ({@link ExitCodes}). Under a Flink client
     * ({@code flink run}, or application mode, where this runs inside the JobManager process: the Kubernetes operator,
     * the image's {@code standalone-job}) it never calls {@link System#exit}: a detached {@code execute()} returns as soon
     * as the job is submitted, and exiting then would take the JobManager down with the job it just started. There a
     * non-zero status is thrown instead, so the client or the application fails with the reason.
     */
    public static void main(String[] args) {
        if (Boolean.getBoolean(LIGHT_CLIENT_PROPERTY)) {
            // The launcher's small client JVM for a run a daemon serves: a shell is its parent, no Flink client, and
            // nothing of Flink (nor the logging it brings) is loaded before the request is on its way. The launcher
            // starts LightClient itself; this is for a JVM started with the property and -jar.
            LightClient.main(args);
        }
        exitFollows = !ClusterSettings.insideFlinkClient();
        if (exitFollows) {
            ProcessExit.prepare();
        }
        int code = execute(args, System.out, System.err);
        if (ClusterSettings.insideFlinkClient()) {
            if (code != ExitCodes.OK) {
                throw new IllegalStateException("flowget " + String.join(" ", args) + ": exit status " + code);
            }
            return;
        }
        ProcessExit.exit(code, nothingLeft);
    }

    /** Runs the command line and returns the exit status (tests call this instead of main). */
    public static int execute(String[] args, PrintStream out, PrintStream err) {
        return execute(Invocation.shell(args, out, err));
    }

    /**
     * Runs the command line of {@code inv} (a daemon calls this with its client's arguments, directory and streams)
     * and returns the exit status.
     */
    public static int execute(Invocation inv) {
        PrintStream out = inv.out();
        PrintStream err = inv.err();
        String[] args = inv.args().toArray(String[]::new);
        CommandLine.IFactory defaults = CommandLine.defaultFactory();
        CommandLine cl = new CommandLine(new FlowgetCli(), new CommandLine.IFactory() {
            @Override
            public <K> K create(Class<K> cls) throws Exception {
                K k = defaults.create(cls);
                if (k instanceof Run r) {
                    r.inv = inv;
                }
                if (k instanceof DaemonCommand.StateDirOption d) {
                    d.out = out;
                    d.err = err;
                }
                return k;
            }
        });
        cl.setOut(new java.io.PrintWriter(out, true));
        cl.setErr(new java.io.PrintWriter(err, true));
        cl.setParameterExceptionHandler(
                (ex, a) -> {
                    err.println("flowget: " + ex.getMessage());
                    ex.getCommandLine().usage(err);
                    return ExitCodes.USAGE;
                });
        cl.setExecutionExceptionHandler(
                (ex, commandLine, parseResult) -> {
                    if (ex instanceof UsageException) {
                        err.println("flowget: " + ex.getMessage());
                        return ExitCodes.USAGE;
                    }
                    err.println("flowget: internal error: " + ex);
                    ex.printStackTrace(err);
                    return ExitCodes.INTERNAL;
                });
        return cl.execute(args);
    }

    /**
     * Set by the launcher when it starts a small client JVM for a {@code run} a daemon serves: should the daemon not
     * answer, the command exits with {@link ExitCodes#RERUN_COLD} at once and the launcher runs it again, cold.
     */
    static final String LIGHT_CLIENT_PROPERTY = "flowget.client.light";

    /** The {@code run} option that bounds a client's wait for a busy daemon ({@link #daemonWait}). */
    static final String WAIT_FOR_DAEMON = "--wait-for-daemon";

    static final String DEFAULT_WAIT_FOR_DAEMON = "PT1M";

    /** {@code run}'s {@code --state-dir} when none is given. */
    static final String DEFAULT_STATE_DIR = ".flowget";

    /**
     * How long the client whose {@code run} arguments are {@code args} waits for a busy daemon's current run to end:
     * its {@code --wait-for-daemon}, else the default (also when the arguments do not parse: the run then reports
     * them once it has its turn, or when its wait ends). Never negative.
     */
    public static Duration daemonWait(List<String> args) {
        Duration wait = Duration.parse(DEFAULT_WAIT_FOR_DAEMON);
        try {
            CommandLine.ParseResult parsed = new CommandLine(new FlowgetCli()).parseArgs(args.toArray(String[]::new));
            CommandLine.ParseResult run = parsed.subcommand();
            if (run != null && run.hasMatchedOption(WAIT_FOR_DAEMON)) {
                wait = run.matchedOptionValue(WAIT_FOR_DAEMON, wait);
            }
        } catch (CommandLine.ParameterException | IllegalArgumentException unparsable) {
            // the default
        }
        return wait.isNegative() ? Duration.ZERO : wait;
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

        @Option(names = "--state-dir", paramLabel = "DIR", defaultValue = DEFAULT_STATE_DIR, description = "Broker data, checkpoints and partial files (default: ${DEFAULT-VALUE}).")
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

        @Option(names = "--web-ui", description = "Serve the Flink Web UI on a loopback port and print its address.")
        boolean webUi;

        @Option(names = WAIT_FOR_DAEMON, paramLabel = "DURATION", defaultValue = DEFAULT_WAIT_FOR_DAEMON, description = "When the daemon serving --state-dir is busy with another run, wait this ISO-8601 duration at most for it to end, then exit 64 as for a state dir in use (default: ${DEFAULT-VALUE}).")
        Duration waitForDaemon;

        @CommandLine.Mixin ConfigOptionsMixin config;

        /** Where this run was asked for (set by {@link #execute(Invocation)}). */
        Invocation inv;

        @Override
        public Integer call() throws Exception {
            if (inv.mayAttach() && bootstrapServers == null) {
                // Decided before anything of Flink or Kafka is loaded: a daemon serving this state dir runs it.
                Optional<DaemonClient> daemon = DaemonClient.connect(inv.resolve(stateDir));
                if (daemon.isPresent()) {
                    try (DaemonClient client = daemon.get()) {
                        return client.run(inv.args(), inv.cwd(), inv.flowgetHome(), inv.interactive(),
                                "-".equals(urls) ? inv.stdin() : null, inv.out(), inv.err());
                    }
                }
                if (Boolean.getBoolean(LIGHT_CLIENT_PROPERTY)) {
                    return ExitCodes.RERUN_COLD; // the launcher's small client JVM: it runs the command again, cold
                }
            }
            out = inv.resolve(out);
            results = inv.resolve(results);
            stateDir = inv.resolve(stateDir);
            caCert = inv.resolve(caCert);
            Path confDir = config.confDir != null ? inv.resolve(config.confDir) : Settings.defaultConfDir(inv.flowgetHome());
            Configuration conf = Settings.load(confDir, config.sets, true);
            if (webUi) {
                conf.set(JobOptions.RUN_WEB_UI, true);
            }
            Path urlsFile = "-".equals(urls) ? null : inv.resolve(Path.of(urls));
            if (caCert != null) {
                if (!Files.isReadable(caCert)) {
                    throw new UsageException("cannot read --ca-cert " + caCert);
                }
                conf.set(FlowgetOptions.TLS_CA_CERT, caCert.toAbsolutePath().toString());
            }
            if (urlsFile != null && !Files.isReadable(urlsFile)) {
                throw new UsageException("cannot read --urls " + urls);
            }
            int p = parallelism != null ? parallelism : Runtime.getRuntime().availableProcessors();
            if (p < 1) {
                throw new UsageException("--parallelism must be at least 1");
            }
            if (LocalRun.stateDirInsideOut(stateDir, out)) {
                throw new UsageException(LocalRun.STATE_DIR_INSIDE_OUT);
            }
            if (urlsFile != null && Files.isDirectory(urlsFile)) {
                throw new UsageException("cannot read --urls " + urlsFile);
            }
            LocalRun.Request req =
                    new LocalRun.Request(
                            urlsFile,
                            inv.stdin(),
                            out,
                            results,
                            stateDir,
                            p,
                            bootstrapServers,
                            conf,
                            quiet,
                            inv.interactive(),
                            timeout);
            Invocation.DaemonSide daemon = inv.daemon();
            if (daemon != null) {
                return runInDaemon(daemon, req, conf);
            }
            LocalRun run = new LocalRun(req, inv.out());
            if (exitFollows) {
                run.exitFollows(ProcessExit.killable());
            }
            try {
                int status = report(run.execute(), inv.out());
                nothingLeft = run.processMayBeKilled();
                return status;
            } catch (StateDirLock.InUse e) {
                throw new UsageException(e.getMessage());
            }
        }

        /**
         * This run on a daemon's services: refused when it asks for another cluster than the daemon's (a setting that
         * is not per job, or another {@code --parallelism}); its exit status goes to the client as soon as every
         * result is in, before the job is cancelled.
         */
        private int runInDaemon(Invocation.DaemonSide daemon, LocalRun.Request req, Configuration conf)
                throws Exception {
            RunServices services = daemon.services();
            List<String> differ = new ArrayList<>(RunServices.clusterMismatches(conf, services.settings()));
            if (parallelism != null && parallelism != services.parallelism()) {
                differ.add(0, "--parallelism " + parallelism + " (daemon: " + services.parallelism() + ")");
            }
            if (!differ.isEmpty()) {
                throw new UsageException("this run asks for another cluster than the daemon serving "
                        + services.stateDir() + " (pid " + daemon.pid() + ") runs: " + String.join(", ", differ)
                        + "; restart the daemon with these settings (flowget daemon stop --state-dir "
                        + services.stateDir() + ", then flowget daemon start with them) or run with the daemon's");
            }
            LocalRun run = new LocalRun(req, inv.out(), services);
            boolean[] replied = {false};
            run.beforeStop(summary -> {
                replied[0] = true;
                daemon.reply(report(summary, inv.out()));
            });
            daemon.started(run);
            RunSummary summary = run.execute();
            return replied[0] ? ExitCodes.of(summary) : report(summary, inv.out());
        }
    }

    /** Prints the summary line (and which requests took longest, and why) and returns the exit status. */
    static int report(RunSummary s, PrintStream out) {
        out.println(s.line());
        if (!s.slowest().isEmpty()) {
            out.println(s.slowest());
        }
        return ExitCodes.of(s);
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
            Path root = Files.createTempDirectory("flowget-demo-");
            Path list = root.resolve("urls.jsonl");
            Path outDir = root.resolve("out");
            Path results = root.resolve("results.jsonl");
            try (DemoOrigin origin = DemoOrigin.start(files, large)) {
                try (BufferedWriter w = Files.newBufferedWriter(list)) {
                    for (String l : origin.requestLines()) {
                        w.write(l);
                        w.write('\n');
                    }
                }
                System.out.printf(
                        "flowget demo: %d files (%.1f MiB) on %d loopback hosts; every file carries its expected SHA-256%n",
                        origin.requestLines().size(),
                        origin.totalBytes() / 1048576.0,
                        DemoOrigin.HOSTS);
                LocalRun.Request req =
                        new LocalRun.Request(
                                list,
                                null,
                                outDir,
                                results,
                                root.resolve("state"),
                                Math.max(1, Math.min(2, Runtime.getRuntime().availableProcessors())),
                                null,
                                conf,
                                quiet,
                                System.console() != null,
                                Duration.ofMinutes(10));
                int code = report(new LocalRun(req, System.out).execute(), System.out);
                if (keep) {
                    System.out.println("flowget demo: files in " + outDir + ", results in " + results);
                }
                return code;
            } finally {
                if (!keep) {
                    deleteQuietly(root);
                }
            }
        }

        private static void deleteQuietly(Path root) {
            try (Stream<Path> s = Files.walk(root)) {
                s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            } catch (Exception ignored) {
                // best effort: a temp dir
            }
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
            Configuration conf = ClusterSettings.withClusterFlowgetKeys(Settings.load(config.confDir(), config.sets, false));
            if (bootstrapServers != null) {
                conf.set(JobOptions.KAFKA_BOOTSTRAP_SERVERS, bootstrapServers);
            }
            if (out != null) {
                conf.set(FlowgetOptions.STORAGE_OUT_DIR, out.toAbsolutePath().toString());
            }
            if (!conf.contains(JobOptions.KAFKA_BOOTSTRAP_SERVERS)) {
                throw new UsageException("--bootstrap-servers (or flowget.kafka.bootstrap-servers) is required");
            }
            if (!conf.contains(FlowgetOptions.STORAGE_OUT_DIR)) {
                throw new UsageException("--out (or flowget.storage.out-dir) is required");
            }
            StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
            FlowgetJob.kafka(conf, false).build(env);
            env.execute(conf.get(JobOptions.JOB_NAME));
            return ExitCodes.OK;
        }
    }

    /** picocli mixin wrapper of {@link ConfigOptions}. */
    static final class ConfigOptionsMixin extends ConfigOptions {}
}
