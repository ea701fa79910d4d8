package io.flowget.job.daemon;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link HeapTrim} gives back what G1 keeps committed after a burst: a JVM with the daemon's collector and heap
 * bound (G1, {@code -Xmx1g}; the tests' own JVM runs the parallel collector) keeps 40 MiB live after it held 300 MiB
 * more, then trims. The committed heap must come down to at most 1.5 times what is live (G1's default bounds keep up
 * to 3.3 times: measured 410 MiB committed for 121 MiB used, against 154 MiB with the trim's bounds), and the JVM's
 * own free-ratio flags are back afterwards.
 */
class HeapTrimTest {

    @Test
    void aTrimShrinksTheCommittedHeapToLittleMoreThanWhatIsLive() throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        Process p =
                new ProcessBuilder(java, "-XX:+UseG1GC", "-Xmx1g", "-cp", cp, Child.class.getName())
                        .redirectErrorStream(true)
                        .start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(2, TimeUnit.MINUTES)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
        String line = out.lines().filter(l -> l.startsWith("trim ")).findFirst().orElseThrow(() -> new AssertionError(out));
        System.out.println("HeapTrimTest: " + line);
        String[] f = line.split(" ");
        double before = Double.parseDouble(f[1]);
        double after = Double.parseDouble(f[2]);
        double used = Double.parseDouble(f[3]);
        assertThat(before).as("the burst grew the heap: %s", line).isGreaterThan(300);
        assertThat(after).as("committed after the trim, MiB: %s", line).isLessThanOrEqualTo(1.5 * used + 8);
        assertThat(f[4]).as("MinHeapFreeRatio/MaxHeapFreeRatio restored").isEqualTo(f[5]);
    }

    /** The JVM under test: a burst, then {@link HeapTrim#trim()}; prints {@code trim <before> <after> <used> ...}. */
    public static final class Child {
        public static void main(String[] args) throws Exception {
            var vm = java.lang.management.ManagementFactory.getPlatformMXBean(
                    com.sun.management.HotSpotDiagnosticMXBean.class);
            String ratios = vm.getVMOption("MinHeapFreeRatio").getValue() + "/"
                    + vm.getVMOption("MaxHeapFreeRatio").getValue();
            List<byte[]> live = new ArrayList<>();
            for (int i = 0; i < 40; i++) {
                live.add(new byte[1 << 20]);
            }
            List<byte[]> burst = new ArrayList<>();
            for (int i = 0; i < 300; i++) {
                burst.add(new byte[1 << 20]);
            }
            burst.clear();
            HeapTrim.Result r = HeapTrim.trim();
            String after = vm.getVMOption("MinHeapFreeRatio").getValue() + "/"
                    + vm.getVMOption("MaxHeapFreeRatio").getValue();
            System.out.println(String.format(Locale.ROOT, "trim %.1f %.1f %.1f %s %s %d", r.committedBefore(),
                    r.committedAfter(), r.usedAfter(), ratios, after, live.size()));
            System.out.println(r.line());
        }
    }
}
