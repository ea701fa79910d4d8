package io.flowget.bench;

import io.flowget.udf.fetch.Download;
import io.flowget.udf.model.FetchRequest;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * In-memory scheduling cost per record of {@code FetchOperator}: the round-robin ring over hosts with a global
 * permit count ({@code max-in-flight}) and a per-host one. {@code FetchOperator}'s scheduling
 * ({@code host}, {@code enqueueIfReady}, {@code pump}, the queue branch of {@code issueNext}, {@code release}) is
 * private and runs only inside an open operator with state, timers and an HTTP client, so this benchmark runs a
 * <b>faithful copy of its data-structure work</b>: the same {@code HostRuntime} fields, a {@code HashMap} of
 * hosts, an {@code ArrayDeque} ring, an identity {@code HashSet} of attempts in flight, a {@code HashMap} of a
 * host's downloads. Two simplifications, both cheaper than the real thing: {@code HostPoliteness#mayIssue} is
 * reduced to {@code inFlight < perHost} (the real one adds an access-ordered map lookup, a warm-up check and the
 * AIMD limit), and keyed state is left out ({@link StateAccessBenchmark} measures it).
 *
 * <p>One op is one record through the operator in steady state: the oldest attempt completes (release, drop
 * the download, re-ring its host, pump, which issues the next request), then a new request arrives for the next
 * of 1,000 hosts in turn (count it, ring its host, pump). Set-up sends {@code 1 + backlog} requests to every
 * host: {@code maxInFlight} of them take the permits, the rest wait queued (744 + 1,000 × backlog with the
 * defaults), and since every op completes one and adds one, the permits stay taken and the queue stays that long.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xms256m", "-Xmx256m", "-XX:+UseParallelGC"})
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
public class SchedulingBenchmark {
    static final int HOSTS = 1_000;

    /** Global permits, flowget.fetch.max-in-flight. */
    @Param({"256"})
    public int maxInFlight;

    /** Per-host permits (the host limit in steady state). */
    @Param({"4"})
    public int perHost;

    /** Extra requests queued per host at the start. */
    @Param({"0", "10"})
    public int backlog;

    private Map<String, HostRuntime> hosts;
    private ArrayDeque<HostRuntime> ring;
    private Set<Attempt> inFlight;
    private ArrayDeque<Attempt> completionOrder;
    private long queuedTotal;
    private String[] hostNames;
    private FetchRequest[] requests;
    private int nextHost;
    private long seqs;

    @Setup(Level.Trial)
    public void setUp() {
        hosts = new HashMap<>();
        ring = new ArrayDeque<>();
        inFlight = new HashSet<>();
        completionOrder = new ArrayDeque<>();
        hostNames = new String[HOSTS];
        requests = new FetchRequest[HOSTS];
        for (int i = 0; i < HOSTS; i++) {
            hostNames[i] = "host-" + i + ".example.org";
            String path = String.format("datasets/crawl-2026-11/part-%04d/file-%010d.parquet", i % 64, 100_000 + i);
            requests[i] = new FetchRequest("req-" + i, "https://" + hostNames[i] + "/" + path, hostNames[i], path);
        }
        // 1 + backlog requests to every host, by the operator's own path: the first maxInFlight take the
        // permits, the rest wait queued.
        for (int round = 0; round < 1 + backlog; round++) {
            for (int i = 0; i < HOSTS; i++) {
                arrive(i);
            }
        }
        if (inFlight.size() != maxInFlight) {
            throw new IllegalStateException("permits not all taken: " + inFlight.size());
        }
    }

    @Benchmark
    public int perRecord() {
        complete(completionOrder.pollFirst());
        int i = nextHost;
        nextHost = i + 1 == HOSTS ? 0 : i + 1;
        arrive(i);
        return inFlight.size();
    }

    // --- copy of FetchOperator's processElement / scheduling / release, without state and HTTP ---

    private void arrive(int i) {
        HostRuntime h = hosts.computeIfAbsent(hostNames[i], HostRuntime::new);
        h.queued++;
        queuedTotal++;
        enqueueIfReady(h);
        pump();
    }

    private void complete(Attempt a) {
        HostRuntime h = hosts.get(a.host);
        if (inFlight.remove(a)) {
            h.inFlight--;
        }
        Active act = h.downloads.remove(a.seq);
        act.attempts.remove(a);
        if (h.queued == 0 && h.downloads.isEmpty()) {
            hosts.remove(h.host);
        }
        enqueueIfReady(h);
        pump();
    }

    private void enqueueIfReady(HostRuntime h) {
        if (!h.inRing && h.hasReadyWork() && h.inFlight < perHost) {
            h.inRing = true;
            ring.addLast(h);
        }
    }

    private void pump() {
        while (inFlight.size() < maxInFlight && !ring.isEmpty()) {
            HostRuntime h = ring.pollFirst();
            h.inRing = false;
            if (!h.hasReadyWork() || h.inFlight >= perHost) {
                continue;
            }
            issueNext(h);
            enqueueIfReady(h);
        }
    }

    private void issueNext(HostRuntime h) {
        long seq = seqs++;
        h.queued--;
        queuedTotal--;
        Download d = new Download(requests[nextHost], 1_764_000_000_000L);
        Active act = new Active(seq, d);
        h.downloads.put(seq, act);
        d.attempts++;
        Attempt a = new Attempt(h.host, seq);
        h.inFlight++;
        inFlight.add(a);
        act.attempts.add(a);
        completionOrder.addLast(a);
    }

    /** Same fields as FetchOperator.HostRuntime. */
    private static final class HostRuntime {
        final String host;
        final ArrayDeque<Long> ready = new ArrayDeque<>();
        final Map<Long, Active> downloads = new HashMap<>();
        long queued;
        int inFlight;
        boolean inRing;
        boolean preferQueue;

        HostRuntime(String host) {
            this.host = host;
        }

        boolean hasReadyWork() {
            return queued > 0 || !ready.isEmpty();
        }
    }

    /** Same fields as FetchOperator.Active. */
    private static final class Active {
        final long seq;
        final Download d;
        final List<Attempt> attempts = new ArrayList<>(2);
        boolean inReady;

        Active(long seq, Download d) {
            this.seq = seq;
            this.d = d;
        }
    }

    /** Stands for io.flowget.udf.http.Attempt, which also uses identity equality. */
    private static final class Attempt {
        final String host;
        final long seq;

        Attempt(String host, long seq) {
            this.host = host;
            this.seq = seq;
        }
    }
}
