package io.flowget.job.run;

import io.flowget.job.embedded.EmbeddedFlink;
import io.flowget.job.embedded.EmbeddedKafka;

import org.apache.flink.configuration.Configuration;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/**
 * The long-lived half of {@code flowget run}: the Kafka broker (embedded in {@code <state-dir>/kafka}, or a given
 * one), the MiniCluster (checkpoints in {@code <state-dir>/checkpoints}), the progress gauges' reporter, and the
 * state dir's lock. A cold run starts them for itself and closes them at its end ({@link #beginCold}); a daemon
 * starts them once ({@link #startWarm}) and serves run after run on them, each run with its own job, its own
 * {@link RunState} and its own Kafka names ({@link KafkaNames}).
 *
 * <p>Start-up overlap (a cold run's ~4 s before its first request): the broker starts on its own thread
 * ({@code flowget-broker-start}) while the caller's thread starts the MiniCluster ({@link #cluster()}); both are
 * mostly class loading and waiting on their own threads. {@link #servers()} waits for the broker.
 *
 * <p>Which settings belong to the services and which to a run: {@link #jobLevel(String)}. A run through a daemon
 * may set job-level keys freely; every other key it sets must have the daemon's value
 * ({@link #clusterMismatches}).
 *
 * <p>Not thread-safe for start and close (one owner: the cold run's thread, or the daemon); {@link #servers()},
 * {@link #gauges()} and the started cluster may be used from the owner's run threads.
 */
