package io.flowget.job.cli;

import io.flowget.job.daemon.Daemon;
import io.flowget.job.daemon.DaemonClient;
import io.flowget.job.daemon.DaemonWarmUp;
import io.flowget.job.run.RunServices;
import io.flowget.job.run.StateDirLock;

import org.apache.flink.configuration.Configuration;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

/**
 * {@code flowget daemon start|stop|status|serve}: the long-lived local service of one state dir that {@code flowget
 * run} attaches to ({@link Daemon}).
 *
 * <pre>
 * flowget daemon start  [--state-dir DIR] [--parallelism N] [--set key=value]... [--idle-timeout PT30M]
 *                       [--warm-up PT2M]
 * flowget daemon status [--state-dir DIR]
 * flowget daemon stop   [--state-dir DIR] [--wait-for-run PT10M]
 * flowget daemon serve  ... (as start, in the foreground: what start runs in the background)
 * </pre>
 *
 * Exit status: 0 done (start: the daemon answers; stop: it stopped; status: one answers); 1 status/stop found no
 * daemon; 64 usage (a per-run option given to the daemon, the state dir held by a cold run, a negative
 * {@code --wait-for-run}); 70 internal (the daemon did not come up, see {@code <state-dir>/daemon.log}; a stopped
 * daemon's process still there 3 min later); 75 stop: the daemon's current run did not end within
 * {@code --wait-for-run}, so it was not stopped ({@link ExitCodes#DAEMON_BUSY}).
 *
 * <p>Each subcommand runs on the thread that called {@link FlowgetCli#execute} and writes to that invocation's
 * streams.
 */
@Command(
        name = "daemon",
        mixinStandardHelpOptions = true,
        description = "A long-lived local service that `flowget run` attaches to (per state dir).",
        subcommands = {
            DaemonCommand.Start.class,
            DaemonCommand.Serve.class,
            DaemonCommand.Status.class,
            DaemonCommand.Stop.class
        })
final class DaemonCommand implements Callable<Integer> {
    /** Status and stop found no daemon. */
    static final int NOT_RUNNING = 1;
    /** Longest wait for a started daemon to answer. */
    private static final Duration START_WAIT = Duration.ofMinutes(3);
    /** The daemon's log in the state dir. */
    static final String LOG_FILE = "daemon.log";

    @Override
    public Integer call() {
        picocli.CommandLine.usage(this, System.err);
        return ExitCodes.USAGE;
    }

    /** The state dir option every subcommand has, and the invocation's streams (set by {@link FlowgetCli}). */
    static class StateDirOption {
        @Option(names = "--state-dir", paramLabel = "DIR", defaultValue = ".flowget",
                description = "The state dir the daemon serves (default: ${DEFAULT-VALUE}).")
        Path stateDir;

        PrintStream out = System.out;
        PrintStream err = System.err;

        Path abs() {
            return stateDir.toAbsolutePath().normalize();
        }

        /** The daemon serving the state dir, or empty after saying on stdout that none does. */
        Optional<DaemonClient> connectOrSay() {
            Optional<DaemonClient> c = DaemonClient.connect(abs());
            if (c.isEmpty()) {
                out.println("flowget daemon: none serves " + abs());
            }
            return c;
        }
    }

    /** Options of start and serve. */
    static class ServeOptions extends StateDirOption {
        @Option(names = "--parallelism", paramLabel = "N", description = "Slots of the cluster (default: cores).")
        Integer parallelism;

        @Option(names = "--idle-timeout", paramLabel = "DURATION", defaultValue = "PT30M",
                description = "Stop after this long without a client (default: ${DEFAULT-VALUE}).")
        Duration idleTimeout;

        @Option(names = "--warm-up", paramLabel = "DURATION", defaultValue = "PT2M",
                description = "Warm the fetch path up in the background while no run is served: real downloads"
                        + " from a loopback origin through the run's pipeline, in a scratch dir that is deleted,"
                        + " at most this long in all; a run that arrives interrupts it (PT0S: off; default:"
                        + " ${DEFAULT-VALUE}).")
        Duration warmUp;

        @Mixin FlowgetCli.ConfigOptionsMixin config;

        int parallelism() {
            int p = parallelism != null ? parallelism : Runtime.getRuntime().availableProcessors();
            if (p < 1) {
                throw new UsageException("--parallelism must be at least 1");
            }
            return p;
        }

