package io.flowget.job.cli;

import io.flowget.job.daemon.DaemonClient;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * The launcher's small client JVM for a {@code run} a daemon serves ({@code ./flowget run ...} when the state dir's
 * daemon answers): reads {@code --state-dir} and {@code --urls} from the arguments itself, connects to the daemon and
 * streams the run through it ({@link DaemonClient}), without the command line's parser. Issue 16: the parser (picocli,
 * 171 of its classes, the reflection over every command's annotations) was ~0.25 s of the client JVM's 0.3 s of CPU,
 * all of it before the request reached the daemon, which parses the same arguments again anyway.
 *
 * <p>Contract: the same outcome as {@code FlowgetCli}'s {@code run} in a light client ({@code flowget.client.light}):
 * the daemon's exit status, or {@link ExitCodes#RERUN_COLD} when no daemon answers for the state dir (the launcher
 * then runs the command cold). Arguments it does not read plainly (anything but {@code run} with its own options,
 * {@code --help}, {@code --version}, an {@code @argfile}, {@code --bootstrap-servers}, an option given twice, a
 * positional) go to the full parser instead, as before. The daemon checks every argument, as it did.
 *
 * <p>Static; {@link #main} runs once on the JVM's main thread.
 */
public final class LightClient {
    /** {@code run}'s options that take a value (picocli's {@code --opt value} and {@code --opt=value} forms). */
    private static final Set<String> WITH_VALUE = Set.of("--urls", "--out", "--results", "--state-dir",
            "--parallelism", "--ca-cert", "--timeout", FlowgetCli.WAIT_FOR_DAEMON, "--set", "--conf");
    /** {@code run}'s options without a value. */
    private static final Set<String> FLAGS = Set.of("-q", "--quiet", "--web-ui");
    /** Options that may be given more than once. */
    private static final Set<String> REPEATABLE = Set.of("--set");

    private LightClient() {}

    /** The launcher's entry point for a client of a daemon: exits with the run's status. */
    public static void main(String[] args) {
        System.exit(run(List.of(args), Path.of("").toAbsolutePath(), System.getenv("FLOWGET_HOME"), System.in,
                System.out, System.err, System.console() != null));
    }

    /**
     * Has the daemon serving the run's state dir run {@code args} ({@code run ...}) as if in {@code cwd}; its exit
     * status, or {@link ExitCodes#RERUN_COLD} when none answers.
     */
    public static int run(List<String> args, Path cwd, String flowgetHome, InputStream stdin, PrintStream out,
            PrintStream err, boolean interactive) {
        Optional<Plain> plain = read(args);
        if (plain.isEmpty()) {
            // what this class does not read plainly: the full command line (a light client still, by the launcher's
            // -Dflowget.client.light=true)
            return FlowgetCli.execute(new Invocation(args, cwd, flowgetHome, stdin, out, err, interactive, true,
                    null));
        }
        Optional<DaemonClient> daemon = DaemonClient.connect(cwd.resolve(plain.get().stateDir()).normalize());
        if (daemon.isEmpty()) {
            return ExitCodes.RERUN_COLD;
        }
        try (DaemonClient client = daemon.get()) {
            return client.run(args, cwd, flowgetHome, interactive, plain.get().urlsFromStdin() ? stdin : null, out,
                    err);
        } catch (IOException e) {
            err.println("flowget: internal error: " + e);
            return ExitCodes.INTERNAL;
        }
    }

    /** What the client needs of a {@code run}'s arguments. */
    record Plain(Path stateDir, boolean urlsFromStdin) {}

    /** The state dir and stdin use of plain {@code run} arguments; empty for anything else (see the class comment). */
    static Optional<Plain> read(List<String> args) {
        if (args.isEmpty() || !args.get(0).equals("run")) {
            return Optional.empty();
        }
        String stateDir = null;
        String urls = null;
        Set<String> seen = new java.util.HashSet<>();
        for (int i = 1; i < args.size(); i++) {
            String a = args.get(i);
            String name = a;
            String value = null;
            int eq = a.indexOf('=');
            if (a.startsWith("--") && eq > 2) {
                name = a.substring(0, eq);
                value = a.substring(eq + 1);
            }
            if (FLAGS.contains(name) && value == null) {
                continue;
            }
            if (!WITH_VALUE.contains(name)) {
                return Optional.empty(); // help, version, @file, --bootstrap-servers, a positional, a typo...
            }
            if (!seen.add(name) && !REPEATABLE.contains(name)) {
                return Optional.empty();
            }
            if (value == null) {
                if (i + 1 >= args.size()) {
                    return Optional.empty();
                }
                value = args.get(++i);
            }
            if (name.equals("--state-dir")) {
                stateDir = value;
            } else if (name.equals("--urls")) {
                urls = value;
            }
        }
        if (stateDir != null && stateDir.isEmpty()) {
            return Optional.empty();
        }
        return Optional.of(new Plain(Path.of(stateDir == null ? FlowgetCli.DEFAULT_STATE_DIR : stateDir),
                "-".equals(urls)));
    }
}