public final class RunServices implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(RunServices.class);

    /**
     * Key prefixes a run may set per job on a shared cluster: flowget's own options and Flink's job-level ones
     * (checkpointing, pipeline, state backend, restart strategy), which reach the job through its configuration.
     */
    private static final List<String> JOB_LEVEL_PREFIXES =
            List.of("flowget.", "execution.", "pipeline.", "state.", "restart-strategy.");

    private final Path stateDir;
    private final Configuration settings;
    private final int parallelism;
    private final String externalServers;
    private final StateDirLock lock;
    private final FetchGauges gauges;
    private final Configuration clusterConf;
    private final CompletableFuture<EmbeddedKafka> broker = new CompletableFuture<>();
    private EmbeddedFlink flink;
    private boolean closed;

    private RunServices(
            Path stateDir, Configuration settings, int parallelism, String externalServers, StateDirLock lock) {
        this.stateDir = stateDir;
        this.settings = new Configuration(settings);
        this.parallelism = parallelism;
        this.externalServers = externalServers;
        this.lock = lock;
        this.clusterConf = new Configuration(settings);
        this.gauges = FetchGauges.register(clusterConf); // the progress line's in flight, waiting, hosts paused...
    }

    /**
     * A cold run's services: starts the broker (unless {@code servers} names one) on its own thread and returns; the
     * MiniCluster starts on the first {@link #cluster()}. Takes over {@code lock} (released by {@link #close()}).
     *
     * @param settings the cluster's settings (the run's)
     */
    public static RunServices beginCold(
            Path stateDir, Configuration settings, int parallelism, String servers, StateDirLock lock) {
        RunServices s = new RunServices(stateDir, settings, parallelism, servers, lock);
        s.startBroker();
        return s;
    }

    /**
     * A daemon's services: broker and MiniCluster started now (overlapped), kept until {@link #close()}.
     *
     * @param settings the cluster's settings (job-level keys among them are not applied to runs)
     */
    public static RunServices startWarm(Path stateDir, Configuration settings, int parallelism, StateDirLock lock)
            throws Exception {
        RunServices s = new RunServices(stateDir, settings, parallelism, null, lock);
        try {
            s.startBroker();
            s.cluster();
            s.servers();
            return s;
        } catch (Exception | Error e) {
            try {
                s.close();
            } catch (Exception suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    private void startBroker() {
        if (externalServers != null) {
            broker.complete(null);
            return;
        }
        Thread t = new Thread(() -> {
            try {
                broker.complete(EmbeddedKafka.start(stateDir.resolve("kafka")));
            } catch (Throwable e) {
                broker.completeExceptionally(e);
            }
        }, "flowget-broker-start");
        t.setDaemon(true);
        t.start();
    }

    /** Whether the broker is the embedded one (the run then owns its topics' names, {@link KafkaNames#forRun}). */
    public boolean embeddedBroker() {
        return externalServers == null;
    }

    /** Waits for the broker; its bootstrap servers. */
    public String servers() throws Exception {
        if (externalServers != null) {
            return externalServers;
        }
        try {
            return broker.get().bootstrapServers();
        } catch (ExecutionException e) {
            throw e.getCause() instanceof Exception ex ? ex : e;
        }
    }

    /** The MiniCluster, started on the calling thread the first time. */
    public synchronized EmbeddedFlink cluster() throws Exception {
        if (flink == null) {
            if (closed) {
                throw new IllegalStateException("services closed");
            }
            flink = EmbeddedFlink.start(clusterConf, stateDir.resolve("checkpoints"), parallelism);
        }
        return flink;
    }

    /** The Fetch operator's gauges of whichever job runs on the cluster. */
    public FetchGauges gauges() {
        return gauges;
    }

    /** The cluster's parallelism (slots). */
    public int parallelism() {
        return parallelism;
    }

    /** The state dir these services hold (absolute). */
    public Path stateDir() {
        return stateDir;
    }

    /** The settings the services were started with. */
    public Configuration settings() {
        return new Configuration(settings);
    }

    /** Whether a key is set per job (may differ between runs on one cluster). */
    public static boolean jobLevel(String key) {
        for (String p : JOB_LEVEL_PREFIXES) {
            if (key.startsWith(p)) {
                return true;
            }
        }
        return false;
    }

    /**
     * The keys {@code run} sets that shape the cluster (not {@link #jobLevel}) and that {@code daemon} does not set
     * to the same value, as {@code key=run value (daemon: value)} texts; empty when the run fits the daemon. A
     * cluster key the run does not set takes the daemon's value.
     */
    public static List<String> clusterMismatches(Configuration run, Configuration daemon) {
        Map<String, String> r = run.toMap();
        Map<String, String> d = daemon.toMap();
        List<String> out = new ArrayList<>();
        for (Map.Entry<String, String> e : r.entrySet()) {
            if (!jobLevel(e.getKey()) && !Objects.equals(e.getValue(), d.get(e.getKey()))) {
                out.add(e.getKey() + "=" + e.getValue() + " (daemon: "
                        + (d.containsKey(e.getKey()) ? d.get(e.getKey()) : "not set") + ")");
            }
        }
        out.sort(null);
        return out;
    }

    /**
     * Stops the MiniCluster and the broker at once (each spends most of its shutdown waiting on its own threads),
     * then releases the state dir. A job still running is suspended with the cluster (its checkpoints stay).
     * Idempotent.
     */
    @Override
    public void close() throws Exception {
        close(false);
    }

    /**
     * As {@link #close()}; with {@code clusterFirst} (a job may still run and use the broker while it stops) the
     * broker stops only after the cluster.
     */
    public synchronized void close(boolean clusterFirst) throws Exception {
        if (closed) {
            return;
        }
        closed = true;
        if (clusterFirst && flink != null) {
            try {
                flink.close();
            } catch (Exception e) {
                try {
                    closeBrokerAndLock();
                } catch (Exception suppressed) {
                    e.addSuppressed(suppressed);
                }
                throw e;
            }
        }
        closeBrokerAndLock();
    }

    private void closeBrokerAndLock() throws Exception {
        gauges.close();
        CompletableFuture<Void> brokerClosed = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                EmbeddedKafka kafka = broker.handle((k, e) -> k).get(); // after its start ended, either way
                if (kafka != null) {
                    kafka.close();
                }
                brokerClosed.complete(null);
            } catch (Throwable e) {
                brokerClosed.completeExceptionally(e);
            }
        }, "flowget-broker-stop");
        t.setDaemon(true);
        t.start();
        Exception failure = null;
        try {
            if (flink != null) {
                flink.close();
            }
        } catch (Exception e) {
            failure = e;
        }
        try {
            brokerClosed.get();
        } catch (ExecutionException e) {
            Exception cause = e.getCause() instanceof Exception ex ? ex : e;
            if (failure == null) {
                failure = cause;
            } else {
                failure.addSuppressed(cause);
            }
        }
        try {
            if (lock != null) {
                lock.close();
            }
        } catch (Exception e) {
            LOG.debug("Could not release the state-dir lock", e);
        }
        if (failure != null) {
            throw failure;
        }
    }

    /**
     * Leaves everything to the process's end, which follows at once (a completed cold run): broker, cluster and the
     * state dir's lock too, which the kernel releases with the process — not before, while the job may still write.
     */
    void leaveToExit() {
        gauges.close();
    }
}
