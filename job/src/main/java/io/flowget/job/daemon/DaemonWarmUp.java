package io.flowget.job.daemon;

import io.flowget.job.FileTrees;
import io.flowget.job.kafka.KafkaClients;
import io.flowget.job.run.LocalRun;
import io.flowget.job.run.RunServices;
import io.flowget.job.run.RunSummary;
import io.flowget.udf.config.FlowgetOptions;

import org.apache.flink.configuration.Configuration;

import org.apache.kafka.clients.admin.Admin;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * The daemon's warm-up: real downloads through the production pipeline while the daemon has nothing else to do, so
 * that the JIT compiles the per-request code (HttpClient's message parsing and formatting, URL and path handling,
 * Jackson, the Fetch operator, Kafka's clients, Flink's record path) before a user's run needs it, instead of one
 * user run at a time (issue 16: the compiler threads were 35-45 % of the CPU inside a warm daemon's fetch windows).
 *
 * <p>What a round is: a {@link LocalRun} on the daemon's own broker and cluster ({@link LocalRun#inScratch}) of
 * {@link Plan#smallPerRound()} small files and one chunked large file from a loopback {@link WarmUpOrigin}, in a
 * scratch dir {@code <state-dir>/warm-up/round-N} with its own {@code run.json}, output, staging and checkpoints,
 * and its own topics and transactional ids. After each round (completed or not) its topics are deleted and its dir is
 * removed; after the last, {@code <state-dir>/warm-up} goes too (a killed daemon's leftover is removed by the next
 * daemon). Nothing of it is where a user's run looks: not the state dir's {@code run.json}, input or checkpoints,
 * not a user's topics, not {@code --out}.
 *
 * <p>Bounds: at most {@link Plan#rounds()} rounds and {@link Plan#budget()} of warm-up time in all (a round that
 * reaches it is aborted); its CPU is at most that time on the cluster's slots. It stops earlier when a round (from
 * the {@link #MIN_ROUNDS}th on) kept the JIT compiler threads below {@link #WARM_COMPILER_SHARE} of the daemon's CPU
 * ({@link CompilerCpu}); between rounds it waits (at most {@link #DRAIN_WAIT}) until the compilers are idle. A user's run never waits for it
 * beyond {@link #YIELD_WAIT}: the run's thread calls {@link #yieldTo()} when it takes its turn, which aborts the
 * round in progress (its job is cancelled) and waits for the round's job to end, then the run proceeds. The warm-up
 * resumes only once the daemon has been without a run for {@link #IDLE_BEFORE_RESUME}. {@link Plan#off()}: nothing
 * starts at all. When the warm-up ends and no run is being served, it gives the heap it grew back to the system
 * ({@link HeapTrim}, once).
 *
 * <p>Threads: one thread {@code flowget-daemon-warm-up} runs the rounds; {@link #yieldTo()}, {@link #runEnded()},
 * {@link #status()} and {@link #close()} are called from the daemon's client threads and are synchronized on this
 * object's monitor.
 */
public final class DaemonWarmUp implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(DaemonWarmUp.class);

    /** The scratch dir under the state dir. */
    public static final String DIR = "warm-up";
    /** The longest a user's run waits for a round in progress to end (its job's cancel) before it goes on anyway. */
    public static final Duration YIELD_WAIT = Duration.ofSeconds(10);
    /** How long the daemon must have been without a run before an interrupted warm-up goes on. */
    static final Duration IDLE_BEFORE_RESUME = Duration.ofSeconds(5);
    /**
     * A round whose compiler threads took less than this share of the daemon's CPU found the fetch path compiled: no
     * further round (after at least {@link #MIN_ROUNDS}). A warm daemon's measured runs show 20-25 %, a fresh one's
     * 35-45 % (issue 16).
     */
    static final double WARM_COMPILER_SHARE = 0.2;
    /** Rounds run before {@link #WARM_COMPILER_SHARE} may end the warm-up. */
    static final int MIN_ROUNDS = 2;
    /** Longest wait after a round for the compilers to finish what it queued (their CPU stops growing). */
    static final Duration DRAIN_WAIT = Duration.ofSeconds(10);

    /**
     * How much warming: at most {@code rounds} runs of {@code smallPerRound} 16 KiB files over {@code hosts} loopback
     * hosts plus one {@code largeBytes} file in chunks, within {@code budget} of warm-up time in all; fewer rounds when
     * one finds the path compiled ({@link #WARM_COMPILER_SHARE}).
     */
    public record Plan(Duration budget, int rounds, int smallPerRound, int largeBytes, int hosts) {
        /** The daemon's default: up to four rounds of 4,000 small files and a 32 MiB file, within {@code budget}. */
        public static Plan of(Duration budget) {
            return new Plan(budget, 4, 4000, 32 << 20, 8);
        }

        /** No warm-up. */
        public boolean off() {
            return budget.isZero() || budget.isNegative() || rounds <= 0;
        }
    }

    private final RunServices services;
    private final Plan plan;
    private final Path dir;
    private Thread thread;
    private LocalRun current;
    private boolean roundRunning;
    private boolean runActive;
    private boolean closed;
    private long lastRunEndNanos;
    private int roundsDone;
    private int roundsStarted;
    private int yields;
    private boolean warm;
    private long requestsDone;
    private long okDone;
    private Duration lastYield = Duration.ZERO;
    private volatile WarmUpOrigin origin;
    private long usedNanos;
    /** Set by the budget's watchdog before it aborts a round: that round's end is "out of time", not a failure. */
    private volatile boolean budgetSpent;
    private String ended;
    private HeapTrim.Result trimmed;

    private DaemonWarmUp(RunServices services, Plan plan) {
        this.services = services;
        this.plan = plan;
        this.dir = services.stateDir().resolve(DIR);
    }

    /**
     * Removes a leftover scratch dir (a killed daemon's) and, unless {@code plan} is off, starts the warm-up thread.
     */
    public static DaemonWarmUp start(RunServices services, Plan plan) {
        DaemonWarmUp w = new DaemonWarmUp(services, plan);
        deleteTree(w.dir);
        if (plan.off()) {
            w.ended = "off";
            return w;
        }
        w.lastRunEndNanos = System.nanoTime() - IDLE_BEFORE_RESUME.toNanos();
        w.thread = new Thread(w::warm, "flowget-daemon-warm-up");
        w.thread.setDaemon(true);
        w.thread.start();
        return w;
    }

    /** The scratch dir ({@code <state-dir>/warm-up}); absent when no round runs. */
    public Path dir() {
        return dir;
    }

    /** Rounds that ran to their end. */
    public synchronized int roundsDone() {
        return roundsDone;
    }

    /** Results of completed rounds that were OK (each one a file fetched, verified and published in the scratch dir). */
    public synchronized long okResults() {
        return okDone;
    }

    /** Responses the warm-up's origin has sent so far (0 before its first round). */
    public long originResponses() {
        WarmUpOrigin o = origin;
        return o == null ? 0 : o.requests();
    }

    /** Times a run arrived during a round, and the last such run's wait ({@link #yieldTo()}). */
    public synchronized int yields() {
        return yields;
    }

    /** How long the last run that arrived during a round waited for it ({@link #yieldTo()}). */
    public synchronized Duration lastYield() {
        return lastYield;
    }

    /** Whether the warm-up has ended (done, off, out of budget, or closed) and left nothing behind. */
    public synchronized boolean ended() {
        return ended != null;
    }

    /** Waits up to {@code timeout} for {@link #ended()}. */
    public synchronized boolean awaitEnd(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (ended == null) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return false;
            }
            TimeUnit.NANOSECONDS.timedWait(this, left);
        }
        return true;
    }

    /** One line for {@code flowget daemon status}. */
    public synchronized String status() {
        String done = roundsDone + " of " + plan.rounds() + " rounds, " + requestsDone + " requests, "
                + TimeUnit.NANOSECONDS.toMillis(usedNanos) / 1000.0 + " s";
        if (ended != null) {
            return ended.equals("off")
                    ? "warm-up off"
                    : "warm-up " + ended + " (" + done + (trimmed == null ? "" : "; " + trimmed.line()) + ")";
        }
        return (roundRunning ? "warm-up running (" : "warm-up waiting for an idle daemon (") + done + ")";
    }

    /**
     * A user's run takes its turn: the round in progress, if any, is aborted, and this waits for its job to end, at
     * most {@link #YIELD_WAIT}. No round starts until {@link #runEnded()}. Returns how long it waited.
     */
    public synchronized Duration yieldTo() {
        long t0 = System.nanoTime();
        runActive = true;
        if (!roundRunning) {
            return Duration.ZERO;
        }
        yields++;
        LocalRun r = current;
        if (r != null) {
            // cancels the round's job; on a separate thread, so this wait stays bounded whatever the cancel takes
            Thread abort = new Thread(r::abort, "flowget-daemon-warm-up-abort");
            abort.setDaemon(true);
            abort.start();
        }
        long deadline = t0 + YIELD_WAIT.toNanos();
        try {
            while (roundRunning) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    LOG.warn("The warm-up round did not end within {}; the run goes on beside it", YIELD_WAIT);
                    break;
                }
                TimeUnit.NANOSECONDS.timedWait(this, left);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        Duration waited = Duration.ofNanos(System.nanoTime() - t0);
        lastYield = waited;
        LOG.info("A run arrived: the warm-up yielded in {} ms", waited.toMillis());
        return waited;
    }

    /** The user's run has ended: the warm-up may go on after {@link #IDLE_BEFORE_RESUME}. */
    public synchronized void runEnded() {
        runActive = false;
        lastRunEndNanos = System.nanoTime();
        notifyAll();
    }

    private void warm() {
        String end = "done";
        Duration cpu0 = processCpu();
        try {
            while (true) {
                int round;
                LocalRun run;
                Path roundDir;
                synchronized (this) {
                    if (!awaitIdle()) {
                        end = "stopped";
                        return;
                    }
                    if (roundsDone >= plan.rounds() || warm) {
                        return;
                    }
                    if (usedNanos >= plan.budget().toNanos()) {
                        end = "out of time";
                        return;
                    }
                    round = ++roundsStarted;
                    roundDir = dir.resolve("round-" + round);
                    roundRunning = true;
                }
                long t0 = System.nanoTime();
                Optional<Duration> jit0 = CompilerCpu.used();
                Duration cpuRound0 = processCpu();
                try {
                    if (origin == null) {
                        origin = WarmUpOrigin.start(plan.hosts(), plan.largeBytes());
                    }
                    Duration left = plan.budget().minusNanos(usedNanos);
                    run = LocalRun.inScratch(request(roundDir, round, left), new PrintStream(OutputStream.nullOutputStream()),
                            services);
                    synchronized (this) {
                        current = run;
                        if (runActive || closed) {
                            run.abort(); // arrived while this round was being set up: it never starts its job
                        }
                    }
                    Watchdog watchdog = Watchdog.start(run, left, () -> budgetSpent = true);
                    try {
                        RunSummary s = run.execute();
                        Optional<Duration> jit1 = CompilerCpu.used();
                        Duration cpu = processCpu().minus(cpuRound0);
                        double share = jit0.isPresent() && jit1.isPresent() && cpu.toMillis() > 0
                                ? (double) jit1.get().minus(jit0.get()).toMillis() / cpu.toMillis() : 1.0;
                        synchronized (this) {
                            roundsDone++;
                            requestsDone += s.requests();
                            okDone += s.ok();
                            warm = roundsDone >= MIN_ROUNDS && share < WARM_COMPILER_SHARE;
                        }
                        LOG.info("Warm-up round {} done: {} in {} ms; compilers {} % of the daemon's {} s of CPU", round,
                                s.line(), TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0),
                                Math.round(share * 100), cpu.toMillis() / 1000.0);
                    } finally {
                        watchdog.cancel();
                    }
                } catch (Exception e) {
                    synchronized (this) {
                        if (runActive || closed) {
                            LOG.info("Warm-up round {} gave way to a run", round);
                        } else if (budgetSpent) {
                            // the watchdog aborted it: the warm-up used its time, nothing went wrong
                            LOG.info("Warm-up round {} ended at the warm-up's time budget", round);
                            end = "out of time";
                        } else {
                            LOG.warn("Warm-up round {} failed: {}", round, e.toString());
                            end = "failed";
                        }
                    }
                    if (!"done".equals(end)) {
                        return;
                    }
                } finally {
                    synchronized (this) {
                        usedNanos += System.nanoTime() - t0;
                        current = null;
                        roundRunning = false;
                        notifyAll();
                    }
                    tidy(roundDir);
                }
                awaitCompilers();
            }
        } catch (RuntimeException | Error e) {
            LOG.warn("Warm-up ended: {}", e.toString());
            end = "failed";
        } finally {
            WarmUpOrigin o = origin;
            if (o != null) {
                long t0 = System.nanoTime();
                try {
                    o.close();
                } catch (Exception e) {
                    LOG.debug("Closing the warm-up origin", e);
                }
                LOG.info("Warm-up origin closed in {} ms", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
            }
            deleteTree(dir);
            trimHeapIfIdle();
            synchronized (this) {
                ended = end;
                notifyAll();
            }
            LOG.info("Warm-up {}: {}; the daemon's CPU meanwhile {} s (runs served in between included)", end,
                    status(), processCpu().minus(cpu0).toMillis() / 1000.0);
        }
    }

    /**
     * The warm-up grew the heap (40-160 MiB more committed) and G1 keeps it: give it back once, now, unless a run is
     * being served or the daemon is closing ({@link HeapTrim}: one full collection).
     */
    private void trimHeapIfIdle() {
        synchronized (this) {
            if (runActive || closed) {
                return;
            }
        }
        HeapTrim.Result r = HeapTrim.trim();
        synchronized (this) {
            trimmed = r;
        }
        LOG.info("Warm-up ended on an idle daemon: {}", r.line());
    }

    /** What the heap trim at the warm-up's end did, if it ran. */
    synchronized Optional<HeapTrim.Result> trimmed() {
        return Optional.ofNullable(trimmed);
    }

    private static Duration processCpu() {
        return ProcessHandle.current().info().totalCpuDuration().orElse(Duration.ZERO);
    }

    /**
     * Waits until the compiler threads are idle (their CPU grew by less than 20 ms in 500 ms), at most
     * {@link #DRAIN_WAIT}: what a round queued is compiled before the next starts, and a method that reaches its
     * threshold then meets a short queue (HotSpot raises the thresholds with the queue's length).
     */
    private void awaitCompilers() {
        long deadline = System.nanoTime() + DRAIN_WAIT.toNanos();
        Optional<Duration> before = CompilerCpu.used();
        try {
            while (before.isPresent() && System.nanoTime() < deadline) {
                synchronized (this) {
                    if (runActive || closed) {
                        return;
                    }
                    wait(500);
                }
                Optional<Duration> now = CompilerCpu.used();
                if (now.isEmpty() || now.get().minus(before.get()).toMillis() < 20) {
                    return;
                }
                before = now;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Waits (holding the monitor's wait) until no run is active and the last one ended long enough ago. */
    private boolean awaitIdle() {
        try {
            while (!closed) {
                long idleFor = System.nanoTime() - lastRunEndNanos;
                if (!runActive && idleFor >= IDLE_BEFORE_RESUME.toNanos()) {
                    return true;
                }
                long wait = runActive ? TimeUnit.SECONDS.toNanos(1) : IDLE_BEFORE_RESUME.toNanos() - idleFor;
                TimeUnit.NANOSECONDS.timedWait(this, Math.max(1, wait));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return false;
    }

    /**
     * A round's job settings: the daemon's, and in every second round ({@code round} even, counted from 1) a
     * per-host concurrency of the connection pool's per-route limit ({@code flowget.http.pool.max-per-route}), so
     * leases queue in the pool as they do for a list with many files per host at a high
     * {@code flowget.host.max-concurrency}. Rounds of only the default concurrency left C2 code compiled without
     * the pool's pending-lease path, which the first such run deoptimized (issue 16).
     */
    static Configuration roundSettings(Configuration daemon, int round) {
        Configuration c = new Configuration(daemon);
        if (round % 2 == 0) {
            c.set(FlowgetOptions.HOST_MAX_CONCURRENCY, c.get(FlowgetOptions.HTTP_POOL_MAX_PER_ROUTE));
        }
        return c;
    }

    private LocalRun.Request request(Path roundDir, int round, Duration timeout) throws IOException {
        WarmUpOrigin o = origin;
        Files.createDirectories(roundDir.resolve("state"));
        List<String> urls = new ArrayList<>(plan.smallPerRound() + 1);
        urls.add(o.largeUrl()); // first: its chunks run beside the small files
        for (int i = 0; i < plan.smallPerRound(); i++) {
            urls.add(o.smallUrl(i));
        }
        Path list = Files.write(roundDir.resolve("urls.txt"), urls);
        Configuration settings = roundSettings(services.settings(), round);
        return new LocalRun.Request(list, null, roundDir.resolve("out"), roundDir.resolve("results.jsonl"),
                roundDir.resolve("state"), services.parallelism(), null, settings, true, false, timeout);
    }

    /** Deletes a round's topics (an aborted round leaves them) and its dir. */
    private void tidy(Path roundDir) {
        long t0 = System.nanoTime();
        long topicsNanos = 0;
        try {
            List<String> topics = LocalRun.kafkaTopics(roundDir.resolve("state"));
            if (!topics.isEmpty() && services.embeddedBroker()) {
                try (Admin admin = KafkaClients.admin(services.servers())) {
                    Set<String> existing = admin.listTopics().names().get(30, TimeUnit.SECONDS);
                    List<String> gone = topics.stream().filter(existing::contains).toList();
                    if (!gone.isEmpty()) {
                        admin.deleteTopics(gone).all().get(30, TimeUnit.SECONDS);
                    }
                }
            }
            topicsNanos = System.nanoTime() - t0;
        } catch (Exception e) {
            LOG.warn("Could not delete a warm-up round's topics: {}", e.toString());
        }
        deleteTree(roundDir);
        LOG.info("Warm-up round tidied in {} ms (topics {} ms)", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0),
                TimeUnit.NANOSECONDS.toMillis(topicsNanos));
    }

    /**
     * Ends the warm-up: the round in progress is aborted and its end awaited (bounded by {@link #YIELD_WAIT} and the
     * thread's tidying), its topics and the scratch dir deleted. Idempotent.
     */
    @Override
    public void close() throws InterruptedException {
        Thread t;
        synchronized (this) {
            closed = true;
            t = thread;
            notifyAll();
        }
        if (t == null) {
            return;
        }
        yieldTo();
        t.join(TimeUnit.MINUTES.toMillis(1));
    }

    /** Aborts a round that reaches the warm-up's time budget. */
    private static final class Watchdog {
        private final Thread thread;

        private Watchdog(Thread thread) {
            this.thread = thread;
        }

        /** Aborts {@code run} once {@code left} has passed, after telling {@code spent}, unless cancelled first. */
        static Watchdog start(LocalRun run, Duration left, Runnable spent) {
            Thread t = new Thread(() -> {
                try {
                    Thread.sleep(Math.max(1, left.toMillis()));
                    LOG.info("The warm-up reached its time budget: aborting its round");
                    spent.run();
                    run.abort();
                } catch (InterruptedException cancelled) {
                    // the round ended first
                }
            }, "flowget-daemon-warm-up-budget");
            t.setDaemon(true);
            t.start();
            return new Watchdog(t);
        }

        void cancel() {
            thread.interrupt();
        }
    }

    private static void deleteTree(Path root) {
        try {
            FileTrees.delete(root);
        } catch (IOException e) {
            LOG.warn("Could not delete the warm-up's scratch dir {}: {}", root, e.toString());
        }
    }
}
