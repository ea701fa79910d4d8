package io.flowget.job.daemon;

import io.flowget.job.cli.ExitCodes;
import io.flowget.job.cli.FlowgetCli;
import io.flowget.job.cli.Invocation;
import io.flowget.job.run.LocalRun;
import io.flowget.job.run.MemoryReport;
import io.flowget.job.run.RunServices;
import io.flowget.job.run.StateDirLock;
import io.flowget.udf.http.HttpClientHolder;

import org.apache.flink.configuration.Configuration;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;

/**
 * {@code flowget daemon}: a long-lived local service for one state dir that {@code flowget run} attaches to. It holds
 * the state dir's lock, the embedded broker and one MiniCluster ({@link RunServices}) across runs, and serves each
 * run a client sends over its Unix-domain socket ({@link DaemonProtocol}, {@link DaemonFiles}) exactly as the cold
 * command would run it, with the client's arguments, working directory, stdin and terminal flag: its own job, its own
 * {@code RunState} (resume or afresh) and Kafka names. What a warm daemon saves per run: the JVM, broker and
 * MiniCluster start-up, the JIT's compilation of the run's code (compiled once, kept), the HTTP client with its idle
 * connections (kept for the next run: {@code LocalRun.keepHttpClient}, closed by {@link #close()}), and the shutdown
 * after the last result (the client gets its exit status as soon as every result is committed, the files are
 * published and {@code --results} is rewritten; the job is cancelled after that, before the next run).
 *
 * <p>Runs are served one after the other; a second client is told that it waits, and is served when the first run
 * ends, if that comes within its {@code --wait-for-daemon} (default 1 min); else it gets the refusal of a state dir in
 * use (64), as a cold run would. A client that goes away (Ctrl-C, killed) aborts its run: the job is cancelled with
 * its checkpoints retained, so the state dir holds a resumable run, as after a killed cold run. The daemon ends on
 * {@code stop} (after the current run, if that ends within the stop's {@code --wait-for-run}, default 10 min; else
 * the stop is withdrawn and its client exits 75), after {@code idleTimeout} without a client, or when killed; a killed daemon's socket refuses
 * connections, so the next run runs cold (and resumes what the daemon left).
 *
 * <p>Threads: the caller of {@link #serve()} accepts connections; each connection has its own thread
 * ({@code flowget-daemon-client-N}) and a reader that notices the client leaving; runs take turns on a fair lock;
 * {@code flowget-daemon-idle} ends an idle daemon.
 */
