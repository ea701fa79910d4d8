package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;

import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.streaming.runtime.tasks.mailbox.Mail;
import org.apache.flink.streaming.runtime.tasks.mailbox.TaskMailbox;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A {@link FetchOperator} in Flink's keyed test harness (RocksDB state) writing under a test directory, with the
 * mail loop run on the test thread. Retries are made immediate: backoff is 1 ms and, whenever no mail is waiting,
 * processing time moves on by a second, so retry timers fire without the test sleeping through backoffs.
 */
final class FetchHarness implements AutoCloseable {
    static final Duration WAIT = Duration.ofSeconds(60);

    final Path dir;
    final KeyedOneInputStreamOperatorTestHarness<String, FetchRequest, FetchResult> harness;

    private FetchHarness(Path dir, Configuration conf) throws Exception {
        this.dir = dir;
        harness =
                new KeyedOneInputStreamOperatorTestHarness<>(
                        new FetchOperatorFactory(conf), (FetchRequest r) -> r.host, Types.STRING);
        harness.setStateBackend(new EmbeddedRocksDBStateBackend(true));
        harness.open();
        harness.setProcessingTime(1_000);
    }

    /** Settings for tests: small client, immediate retries, output and staging under {@code dir}. */
    static Configuration config(Path dir) {
        Configuration c = new Configuration();
        c.set(FlowgetOptions.FETCH_MAX_IN_FLIGHT, 16);
        c.set(FlowgetOptions.HOST_MAX_CONCURRENCY, 8);
        c.set(FlowgetOptions.STORAGE_OUT_DIR, dir.resolve("out").toString());
        c.set(FlowgetOptions.STORAGE_STAGING_DIR, dir.resolve("staging").toString());
        c.set(FlowgetOptions.HTTP_IO_THREADS, 2);
        c.set(FlowgetOptions.RETRY_INITIAL_BACKOFF, Duration.ofMillis(1));
        c.set(FlowgetOptions.RETRY_MAX_BACKOFF, Duration.ofMillis(1));
        return c;
    }

    static FetchHarness open(Path dir, Configuration conf) throws Exception {
        return new FetchHarness(dir, conf);
    }

    Path out() {
        return dir.resolve("out");
    }

    void submit(FetchRequest... requests) throws Exception {
        for (FetchRequest r : requests) {
            harness.processElement(r, 0);
        }
    }

    /** Runs mail until {@code n} results are out (fails after {@link #WAIT}); returns them all. */
    List<FetchResult> results(int n) throws Exception {
        drainUntil(() -> harness.extractOutputValues().size() >= n);
        List<FetchResult> out = harness.extractOutputValues();
        assertThat(out).hasSize(n);
        return out;
    }

    /** Submits one request and returns its result. */
    FetchResult fetch(FetchRequest r) throws Exception {
        int before = harness.extractOutputValues().size();
        submit(r);
        List<FetchResult> all = results(before + 1);
        return all.get(before);
    }

    void drainUntil(BooleanSupplier done) throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!done.getAsBoolean()) {
            assertThat(System.nanoTime()).as("condition reached within %s", WAIT).isLessThan(deadline);
            Optional<Mail> mail = harness.getTaskMailbox().tryTake(TaskMailbox.MIN_PRIORITY);
            if (mail.isPresent()) {
                mail.get().run();
            } else {
                harness.setProcessingTime(harness.getProcessingTime() + 1_000);
                Thread.sleep(1);
            }
        }
    }

    /** Files left in the staging directory (none once every request is terminal). */
    List<Path> stagingFiles() throws Exception {
        Path staging = dir.resolve("staging");
        if (!Files.exists(staging)) {
            return List.of();
        }
        try (var s = Files.list(staging)) {
            return s.collect(Collectors.toList());
        }
    }

    long hostsWithState() throws Exception {
        return ((FetchOperator) harness.getOperator()).hostsWithState();
    }

    static FetchRequest request(String id, String url, String host, String path) {
        return new FetchRequest(id, url, host, path);
    }

    /** Closes the harness; when work is still pending (a failed test) only the operator, so close never waits. */
    @Override
    public void close() throws Exception {
        FetchOperator op = (FetchOperator) harness.getOperator();
        if (op.backlog() == 0 && op.inFlightCount() == 0) {
            harness.close();
        } else {
            op.close();
        }
    }
}
