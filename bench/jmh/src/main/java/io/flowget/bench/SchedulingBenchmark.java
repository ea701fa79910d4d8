package io.flowget.bench;

import io.flowget.udf.fetch.Download;
import io.flowget.udf.fetch.Scheduler;
import io.flowget.udf.http.Attempt;
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
import java.util.concurrent.TimeUnit;

/**
 * In-memory scheduling cost per record of {@code FetchOperator}: its {@link Scheduler} itself (the round-robin
 * ring over hosts, the global permit count {@code max-in-flight} and a per-host one, ready lists, the host's
 * active downloads), driven the way the operator drives it. Two simplifications, both cheaper than the real
 * thing: the host gate ({@code HostPoliteness#mayIssue} in the operator, which adds an access-ordered map lookup,
 * a warm-up check and the AIMD limit) is {@code inFlight < perHost}, and keyed state is left out
 * ({@link StateAccessBenchmark} measures it).
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

    private Scheduler scheduler;
    private ArrayDeque<Attempt> completionOrder;
    private String[] hostNames;
    private FetchRequest[] requests;
    private int nextHost;
    private long seqs;

    @Setup(Level.Trial)
    public void setUp() {
        scheduler = new Scheduler(maxInFlight, (host, inFlight) -> inFlight < perHost);
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
        if (scheduler.inFlight().size() != maxInFlight) {
            throw new IllegalStateException("permits not all taken: " + scheduler.inFlight().size());
        }
    }

    @Benchmark
    public int perRecord() {
        complete(completionOrder.pollFirst());
        int i = nextHost;
        nextHost = i + 1 == HOSTS ? 0 : i + 1;
        arrive(i);
        return scheduler.inFlight().size();
    }

    // --- FetchOperator's processElement / pump / issueNext / terminal, without state and HTTP ---

    private void arrive(int i) {
        scheduler.queued(scheduler.host(hostNames[i]));
        pump();
    }

    private void complete(Attempt a) {
        Scheduler.Host h = scheduler.existing(a.host);
        Scheduler.Active act = h.download(a.seq);
        scheduler.release(h, act, a);
        scheduler.remove(h, act);
        scheduler.dropIfIdle(h);
        scheduler.enqueueIfReady(h);
        pump();
    }

    private void pump() {
        Scheduler.Host h;
        while ((h = scheduler.nextTurn()) != null) {
            issueNext(h);
            scheduler.enqueueIfReady(h);
        }
    }

    private void issueNext(Scheduler.Host h) {
        if (scheduler.readyTurn(h)) {
            throw new IllegalStateException("no download is ever ready again in this benchmark");
        }
        long seq = seqs++;
        scheduler.dequeued(h);
        Download d = new Download(requests[nextHost], 1_764_000_000_000L);
        Scheduler.Active act = scheduler.admit(h, seq, d);
        d.attempts++;
        Attempt a = new Attempt(h.name(), seq, d.request.url, 1_764_000_000_000L, Long.MAX_VALUE);
        scheduler.started(h, act, a);
        completionOrder.addLast(a);
    }
}