public final class Daemon implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Daemon.class);

    /** The {@code flowget daemon stop} option that bounds its wait for the current run ({@link #stopWait}). */
    public static final String WAIT_FOR_RUN = "--wait-for-run";
    /** Its default: a run through the daemon usually ends sooner; one that does not is not cut short by a stop. */
    public static final String DEFAULT_WAIT_FOR_RUN = "PT10M";

    private final RunServices services;
    private final Path socket;
    private final ServerSocketChannel server;
    private final Duration idleTimeout;
    private DaemonWarmUp warmUp;
    private final long startedMillis = System.currentTimeMillis();
    private final ReentrantLock turn = new ReentrantLock(true);
    /** How often a client waiting for its turn checks whether it left or the daemon stops. */
    private static final long TURN_POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(200);
    private final AtomicInteger connections = new AtomicInteger();
    private final AtomicInteger served = new AtomicInteger();
    private final AtomicInteger waiting = new AtomicInteger();
    private final CountDownLatch stopped = new CountDownLatch(1);
    private volatile long lastActiveNanos = System.nanoTime();
    private volatile boolean stopping;
    private boolean closed;

    private Daemon(RunServices services, Path socket, ServerSocketChannel server, Duration idleTimeout) {
        this.services = services;
        this.socket = socket;
        this.server = server;
        this.idleTimeout = idleTimeout;
    }

    /**
     * Takes the state dir, starts the broker and the MiniCluster, listens on the socket and writes the pointer file.
     *
     * @param settings the cluster's settings (keys a run sets per job are not applied to runs; see
     *     {@link RunServices#jobLevel})
     * @throws StateDirLock.InUse when another run or daemon holds the state dir
     */
    public static Daemon start(Path stateDir, Configuration settings, int parallelism, Duration idleTimeout)
            throws Exception {
        return start(stateDir, settings, parallelism, idleTimeout, DaemonWarmUp.Plan.of(Duration.ZERO));
    }

    /**
     * As {@link #start(Path, Configuration, int, Duration)}, and warms the fetch path up in the background by
     * {@code warmUp} ({@link DaemonWarmUp}; {@link DaemonWarmUp.Plan#off()}: not at all).
     */
    public static Daemon start(
            Path stateDir, Configuration settings, int parallelism, Duration idleTimeout, DaemonWarmUp.Plan warmUp)
            throws Exception {
        Path dir = stateDir.toAbsolutePath().normalize();
        StateDirLock lock = StateDirLock.acquire(dir, StateDirLock.Kind.DAEMON);
        RunServices services;
        try {
            services = RunServices.startWarm(dir, settings, parallelism, lock);
        } catch (Exception | Error e) {
            lock.close();
            throw e;
        }
        try {
            Path socket = DaemonFiles.socketPath(dir);
            DaemonFiles.createSocketDir(socket);
            Files.deleteIfExists(socket); // we hold the state dir: whatever was there is a dead daemon's
            ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            server.bind(UnixDomainSocketAddress.of(socket));
            DaemonFiles.write(dir, new DaemonFiles.Pointer(ProcessHandle.current().pid(), socket, parallelism));
            LOG.info("flowget daemon serving {} on {} (parallelism {}, idle timeout {})", dir, socket, parallelism,
                    idleTimeout);
            Daemon d = new Daemon(services, socket, server, idleTimeout);
            d.warmUp = DaemonWarmUp.start(services, warmUp);
            return d;
        } catch (Exception | Error e) {
            services.close();
            throw e;
        }
    }

    /** The socket clients connect to. */
    public Path socket() {
        return socket;
    }

    /** The services runs use (tests count their starts). */
    public RunServices services() {
        return services;
    }

    /** The background warm-up (tests). */
    public DaemonWarmUp warmUp() {
        return warmUp;
    }

    /** Clients waiting for their turn now (tests). */
    public int clientsWaiting() {
        return waiting.get();
    }

    /** Runs served so far (finished or not). */
    public int runsServed() {
        return served.get();
    }

    /** Accepts clients until {@link #stop()}, a {@code stop} request or the idle timeout; then returns. */
    public void serve() {
        Thread idle = new Thread(this::watchIdle, "flowget-daemon-idle");
        idle.setDaemon(true);
        idle.start();
        try {
            while (!stopping) {
                SocketChannel ch;
                try {
                    ch = server.accept();
                } catch (ClosedChannelException stoppedAccepting) {
                    break;
                } catch (IOException e) {
                    if (stopping) {
                        break;
                    }
                    LOG.warn("accept failed: {}", e.toString());
                    continue;
                }
                lastActiveNanos = System.nanoTime();
                Thread t = new Thread(() -> handle(ch), "flowget-daemon-client-" + connections.incrementAndGet());
                t.setDaemon(true);
                t.start();
            }
        } finally {
            stopped.countDown();
        }
    }

    /** Stops accepting; {@link #serve()} returns. The current run, if any, goes on until {@link #close()}. */
    public void stop() {
        stopping = true;
        try {
            server.close();
        } catch (IOException e) {
            LOG.debug("closing the socket", e);
        }
    }

    private void watchIdle() {
        while (!stopping) {
            try {
                if (stopped.await(1, TimeUnit.SECONDS)) {
                    return;
                }
            } catch (InterruptedException e) {
                return;
            }
            if (!turn.isLocked() && System.nanoTime() - lastActiveNanos > idleTimeout.toNanos()) {
                LOG.info("No client for {}: stopping", idleTimeout);
                stop();
            }
        }
    }

    /** One connection: read the request, serve it, send the exit status (unless the run replied early). */
    private void handle(SocketChannel ch) {
        try (ch) {
            DataInputStream in = new DataInputStream(new BufferedInputStream(DaemonProtocol.inputStream(ch)));
            DataOutputStream out = new DataOutputStream(new BufferedOutputStream(DaemonProtocol.outputStream(ch)));
            long accepted = System.nanoTime();
            Request req = readRequest(in);
            LOG.debug("Request {} read in {} ms", req.kind, (System.nanoTime() - accepted) / 1_000_000);
            try {
                switch (req.kind) {
                    case "status" -> {
                        synchronized (out) {
                            DaemonProtocol.write(out, DaemonProtocol.OUT, status() + "\n");
                            DaemonProtocol.writeExit(out, ExitCodes.OK);
                        }
                    }
                    case "stop" -> serveStop(req, in, out);
                    case "run" -> serveRun(req, in, out);
                    default -> {
                        synchronized (out) {
                            DaemonProtocol.write(out, DaemonProtocol.ERR, "flowget: unknown request " + req.kind + "\n");
                            DaemonProtocol.writeExit(out, ExitCodes.USAGE);
                        }
                    }
                }
            } finally {
                if (req.stdin != null) {
                    Files.deleteIfExists(req.stdin);
                }
            }
        } catch (IOException e) {
            LOG.info("Client connection ended: {}", e.toString());
        } finally {
            lastActiveNanos = System.nanoTime();
        }
    }

    /**
     * A {@code stop}: after the current run, if that ends within the client's {@code --wait-for-run}; else the stop is
     * withdrawn (the daemon goes on serving) and the client gets {@link ExitCodes#DAEMON_BUSY}. A client that leaves
     * while it waits withdraws it as well.
     */
    private void serveStop(Request req, DataInputStream in, DataOutputStream out) throws IOException {
        Duration bound = stopWait(req.args);
        boolean turnTaken = turn.tryLock();
        if (!turnTaken) {
            ClientWatch watch = new ClientWatch(in);
            synchronized (out) {
                DaemonProtocol.write(out, DaemonProtocol.ERR, "flowget: the daemon (pid "
                        + ProcessHandle.current().pid() + ") is serving a run in " + services.stateDir()
                        + "; it stops when that run ends, if within " + bound + " (" + WAIT_FOR_RUN + ")\n");
            }
            turnTaken = awaitTurn(bound, watch);
            if (!turnTaken && !stopping) {
                if (watch.gone) {
                    LOG.info("The client of a stop left while it waited for the current run; not stopping");
                    return;
                }
                LOG.info("A stop waited {} for the current run; withdrawn, serving on", bound);
                synchronized (out) {
                    DaemonProtocol.write(out, DaemonProtocol.ERR, "flowget: the daemon (pid "
                            + ProcessHandle.current().pid() + ") is still serving a run in " + services.stateDir()
                            + " after " + bound + "; it was not stopped: let the run end (or give a longer "
                            + WAIT_FOR_RUN + ") and stop it again\n");
                    DaemonProtocol.writeExit(out, ExitCodes.DAEMON_BUSY);
                }
                return;
            }
        }
        try {
            synchronized (out) {
                DaemonProtocol.write(out, DaemonProtocol.OUT, "flowget daemon: stopping (pid "
                        + ProcessHandle.current().pid() + ")\n");
                DaemonProtocol.writeExit(out, ExitCodes.OK);
            }
            stop();
        } finally {
            if (turnTaken) {
                turn.unlock();
            }
        }
    }

    /** The {@code --wait-for-run} of a stop request's arguments, else the default; never negative. */
    static Duration stopWait(List<String> args) {
        int i = args.indexOf(WAIT_FOR_RUN);
        if (i >= 0 && i + 1 < args.size()) {
            try {
                Duration d = Duration.parse(args.get(i + 1));
                return d.isNegative() ? Duration.ZERO : d;
            } catch (java.time.format.DateTimeParseException unparsable) {
                LOG.warn("A stop with an unreadable {} {}: the default {}", WAIT_FOR_RUN, args.get(i + 1),
                        DEFAULT_WAIT_FOR_RUN);
            }
        }
        return Duration.parse(DEFAULT_WAIT_FOR_RUN);
    }

    private void serveRun(Request req, DataInputStream in, DataOutputStream out) throws IOException {
        ClientWatch watch = new ClientWatch(in);
        if (!turn.tryLock()) {
            Duration bound = FlowgetCli.daemonWait(req.args);
            synchronized (out) {
                DaemonProtocol.write(out, DaemonProtocol.ERR, "flowget: the daemon (pid "
                        + ProcessHandle.current().pid() + ") is serving another run in " + services.stateDir()
                        + "; this one waits up to " + bound + " for it to end (--wait-for-daemon)\n");
            }
            boolean turnTaken;
            waiting.incrementAndGet();
            try {
                turnTaken = awaitTurn(bound, watch);
            } finally {
                waiting.decrementAndGet();
            }
            if (!turnTaken) {
                if (watch.gone || stopping) {
                    LOG.info("Client left (or the daemon stops) while waiting for its turn; not started");
                    return;
                }
                LOG.info("A run waited {} for the current one and was refused", bound);
                synchronized (out) {
                    DaemonProtocol.write(out, DaemonProtocol.ERR, "flowget: " + StateDirLock.busyDaemonMessage(
                            services.stateDir(), ProcessHandle.current().pid(), bound) + "\n");
                    DaemonProtocol.writeExit(out, ExitCodes.USAGE);
                }
                return;
            }
        }
        try {
            if (watch.gone || stopping) {
                LOG.info("Client left (or the daemon stops) before its run started; not started");
                return;
            }
            served.incrementAndGet();
            warmUp.yieldTo(); // a warm-up round in progress gives way (bounded: DaemonWarmUp.YIELD_WAIT)
            LOG.debug("Run {} starts", served.get());
            PrintStream o = new PrintStream(DaemonProtocol.framing(out, DaemonProtocol.OUT), true, StandardCharsets.UTF_8);
            PrintStream e = new PrintStream(DaemonProtocol.framing(out, DaemonProtocol.ERR), true, StandardCharsets.UTF_8);
            boolean[] replied = {false};
            Invocation.DaemonSide side = new Invocation.DaemonSide() {
                @Override
                public RunServices services() {
                    return services;
                }

                @Override
                public long pid() {
                    return ProcessHandle.current().pid();
                }

                @Override
                public void started(LocalRun run) {
                    watch.run = run;
                    if (watch.gone) {
                        run.abort();
                    }
                }

                @Override
                public void reply(int status) {
                    o.flush();
                    e.flush();
                    watch.replied = true;
                    replied[0] = true;
                    try {
                        synchronized (out) {
                            DaemonProtocol.writeExit(out, status);
                        }
                    } catch (IOException gone) {
                        LOG.info("Client left before its exit status: {}", gone.toString());
                    }
                }
            };
            InputStream stdin = req.stdin == null ? InputStream.nullInputStream() : Files.newInputStream(req.stdin);
            int code;
            try (stdin) {
                code = FlowgetCli.execute(new Invocation(req.args, req.cwd, req.home, stdin, o, e, req.interactive,
                        false, side));
            }
            o.flush();
            e.flush();
            if (!replied[0]) {
                watch.replied = true;
                synchronized (out) {
                    DaemonProtocol.writeExit(out, code);
                }
            }
        } finally {
            warmUp.runEnded();
            turn.unlock();
        }
    }

    /**
     * Waits at most {@code bound} for the turn (fair: clients are served in the order they came); gives up early when
     * the client leaves or the daemon stops. True when the turn is taken.
     */
    private boolean awaitTurn(Duration bound, ClientWatch watch) {
        long deadline = System.nanoTime() + bound.toNanos();
        try {
            while (!watch.gone && !stopping) {
                long left = deadline - System.nanoTime();
                if (turn.tryLock(Math.max(0, Math.min(left, TURN_POLL_NANOS)), TimeUnit.NANOSECONDS)) {
                    if (watch.gone || stopping) {
                        turn.unlock();
                        return false;
                    }
                    return true;
                }
                if (left <= 0) {
                    return false;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return false;
    }

    /** Reads from the client after its request: the end of the stream means it left, and its run is aborted. */
    private static final class ClientWatch {
        volatile boolean gone;
        volatile boolean replied;
        volatile LocalRun run;

        ClientWatch(DataInputStream in) {
            Thread t = new Thread(() -> {
                try {
                    while (in.read() >= 0) {
                        // the client sends nothing after GO
                    }
                } catch (IOException closed) {
                    // gone as well
                }
                gone = true;
                LocalRun r = run;
                if (!replied && r != null) {
                    LOG.info("Client left during its run: aborting it (resumable)");
                    r.abort();
                }
            }, "flowget-daemon-watch");
            t.setDaemon(true);
            t.start();
        }
    }

    private String status() {
        long up = (System.currentTimeMillis() - startedMillis) / 1000;
        return "flowget daemon: pid " + ProcessHandle.current().pid() + ", state dir " + services.stateDir()
                + ", parallelism " + services.parallelism() + ", up " + up + " s, runs served " + served.get()
                + (turn.isLocked() ? ", running" : ", idle") + ", idle timeout " + idleTimeout + ", " + warmUp.status()
                + ", " + memory() + ", socket " + socket;
    }

    /** {@code RSS N MiB (peak N), heap N MiB committed}: what the daemon holds now. */
    private static String memory() {
        Map<String, Long> proc = MemoryReport.procStatus();
        long committed = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getCommitted();
        return "RSS " + proc.getOrDefault("VmRSS", 0L) / 1024 + " MiB (peak " + proc.getOrDefault("VmHWM", 0L) / 1024
                + "), heap " + (committed >> 20) + " MiB committed";
    }

    private static final class Request {
        String kind = "";
        Path cwd = Path.of("/");
        String home;
        boolean interactive;
        final List<String> args = new ArrayList<>();
        Path stdin;
    }

    private Request readRequest(DataInputStream in) throws IOException {
        Request r = new Request();
        OutputStream stdin = null;
        try {
            while (true) {
                DaemonProtocol.Frame f = DaemonProtocol.read(in);
                switch (f.type()) {
                    case DaemonProtocol.KIND -> r.kind = f.text();
                    case DaemonProtocol.CWD -> r.cwd = Path.of(f.text());
                    case DaemonProtocol.HOME -> r.home = f.text().isEmpty() ? null : f.text();
                    case DaemonProtocol.INTERACTIVE -> r.interactive = f.text().equals("1");
                    case DaemonProtocol.ARG -> r.args.add(f.text());
                    case DaemonProtocol.STDIN -> {
                        if (stdin == null) {
                            r.stdin = Files.createTempFile(services.stateDir(), "stdin-", ".tmp");
                            stdin = Files.newOutputStream(r.stdin);
                        }
                        stdin.write(f.payload());
                    }
                    case DaemonProtocol.GO -> {
                        if (r.stdin == null && r.args.contains("-")) {
                            r.stdin = Files.createTempFile(services.stateDir(), "stdin-", ".tmp"); // empty stdin
                        }
                        return r;
                    }
                    default -> throw new IOException("unexpected frame type " + (char) f.type());
                }
            }
        } catch (EOFException e) {
            throw new IOException("client left before its request was complete", e);
        } finally {
            if (stdin != null) {
                stdin.close();
            }
        }
    }

    /**
     * Stops accepting, waits for the current run (bounded), stops the cluster and the broker, deletes the socket and
     * the pointer, releases the state dir. Idempotent.
     */
    @Override
    public synchronized void close() throws Exception {
        if (closed) {
            return;
        }
        closed = true;
        stop();
        boolean turnTaken = false;
        try {
            turnTaken = turn.tryLock(2, TimeUnit.MINUTES);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            try {
                warmUp.close();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            Files.deleteIfExists(services.stateDir().resolve(DaemonFiles.POINTER));
            Files.deleteIfExists(socket);
            services.close(true);
            HttpClientHolder.closeIdle(); // the runs' kept HTTP client(s) and their idle connections
            LOG.info("flowget daemon stopped after {} runs", served.get());
        } finally {
            if (turnTaken) {
                turn.unlock();
            }
        }
    }
}
