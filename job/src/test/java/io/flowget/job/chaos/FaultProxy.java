package io.flowget.job.chaos;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import java.util.function.UnaryOperator;

/**
 * A fault-injecting TCP proxy on loopback, put between the fetcher and an origin: the fetcher's URLs name the
 * proxy's address, the proxy forwards every connection to the origin and injects the faults in force. It is the
 * local stand-in for Chaos Mesh's NetworkChaos on the TaskManagers' egress ({@code chaos/k8s/}).
 *
 * <p><b>Faults</b> ({@link Faults}, swapped atomically at any time with {@link #faults(Faults)} or
 * {@link #update(UnaryOperator)}; a change applies to every byte forwarded after it, on old and new connections):
 *
 * <ul>
 *   <li><b>latency ± jitter</b>: every segment read (at most {@value #SEGMENT} bytes) is delivered after latency
 *       plus a uniform jitter in [-jitter, +jitter], in each direction (so a round trip gains twice the latency).
 *       Delivery times never go backwards, so the byte stream keeps its order, as TCP would.
 *   <li><b>loss</b>: with probability {@code lossProbability} a segment is held for an extra
 *       {@code lossPenalty} (default 200 ms, Linux's minimum retransmission timeout), delaying everything behind
 *       it: what a lost packet costs a TCP stream. Counted as a loss stall.
 *   <li><b>resets</b>: with probability {@code resetProbability} per forwarded segment (either direction), the
 *       segment is cut at a random point and the client's connection is reset (RST: SO_LINGER 0, then close);
 *       with {@code resetAfterBytes} = N, every connection is reset once it has carried N bytes toward the
 *       client. Either way the origin's side is closed too.
 *   <li><b>bandwidth cap</b>: {@code bytesPerSecond} per direction for the whole proxy (all connections share
 *       it, like one link); 0 is unlimited.
 *   <li><b>blackhole</b>: while on, connections accepted are never answered (their bytes are read and dropped,
 *       the origin never sees them), and existing connections stall: nothing is delivered either way until the
 *       blackhole is lifted, then they resume, as TCP does when a path heals before the peer gives up.
 * </ul>
 *
 * <p><b>Bounded</b>: at most {@code maxConnections} connections at once (more are reset on accept and counted as
 * refused), four threads per connection (a reader and a writer per direction), and at most
 * {@value #QUEUE_SEGMENTS} segments buffered per direction; a full buffer stops reading, so a slow or stalled
 * side pushes back on the other through TCP flow control.
 *
 * <p><b>Accounting</b> ({@link #stats()}): connections, faults injected by kind, bytes each way. Bytes from the
 * origin count what the origin sent that the proxy read, HTTP headers included; with a reset, the rest of the
 * answer is not read.
 *
 * <p>Thread-safe. {@link #close()} stops accepting, closes every connection (FIN, not RST) and waits for the
 * proxy's threads to end.
 */