        Duration warmUp() {
            if (warmUp.isNegative()) {
                throw new UsageException("--warm-up must not be negative (PT0S turns it off)");
            }
            return warmUp;
        }

        /** The cluster's settings: per-run keys refused on the command line, dropped from the config file. */
        Configuration settings() {
            for (String s : config.sets) {
                String key = s.contains("=") ? s.substring(0, s.indexOf('=')).trim() : s;
                if (RunServices.jobLevel(key)) {
                    throw new UsageException("--set " + key + " is a per-run option: give it to each flowget run,"
                            + " not to the daemon (only settings that shape the cluster go here)");
                }
            }
            Configuration all = Settings.load(config.confDir(), config.sets, true);
            Configuration cluster = new Configuration();
            all.toMap().forEach((k, v) -> {
                if (!RunServices.jobLevel(k)) {
                    cluster.setString(k, v);
                }
            });
            return cluster;
        }

        List<String> asArgs() {
            List<String> a = new ArrayList<>(List.of("--state-dir", abs().toString(), "--idle-timeout",
                    idleTimeout.toString(), "--parallelism", Integer.toString(parallelism()), "--warm-up",
                    warmUp().toString()));
            for (String s : config.sets) {
                a.add("--set");
                a.add(s);
            }
            if (config.confDir != null) {
                a.add("--conf");
                a.add(config.confDir.toAbsolutePath().toString());
            }
            return a;
        }
    }

