package io.flowget.job.cli;

import org.apache.flink.annotation.Internal;

import java.util.ArrayList;
import java.util.List;

/**
 * The JVM options of the daemon's JVM that {@code flowget daemon start} starts: the start JVM's own (the launcher's
 * defaults, its class-data archive or AOT cache, the user's {@code FLOWGET_JAVA_OPTS}) without those that are not the
 * daemon's (an archive dump, which is the start JVM's to write, and a client's C1-only or no-sharing options), and,
 * when the launcher asks for it ({@value #AOT_OUTPUT_ENV}, set on a Java 25+ runtime while no daemon AOT cache exists
 * for the jar), the JDK's AOT cache output (JEP 514/515): the daemon then writes, when its JVM exits, an AOT cache with
 * the classes and method profiles of its whole life, warm-up and runs included, to {@code <that path>.<tag>.tmp}; the
 * launcher puts it into place after the daemon has ended and maps it into the next daemons of that jar. The JDK takes
 * either a cache to map or one to write, not both, so that daemon maps none.
 *
 * <p>Stateless; any thread.
 */
@Internal
final class DaemonJvmOptions {
    /** The launcher's variable: where a daemon's AOT cache goes ({@code flowget-aot-daemon-<key>.aot}). */
    static final String AOT_OUTPUT_ENV = "FLOWGET_DAEMON_AOT_OUTPUT";

    private DaemonJvmOptions() {}

    /**
     * The daemon's JVM options from the start JVM's input arguments; {@code aotOutput} (null: none) is the temp file
     * the daemon's JVM writes its AOT cache to at exit.
     */
    static List<String> of(List<String> startJvmArguments, String aotOutput) {
        List<String> out = new ArrayList<>();
        for (String a : startJvmArguments) {
            // not the launcher's archive dump (the archive is the start JVM's to write) nor a client's light options
            if (a.startsWith("-XX:ArchiveClassesAtExit") || a.startsWith("-XX:AOTCacheOutput")
                    || a.startsWith("-XX:TieredStopAtLevel") || a.startsWith("-Xshare:off")) {
                continue;
            }
            if (aotOutput != null && (a.startsWith("-XX:AOTCache=") || a.startsWith("-XX:SharedArchiveFile="))) {
                continue; // a JVM that writes an AOT cache maps none
            }
            out.add(a);
        }
        if (aotOutput != null) {
            out.add("-XX:AOTCacheOutput=" + aotOutput);
        }
        return out;
    }
}