public final class FaultProxy implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(FaultProxy.class);

    /** Largest unit read and forwarded at once (and the unit of per-segment faults). */
    static final int SEGMENT = 16 * 1024;
    /** Segments buffered per direction of a connection: at most 512 KiB. */
    static final int QUEUE_SEGMENTS = 32;
    /** Bytes written between bandwidth-cap checks, so that connections share the cap fairly. */
    private static final int PACE_UNIT = 4 * 1024;
    /** Blackhole and timing waits re-check the connection's state at least this often. */
    private static final long POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(10);
    private static final int CONNECT_TIMEOUT_MILLIS = 5_000;
    private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(10);

    /**
     * The faults in force. Immutable; build from {@link #none()} with the {@code with*} methods.
     *
     * @param latency one-way delay added to every segment, each direction
     * @param jitter uniform spread around the latency, at most the latency
     * @param lossProbability chance per segment of a loss stall
     * @param lossPenalty extra delay of a loss stall
     * @param resetProbability chance per segment of a connection reset
     * @param resetAfterBytes reset every connection after this many bytes toward the client; 0 = never
     * @param bytesPerSecond bandwidth cap per direction for the whole proxy; 0 = unlimited
     * @param blackhole no delivery at all while true (see the class comment)
     */
    public record Faults(
            Duration latency,
            Duration jitter,
            double lossProbability,
            Duration lossPenalty,
            double resetProbability,
            long resetAfterBytes,
            long bytesPerSecond,
            boolean blackhole) {

        public Faults {
            if (latency.isNegative() || jitter.isNegative() || jitter.compareTo(latency) > 0) {
                throw new IllegalArgumentException("need 0 <= jitter <= latency, got " + latency + " ± " + jitter);
            }
            if (!(lossProbability >= 0 && lossProbability <= 1) || !(resetProbability >= 0 && resetProbability <= 1)) {
                throw new IllegalArgumentException("probabilities must lie in [0, 1]");
            }
            if (lossPenalty.isNegative() || resetAfterBytes < 0 || bytesPerSecond < 0) {
                throw new IllegalArgumentException("negative loss penalty, reset threshold or bandwidth");
            }
        }

        /** A transparent proxy. */
        public static Faults none() {
            return new Faults(Duration.ZERO, Duration.ZERO, 0, Duration.ofMillis(200), 0, 0, 0, false);
        }

        public Faults withLatency(Duration latency, Duration jitter) {
            return new Faults(latency, jitter, lossProbability, lossPenalty, resetProbability, resetAfterBytes,
                    bytesPerSecond, blackhole);
        }

        public Faults withLoss(double probability) {
            return new Faults(latency, jitter, probability, lossPenalty, resetProbability, resetAfterBytes,
                    bytesPerSecond, blackhole);
        }

        public Faults withResets(double probability) {
            return new Faults(latency, jitter, lossProbability, lossPenalty, probability, resetAfterBytes,
                    bytesPerSecond, blackhole);
        }

        public Faults withResetAfterBytes(long bytes) {
            return new Faults(latency, jitter, lossProbability, lossPenalty, resetProbability, bytes,
                    bytesPerSecond, blackhole);
        }

        public Faults withBandwidth(long bytesPerSecond) {
            return new Faults(latency, jitter, lossProbability, lossPenalty, resetProbability, resetAfterBytes,
                    bytesPerSecond, blackhole);
        }

        public Faults withBlackhole(boolean on) {
            return new Faults(latency, jitter, lossProbability, lossPenalty, resetProbability, resetAfterBytes,
                    bytesPerSecond, on);
        }

        /** Latency plus jitter for one segment, in nanoseconds. */
        long delayNanos(ThreadLocalRandom random) {
            long base = latency.toNanos();
            long spread = jitter.toNanos();
            return spread == 0 ? base : base - spread + random.nextLong(2 * spread + 1);
        }
    }

    /**
     * Counters since start.
     *
     * @param connections connections accepted (blackholed and refused ones included)
     * @param resets connections reset by a fault (probability or byte threshold)
     * @param lossStalls segments held back by a loss stall
     * @param blackholed connections accepted during a blackhole and never answered
     * @param refused connections reset at once because {@code maxConnections} were open
     * @param bytesToOrigin bytes forwarded to the origin
     * @param bytesFromOrigin bytes read from the origin (headers included)
     */
    public record Stats(
            long connections,
            long resets,
            long lossStalls,
            long blackholed,
            long refused,
            long bytesToOrigin,
            long bytesFromOrigin) {
        /** Faults injected: resets, loss stalls and blackholed connections. */
        public long faults() {
            return resets + lossStalls + blackholed;
        }

        /** Counter-wise sum, for totals over several proxies. */
        public Stats plus(Stats o) {
            return new Stats(connections + o.connections, resets + o.resets, lossStalls + o.lossStalls,
                    blackholed + o.blackholed, refused + o.refused, bytesToOrigin + o.bytesToOrigin,
                    bytesFromOrigin + o.bytesFromOrigin);
        }

        public static Stats zero() {
            return new Stats(0, 0, 0, 0, 0, 0, 0);
        }
    }

    private final ServerSocket server;
    private final InetSocketAddress target;
    private final int maxConnections;
    private final ExecutorService threads;
    private final Thread acceptor;
    private final Set<Link> links = ConcurrentHashMap.newKeySet();
    private final AtomicBoolean closed = new AtomicBoolean();
    private final TokenBucket towardClient = new TokenBucket();
    private final TokenBucket towardOrigin = new TokenBucket();
    private volatile Faults faults = Faults.none();

    private final LongAdder connections = new LongAdder();
    private final LongAdder resets = new LongAdder();
    private final LongAdder lossStalls = new LongAdder();
    private final LongAdder blackholed = new LongAdder();
    private final LongAdder refused = new LongAdder();
    private final LongAdder bytesToOrigin = new LongAdder();
    private final LongAdder bytesFromOrigin = new LongAdder();
    /** See {@link #mark()}. */
    private volatile long markNanos = Long.MAX_VALUE;
    private final AtomicLong firstByteAfterMark = new AtomicLong();

    private FaultProxy(String listenHost, InetSocketAddress target, int maxConnections) throws IOException {
        this.target = target;
        this.maxConnections = maxConnections;
        this.server = new ServerSocket();
        server.setReuseAddress(true);
        server.bind(new InetSocketAddress(InetAddress.getByName(listenHost), 0), 128);
        AtomicInteger n = new AtomicInteger();
        String name = "fault-proxy-" + listenHost + ":" + server.getLocalPort();
        this.threads = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, name + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        this.acceptor = new Thread(this::acceptLoop, name + "-accept");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    /**
     * Starts a transparent proxy listening on {@code listenHost} (a loopback address) at a free port, forwarding
     * to {@code targetHost:targetPort}, with at most 256 connections at once.
     */
    public static FaultProxy start(String listenHost, String targetHost, int targetPort) throws IOException {
        return start(listenHost, targetHost, targetPort, 256);
    }

    public static FaultProxy start(String listenHost, String targetHost, int targetPort, int maxConnections)
            throws IOException {
        if (maxConnections < 1) {
            throw new IllegalArgumentException("maxConnections must be >= 1");
        }
        return new FaultProxy(listenHost, new InetSocketAddress(targetHost, targetPort), maxConnections);
    }

    public String host() {
        return server.getInetAddress().getHostAddress();
    }

    public int port() {
        return server.getLocalPort();
    }

    /** URL of {@code path} through this proxy. */
    public String url(String path) {
        return "http://" + host() + ":" + port() + path;
    }

    public Faults faults() {
        return faults;
    }

    /** Puts {@code f} in force (see the class comment for what a change affects). */
    public FaultProxy faults(Faults f) {
        faults = f;
        LOG.info("Proxy {}:{} faults now {}", host(), port(), f);
        return this;
    }

    /** Changes the faults in force, e.g. {@code update(f -> f.withBlackhole(true))}. */
    public synchronized FaultProxy update(UnaryOperator<Faults> change) {
        return faults(change.apply(faults));
    }

    public Stats stats() {
        return new Stats(connections.sum(), resets.sum(), lossStalls.sum(), blackholed.sum(), refused.sum(),
                bytesToOrigin.sum(), bytesFromOrigin.sum());
    }

    /** Connections open right now. */
    public int openConnections() {
        return links.size();
    }

    /**
     * Starts a measurement: {@link #firstByteSinceMark()} will report when the first byte reached a client on a
     * connection accepted after this call. Recovery experiments use it for "restore to first byte": after a
     * failover the job has a fresh HTTP client, so its first connection is new.
     *
     * @return the mark, in {@link System#nanoTime()} units
     */
    public long mark() {
        firstByteAfterMark.set(0);
        long now = System.nanoTime();
        markNanos = now;
        return now;
    }

    /** {@link System#nanoTime()} of the first byte toward a client on a connection newer than the mark. */
    public OptionalLong firstByteSinceMark() {
        long t = firstByteAfterMark.get();
        return t == 0 ? OptionalLong.empty() : OptionalLong.of(t);
    }

    /** Resets every open connection now (a link flap); counted as resets. Returns how many were reset. */
    public int resetAll() {
        int n = 0;
        for (Link l : new ArrayList<>(links)) {
            if (!l.done.get()) {
                resets.increment();
                l.close(true);
                n++;
            }
        }
        return n;
    }

    /** Stops accepting, closes every connection and waits (bounded) for the proxy's threads. Idempotent. */
    @Override
    public void close() throws IOException {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        server.close();
        for (Link l : new ArrayList<>(links)) {
            l.close(false);
        }
        threads.shutdownNow();
        try {
            acceptor.join(CLOSE_TIMEOUT.toMillis());
            if (!threads.awaitTermination(CLOSE_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS) || acceptor.isAlive()) {
                LOG.warn("Proxy {}:{} threads still running {} after close", host(), port(), CLOSE_TIMEOUT);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        LOG.info("Proxy {}:{} closed: {}", host(), port(), stats());
    }

    // ---- connections ---------------------------------------------------------------------------

    private void acceptLoop() {
        while (!closed.get()) {
            Socket client;
            try {
                client = server.accept();
            } catch (IOException e) {
                if (!closed.get()) {
                    LOG.warn("Proxy {}:{} accept failed: {}", host(), port(), e.toString());
                }
                return;
            }
            connections.increment();
            if (links.size() >= maxConnections) {
                refused.increment();
                reset(client);
                continue;
            }
            Link link = new Link(client);
            links.add(link);
            if (closed.get()) {
                link.close(false);
                return;
            }
            link.submit(link::run);
        }
    }

    /** One client connection and, unless blackholed, its connection to the origin. */
    private final class Link {
        final Socket client;
        final long acceptedNanos = System.nanoTime();
        final List<Future<?>> tasks = new CopyOnWriteArrayList<>();
        final AtomicBoolean done = new AtomicBoolean();
        final AtomicInteger openDirections = new AtomicInteger(2);
        volatile Socket upstream;
        /** Bytes delivered toward the client (touched by the client-bound writer only). */
        long towardClientBytes;
        boolean firstByteSeen;

        Link(Socket client) {
            this.client = client;
        }

        void submit(Runnable r) {
            try {
                tasks.add(threads.submit(r));
            } catch (RejectedExecutionException shuttingDown) {
                close(false);
            }
        }

        void run() {
            try {
                client.setTcpNoDelay(true);
                if (faults.blackhole()) {
                    blackholed.increment();
                    swallow();
                    return;
                }
                Socket up = new Socket();
                up.setTcpNoDelay(true);
                upstream = up;
                up.connect(target, CONNECT_TIMEOUT_MILLIS);
                if (done.get()) {
                    close(false);
                    return;
                }
                Pipe toOrigin = new Pipe(this, client, up, false);
                Pipe toClient = new Pipe(this, up, client, true);
                submit(toOrigin::read);
                submit(toOrigin::write);
                submit(toClient::write);
                toClient.read();
            } catch (IOException e) {
                if (!done.get()) {
                    LOG.debug("Proxy link failed: {}", e.toString());
                }
                close(true);
            }
        }

        /** Blackholed: read and drop whatever the client sends until it gives up; never answer. */
        private void swallow() throws IOException {
            InputStream in = client.getInputStream();
            byte[] sink = new byte[SEGMENT];
            while (!done.get() && in.read(sink) >= 0) {
                // dropped
            }
            close(false);
        }

        /** One direction has delivered its end of stream; the link ends when both have. */
        void directionDone() {
            if (openDirections.decrementAndGet() == 0) {
                close(false);
            }
        }

        /** Closes both sockets, with RST toward the client when {@code rst}; stops this link's threads. */
        void close(boolean rst) {
            if (!done.compareAndSet(false, true)) {
                return;
            }
            links.remove(this);
            if (rst) {
                reset(client);
            } else {
                closeQuietly(client);
            }
            Socket up = upstream;
            if (up != null) {
                if (rst) {
                    reset(up);
                } else {
                    closeQuietly(up);
                }
            }
            for (Future<?> f : tasks) {
                f.cancel(true);
            }
        }

        void deliveredToClient(int n) {
            towardClientBytes += n;
            if (!firstByteSeen && n > 0) {
                firstByteSeen = true;
                if (acceptedNanos >= markNanos) {
                    firstByteAfterMark.compareAndSet(0, System.nanoTime());
                }
            }
        }
    }

    /** A segment on its way, due at {@code dueNanos}; {@code length < 0} marks the end of the stream. */
    private record Segment(byte[] data, int length, long dueNanos) {
        boolean isEnd() {
            return length < 0;
        }
    }

    /** One direction of a link: a reader that stamps due times, a writer that delivers them. */
    private final class Pipe {
        final Link link;
        final Socket from;
        final Socket to;
        final boolean toClient;
        final BlockingQueue<Segment> queue = new ArrayBlockingQueue<>(QUEUE_SEGMENTS);

        Pipe(Link link, Socket from, Socket to, boolean toClient) {
            this.link = link;
            this.from = from;
            this.to = to;
            this.toClient = toClient;
        }

        void read() {
            long lastDue = 0;
            try {
                InputStream in = from.getInputStream();
                while (!link.done.get()) {
                    byte[] buf = new byte[SEGMENT];
                    int n = in.read(buf);
                    Faults f = faults;
                    ThreadLocalRandom random = ThreadLocalRandom.current();
                    long due = System.nanoTime() + f.delayNanos(random);
                    if (n > 0 && f.lossProbability() > 0 && random.nextDouble() < f.lossProbability()) {
                        lossStalls.increment();
                        due += f.lossPenalty().toNanos();
                    }
                    due = Math.max(due, lastDue); // keep the stream in order
                    lastDue = due;
                    if (n < 0) {
                        queue.put(new Segment(null, -1, due));
                        return;
                    }
                    if (toClient) {
                        bytesFromOrigin.add(n);
                    }
                    queue.put(new Segment(buf, n, due));
                }
            } catch (IOException | InterruptedException e) {
                // the peer reset or the link was closed: end the link (RST toward the client, as the origin's
                // reset would reach it)
                link.close(!link.done.get());
            }
        }

        void write() {
            try {
                OutputStream out = to.getOutputStream();
                while (!link.done.get()) {
                    Segment s = queue.take();
                    awaitDue(s.dueNanos());
                    awaitPathOpen();
                    if (s.isEnd()) {
                        to.shutdownOutput(); // forward the FIN, keep the other direction open
                        link.directionDone();
                        return;
                    }
                    Faults f = faults;
                    int len = s.length();
                    boolean reset = false;
                    if (f.resetProbability() > 0 && ThreadLocalRandom.current().nextDouble() < f.resetProbability()) {
                        reset = true;
                        len = ThreadLocalRandom.current().nextInt(len + 1); // cut at a random point
                    }
                    if (toClient && f.resetAfterBytes() > 0) {
                        long left = f.resetAfterBytes() - link.towardClientBytes;
                        if (left <= len) {
                            reset = true;
                            len = (int) Math.max(0, left);
                        }
                    }
                    deliver(out, s.data(), len);
                    if (reset) {
                        resets.increment();
                        link.close(true);
                        return;
                    }
                }
            } catch (IOException | InterruptedException e) {
                link.close(!link.done.get());
            }
        }

        private void deliver(OutputStream out, byte[] data, int len) throws IOException, InterruptedException {
            TokenBucket bucket = toClient ? towardClient : towardOrigin;
            for (int off = 0; off < len; off += PACE_UNIT) {
                int n = Math.min(PACE_UNIT, len - off);
                bucket.acquire(n, link.done);
                // counted before the write: once the peer can read the bytes, the counters already show them
                if (toClient) {
                    link.deliveredToClient(n);
                } else {
                    bytesToOrigin.add(n);
                }
                out.write(data, off, n);
            }
            out.flush();
        }

        private void awaitDue(long dueNanos) throws InterruptedException {
            long wait;
            while ((wait = dueNanos - System.nanoTime()) > 0 && !link.done.get()) {
                LockSupport.parkNanos(Math.min(wait, POLL_NANOS));
                if (Thread.interrupted()) {
                    throw new InterruptedException();
                }
            }
        }

        private void awaitPathOpen() throws InterruptedException {
            while (faults.blackhole() && !link.done.get()) {
                LockSupport.parkNanos(POLL_NANOS);
                if (Thread.interrupted()) {
                    throw new InterruptedException();
                }
            }
        }
    }

    /** The bandwidth cap of one direction: a token bucket refilled at the rate in force, burst of 50 ms. */
    private final class TokenBucket {
        private double tokens;
        private long refilledAt = System.nanoTime();

        void acquire(int n, AtomicBoolean cancelled) throws InterruptedException {
            while (!cancelled.get()) {
                long rate = faults.bytesPerSecond();
                if (rate <= 0) {
                    return;
                }
                long waitNanos;
                synchronized (this) {
                    long now = System.nanoTime();
                    double burst = Math.max(PACE_UNIT, rate / 20.0);
                    tokens = Math.min(burst, tokens + (now - refilledAt) * rate / 1e9);
                    refilledAt = now;
                    if (tokens >= n) {
                        tokens -= n;
                        return;
                    }
                    waitNanos = (long) ((n - tokens) * 1e9 / rate);
                }
                LockSupport.parkNanos(Math.min(waitNanos, POLL_NANOS));
                if (Thread.interrupted()) {
                    throw new InterruptedException();
                }
            }
        }
    }

    /** Abortive close: SO_LINGER 0 makes close() send RST instead of FIN. */
    private static void reset(Socket s) {
        try {
            s.setSoLinger(true, 0);
        } catch (SocketException alreadyClosed) {
            // nothing to reset
        }
        closeQuietly(s);
    }

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException ignored) {
            // closing anyway
        }
    }
}