    @Command(name = "serve", mixinStandardHelpOptions = true,
            description = "Run the daemon in the foreground (what `start` runs in the background).")
    static final class Serve extends ServeOptions implements Callable<Integer> {
        @Override
        public Integer call() throws Exception {
            Configuration settings = settings();
            Daemon daemon;
            try {
                daemon = Daemon.start(abs(), settings, parallelism(), idleTimeout, DaemonWarmUp.Plan.of(warmUp()));
            } catch (StateDirLock.InUse e) {
                throw new UsageException(e.getMessage());
            }
            Thread hook = new Thread(() -> {
                try {
                    daemon.close();
                } catch (Exception e) {
                    System.err.println("flowget daemon: stopping: " + e);
                }
            }, "flowget-daemon-shutdown");
            Runtime.getRuntime().addShutdownHook(hook);
            out.println("flowget daemon: serving " + abs() + " on " + daemon.socket() + " (pid "
                    + ProcessHandle.current().pid() + ", parallelism " + parallelism() + ", idle timeout "
                    + idleTimeout + ")");
            out.flush();
            daemon.serve();
            daemon.close();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException exiting) {
                // already shutting down
            }
            return ExitCodes.OK;
        }
    }

    @Command(name = "start", mixinStandardHelpOptions = true,
            description = "Start the daemon of a state dir in the background; returns once it answers.")
    static final class Start extends ServeOptions implements Callable<Integer> {
        @Override
        public Integer call() throws Exception {
            Path dir = abs();
            Optional<DaemonClient> running = DaemonClient.connect(dir);
            if (running.isPresent()) {
                try (DaemonClient c = running.get()) {
                    out.print("flowget: already running: ");
                    return c.request("status", List.of(), out, err);
                }
            }
            settings(); // refuse bad options here, not in the background
            parallelism();
            warmUp();
            Files.createDirectories(dir);
            Path log = dir.resolve(LOG_FILE);
            List<String> cmd = new ArrayList<>();
            if (Files.isExecutable(Path.of("/usr/bin/setsid"))) {
                cmd.add("/usr/bin/setsid"); // its own session: a terminal's hang-up or Ctrl-C does not reach it
            }
            cmd.add(ProcessHandle.current().info().command().orElse(
                    Path.of(System.getProperty("java.home"), "bin", "java").toString()));
            String aotTarget = System.getenv(DaemonJvmOptions.AOT_OUTPUT_ENV);
            String aotOutput = aotTarget == null || aotTarget.isBlank() ? null
                    : aotTarget + "." + ProcessHandle.current().pid() + ".tmp";
            cmd.addAll(DaemonJvmOptions.of(ManagementFactory.getRuntimeMXBean().getInputArguments(), aotOutput));
            cmd.add("-cp");
            cmd.add(System.getProperty("java.class.path"));
            cmd.add(FlowgetCli.class.getName());
            cmd.add("daemon");
            cmd.add("serve");
            cmd.addAll(asArgs());
            ProcessBuilder pb = new ProcessBuilder(cmd)
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
            pb.environment().remove(DaemonJvmOptions.AOT_OUTPUT_ENV);
            Process child = pb.start();
            if (aotOutput != null) {
                // the launcher puts the cache into place only once this process is gone (it writes it at its exit)
                try {
                    Files.writeString(Path.of(aotOutput + ".pid"), child.pid() + "\n");
                } catch (IOException e) {
                    err.println("flowget: cannot write " + aotOutput + ".pid (" + e.getMessage()
                            + "); the daemon's AOT cache will not be used");
                }
            }
            long deadline = System.nanoTime() + START_WAIT.toNanos();
            while (System.nanoTime() < deadline) {
                if (!child.isAlive()) {
                    err.println("flowget: the daemon ended with status " + child.exitValue() + " at start:");
                    err.print(tail(log));
                    return child.exitValue() == ExitCodes.USAGE ? ExitCodes.USAGE : ExitCodes.INTERNAL;
                }
                Optional<DaemonClient> c = DaemonClient.connect(dir);
                if (c.isPresent()) {
                    try (DaemonClient client = c.get()) {
                        if (client.pointer().pid() == child.pid()
                                || ProcessHandle.of(client.pointer().pid()).isPresent()) {
                            return client.request("status", List.of(), out, err);
                        }
                    }
                }
                TimeUnit.MILLISECONDS.sleep(100);
            }
            child.destroy();
            err.println("flowget: the daemon did not answer within " + START_WAIT + "; see " + log);
            return ExitCodes.INTERNAL;
        }

        private static String tail(Path log) throws IOException {
            List<String> lines = Files.readAllLines(log);
            StringBuilder b = new StringBuilder();
            for (String l : lines.subList(Math.max(0, lines.size() - 20), lines.size())) {
                b.append("  ").append(l).append('\n');
            }
            return b.toString();
        }
    }

    @Command(name = "status", mixinStandardHelpOptions = true, description = "Say whether a daemon serves the state dir.")
    static final class Status extends StateDirOption implements Callable<Integer> {
        @Override
        public Integer call() throws Exception {
            Optional<DaemonClient> c = connectOrSay();
            if (c.isEmpty()) {
                return NOT_RUNNING;
            }
            try (DaemonClient client = c.get()) {
                return client.request("status", List.of(), out, err);
            }
        }
    }

    @Command(name = "stop", mixinStandardHelpOptions = true,
            description = "Stop the daemon of the state dir after its current run; returns once it is gone.")
    static final class Stop extends StateDirOption implements Callable<Integer> {
        @Option(names = Daemon.WAIT_FOR_RUN, paramLabel = "DURATION", defaultValue = Daemon.DEFAULT_WAIT_FOR_RUN,
                description = "How long the daemon waits for its current run to end before it stops (ISO-8601,"
                        + " default: ${DEFAULT-VALUE}); past it the daemon is not stopped and this exits 75.")
        Duration waitForRun;

        @Override
        public Integer call() throws Exception {
            if (waitForRun.isNegative()) {
                throw new UsageException(Daemon.WAIT_FOR_RUN + " must not be negative: " + waitForRun);
            }
            Optional<DaemonClient> c = connectOrSay();
            if (c.isEmpty()) {
                return NOT_RUNNING;
            }
            long pid;
            int code;
            try (DaemonClient client = c.get()) {
                pid = client.pointer().pid();
                code = client.request("stop", List.of(Daemon.WAIT_FOR_RUN, waitForRun.toString()), out, err);
            }
            if (code != ExitCodes.OK) {
                return code; // not stopped (the run went on past the bound): nothing to wait for
            }
            // The daemon answers, then stops its cluster and broker and releases the state dir: wait for that.
            Optional<ProcessHandle> p = ProcessHandle.of(pid);
            if (p.isPresent() && p.get().pid() != ProcessHandle.current().pid()) {
                try {
                    p.get().onExit().get(START_WAIT.toSeconds(), TimeUnit.SECONDS);
                } catch (java.util.concurrent.TimeoutException e) {
                    err.println("flowget: the daemon (pid " + pid + ") is still stopping");
                    return ExitCodes.INTERNAL;
                }
            }
            return code;
        }
    }
}
