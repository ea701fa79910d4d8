package io.flowget.job.cli;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * How the command line's JVM ends once a command has returned its exit status.
 *
 * <p><b>Contract</b>: {@link #exit} never returns. The status reaches the caller either as the JVM's own exit status
 * ({@link System#exit}), or — when the {@code ./flowget} launcher waits for the JVM with a status file
 * ({@value #STATUS_FILE_ENV}) and the caller says nothing is left to do — through that file, after which the process
 * kills itself with {@code SIGKILL} and the launcher exits with the status it reads back.
 *
 * <p>Why a kill: HotSpot's own exit ({@code System.exit} and {@code Runtime.halt} alike) waits up to 300 ms at its
 * final safepoint for threads that are inside native calls, and a finished {@code run} has dozens (the embedded
 * broker's and Kafka clients' selectors, Flink's Netty and blob server accept loops): 0.3-0.45 s of every run's tail
 * (issue 16). A kill costs the kernel's teardown only. It is used only when a {@code run} has completed on its embedded
 * broker ({@code LocalRun.processMayBeKilled()}): every file is published and synced by the group commit of the
 * checkpoint that committed its result, every result is committed in Kafka and written to {@code --results},
 * {@code --state-dir} says the run is complete, stdout and stderr are flushed — what a kill then skips (the job's
 * cancel, the broker's and MiniCluster's stop, shutdown hooks) is cleanup whose remains the next run in the state dir
 * deletes anyway, and a kill at any earlier point is what {@code ChaosProcessKillITCase} shows to be resumable.
 * Without the launcher (plain {@code java -jar}, tests) or when the JVM is asked to write a class-data archive at exit
 * ({@code -XX:ArchiveClassesAtExit}, {@code -XX:AOTCacheOutput}), to end a flight recording or while an agent such as
 * async-profiler runs (they write their output at exit, which a kill would lose), it exits normally.
 *
 * <p>The kill is prepared when the command starts ({@link #prepare()}): a small {@code sh} waits on a pipe and runs
 * {@code kill -KILL} on this JVM when a line arrives, so the end costs a pipe write instead of starting a process
 * (25-100 ms on two loaded cores); should the helper be gone, a {@code kill} is started then. With the launcher as its
 * parent the JVM also watches it: a kill of the launcher alone (which reached the JVM when the launcher {@code exec}ed
 * it) would otherwise leave the JVM running and holding the state dir's broker, so the JVM then ends itself.
 *
 * <p>Static; {@link #prepare()} and {@link #exit} are called once from {@code main}'s thread.
 */
final class ProcessExit {
    private static final Logger LOG = LoggerFactory.getLogger(ProcessExit.class);

    /** The launcher's variable naming the file it reads the exit status from when the JVM was killed. */
    static final String STATUS_FILE_ENV = "FLOWGET_EXIT_STATUS_FILE";

    /** How long to wait for the kill to land before exiting normally instead. */
    private static final long KILL_WAIT_MILLIS = 5_000;

    /** The prepared killer's input (a line ends this JVM), or null. */
    private static volatile OutputStream killer;

    private ProcessExit() {}

    /** Whether a launcher waits for this JVM with a status file and no class-data archive is written at exit. */
    static boolean killable() {
        String file = System.getenv(STATUS_FILE_ENV);
        if (file == null || file.isBlank()) {
            return false;
        }
        for (String arg : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (writesAtExit(arg)) {
                return false;
            }
        }
        return true;
    }

    /**
     * Whether a JVM option asks for something written when the JVM exits, which a kill would lose: a class-data archive
     * or AOT cache, a flight recording, or an agent (async-profiler and other profilers write their output then).
     */
    static boolean writesAtExit(String jvmOption) {
        return jvmOption.contains("ArchiveClassesAtExit")
                || jvmOption.contains("AOTCacheOutput")
                || jvmOption.contains("AOTMode")
                || jvmOption.contains("StartFlightRecording")
                || jvmOption.startsWith("-agentpath:")
                || jvmOption.startsWith("-agentlib:")
                || jvmOption.startsWith("-javaagent:");
    }

    /**
     * When {@link #killable()}: starts the killer helper on a background thread and watches the launcher (see the
     * class comment). Returns at once; does nothing otherwise.
     */
    static void prepare() {
        if (!killable()) {
            return;
        }
        long pid = ProcessHandle.current().pid();
        Thread t = new Thread(() -> {
            try {
                Process p = new ProcessBuilder("sh", "-c", "read -r line && kill -KILL " + pid)
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                        .redirectError(ProcessBuilder.Redirect.DISCARD)
                        .start();
                killer = p.getOutputStream(); // the JVM's death closes the pipe: read fails, nothing is killed
            } catch (IOException | RuntimeException e) {
                LOG.debug("No killer helper ({}); the end starts kill itself", e.toString());
            }
        }, "flowget-exit-prepare");
        t.setDaemon(true);
        t.start();
        ProcessHandle.current().parent().ifPresent(launcher -> launcher.onExit().thenRun(() -> {
            LOG.warn("The launcher (pid {}) ended before this JVM; ending too", launcher.pid());
            System.err.flush();
            kill();
        }));
    }

    /**
     * Ends the process with {@code status}; by a kill when {@code nothingLeft} and {@link #killable()} (see the class
     * comment), else by {@link System#exit}.
     */
    static void exit(int status, boolean nothingLeft) {
        System.out.flush();
        if (nothingLeft && killable()) {
            try {
                Path file = Path.of(System.getenv(STATUS_FILE_ENV));
                Files.writeString(file, status + "\n", StandardCharsets.US_ASCII);
                LOG.debug("Exiting with status {} by SIGKILL (status in {})", status, file);
                System.err.flush();
                kill();
                Thread.sleep(KILL_WAIT_MILLIS); // the signal is on its way
                LOG.warn("Still alive {} ms after kill -KILL; exiting normally", KILL_WAIT_MILLIS);
            } catch (IOException | RuntimeException e) {
                LOG.warn("Could not end the process by a kill ({}); exiting normally", e.toString());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        LOG.debug("Exiting with status {}", status);
        System.exit(status);
    }

    /** Sends this JVM {@code SIGKILL}: through the prepared helper, else by starting {@code kill}. */
    private static void kill() {
        OutputStream k = killer;
        if (k != null) {
            try {
                k.write('\n');
                k.flush();
                return;
            } catch (IOException helperGone) {
                // start one below
            }
        }
        try {
            new ProcessBuilder("kill", "-KILL", Long.toString(ProcessHandle.current().pid()))
                    .redirectErrorStream(true)
                    .start();
        } catch (IOException e) {
            LOG.warn("Could not start kill: {}", e.toString());
        }
    }
}
