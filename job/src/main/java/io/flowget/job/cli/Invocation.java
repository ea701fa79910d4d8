package io.flowget.job.cli;

import io.flowget.job.run.LocalRun;
import io.flowget.job.run.RunServices;

import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;

/**
 * Where a command runs: its arguments, working directory, {@code FLOWGET_HOME}, standard streams and whether stdout is
 * a terminal. From a shell these are the process's own ({@link #shell}); in a daemon they are the client's
 * ({@code io.flowget.job.daemon.Daemon}), with the daemon's services and hooks in {@link #daemon}.
 *
 * <p>Immutable; used by the command's thread.
 *
 * @param mayAttach {@code run} may hand itself to a daemon serving its state dir (false inside the daemon)
 * @param daemon the daemon's side of a run it serves; null from a shell
 */
public record Invocation(
        List<String> args,
        Path cwd,
        String flowgetHome,
        InputStream stdin,
        PrintStream out,
        PrintStream err,
        boolean interactive,
        boolean mayAttach,
        DaemonSide daemon) {

    /** What a daemon gives a run it serves. */
    public interface DaemonSide {
        /** The daemon's broker, cluster and state dir. */
        RunServices services();

        /** The daemon's pid, for messages. */
        long pid();

        /** The run is about to execute ({@link LocalRun#abort()} is how the daemon ends it when the client leaves). */
        void started(LocalRun run);

        /** The client's exit status, sent as soon as it is known (the job is cancelled after it). */
        void reply(int status);
    }

    /** This process's own: the current directory, {@code System.in/out/err}, the console. */
    static Invocation shell(String[] args, PrintStream out, PrintStream err) {
        return new Invocation(List.of(args), Path.of("").toAbsolutePath(), System.getenv("FLOWGET_HOME"), System.in,
                out, err, System.console() != null, true, null);
    }

    /** {@code p} against the invocation's working directory. */
    Path resolve(Path p) {
        return p == null ? null : cwd.resolve(p).normalize();
    }
}
