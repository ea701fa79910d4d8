package io.flowget.job.cli;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What the daemon's JVM gets of the start JVM's options: everything but a dump and a client's light options; and when
 * it is to write its AOT cache at exit, that output instead of any cache or archive to map (the JDK takes one or the
 * other: "Only one of AOTCache or AOTCacheOutput can be specified").
 */
class DaemonJvmOptionsTest {
    private static final List<String> START = List.of("-Xmx1g", "--add-opens=java.base/java.lang=ALL-UNNAMED",
            "-XX:AOTCache=/j/flowget-aot-1.aot", "-Xlog:aot*=off", "-XX:TieredStopAtLevel=1",
            "-XX:AOTCacheOutput=/j/x.tmp", "-XX:ArchiveClassesAtExit=/j/y.tmp", "-Xshare:off", "-Dfoo=bar");

    @Test
    void theDaemonKeepsTheStartJvmsOptionsButDumpsAndLightOnes() {
        assertThat(DaemonJvmOptions.of(START, null)).containsExactly("-Xmx1g",
                "--add-opens=java.base/java.lang=ALL-UNNAMED", "-XX:AOTCache=/j/flowget-aot-1.aot", "-Xlog:aot*=off",
                "-Dfoo=bar");
    }

    @Test
    void aDaemonThatWritesItsAotCacheMapsNone() {
        assertThat(DaemonJvmOptions.of(START, "/j/flowget-aot-daemon-1.aot.42.tmp")).containsExactly("-Xmx1g",
                "--add-opens=java.base/java.lang=ALL-UNNAMED", "-Xlog:aot*=off", "-Dfoo=bar",
                "-XX:AOTCacheOutput=/j/flowget-aot-daemon-1.aot.42.tmp");
        assertThat(DaemonJvmOptions.of(List.of("-XX:SharedArchiveFile=/j/a.jsa"), "/j/o.tmp"))
                .containsExactly("-XX:AOTCacheOutput=/j/o.tmp");
    }
}
