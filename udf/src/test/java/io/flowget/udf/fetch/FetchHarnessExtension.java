package io.flowget.udf.fetch;

import io.flowget.udf.body.BodyPipeline;
import io.flowget.udf.http.HttpClientHolder;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;

import org.assertj.core.api.SoftAssertions;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.AfterTestExecutionCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.util.ArrayList;
import java.util.List;

/**
 * Builds the {@link FetchHarness} instances of an operator test and proves, after each test, that the operator
 * came back to zero (STYLE 20, 24). Register it as an instance field:
 *
 * <pre>{@code
 * @RegisterExtension final FetchHarnessExtension fetch = new FetchHarnessExtension();
 * ...
 * FetchHarness h = fetch.harness(FetchHarness.config(tmp), FetchHarness.Clock.STEPPED);
 * TestOrigin origin = fetch.track(TestOrigin.start());
 * }</pre>
 *
 * <p>Right after a test method that passed, every instance it built is closed (if the test did not close it) and
 * the state recorded just before its close must be zero: no keyed {@code queue}/{@code queue-cursor}/{@code active}
 * entries ({@code host-state} is TTL-bounded and may stay), no processing-time timers, no backlog, nothing in flight
 * and no host in the scheduler's memory. An instance opted out with {@link FetchHarness#unfinished} or
 * {@link FetchHarness#crash} (a snapshot or a close in the middle of the work, on purpose) is closed but not
 * checked. After a test that failed, nothing is checked: its own failure says more.
 *
 * <p>After each test, whether it passed or not, the tracked resources (origins) are closed in reverse order and
 * then no shared HTTP client ({@link HttpClientHolder#liveClients}) and no body pipeline
 * ({@link BodyPipeline#livePipelines}) may be left.
 *
 * <p>Not thread-safe: one per test instance, used by the test thread.
 */
final class FetchHarnessExtension implements AfterTestExecutionCallback, AfterEachCallback {
    private final List<FetchHarness> harnesses = new ArrayList<>();
    private final List<AutoCloseable> resources = new ArrayList<>();

    /** A harness on {@code conf} under {@code clock}, closed and checked after the test. */
    FetchHarness harness(Configuration conf, FetchHarness.Clock clock) throws Exception {
        return harness(conf, null, clock);
    }

    /** A harness restored from {@code restore} (null: fresh), closed and checked after the test. */
    FetchHarness harness(Configuration conf, OperatorSubtaskState restore, FetchHarness.Clock clock)
            throws Exception {
        FetchHarness h = FetchHarness.open(conf, restore, clock);
        harnesses.add(h);
        return h;
    }

    /** A harness of subtask {@code index} of {@code parallelism} (see {@link FetchHarness#open}), closed and checked. */
    FetchHarness harness(Configuration conf, OperatorSubtaskState restore, FetchHarness.Clock clock,
            int maxParallelism, int parallelism, int index) throws Exception {
        FetchHarness h = FetchHarness.open(conf, restore, clock, maxParallelism, parallelism, index);
        harnesses.add(h);
        return h;
    }

    /** Closes {@code resource} after the test (after the harnesses, in reverse order of tracking). */
    <T extends AutoCloseable> T track(T resource) {
        resources.add(resource);
        return resource;
    }

    /** Closes {@code resource} now and forgets it (e.g. an origin that must be gone during the test). */
    void close(AutoCloseable resource) throws Exception {
        resources.remove(resource);
        resource.close();
    }

    @Override
    public void afterTestExecution(ExtensionContext context) throws Exception {
        boolean passed = context.getExecutionException().isEmpty();
        SoftAssertions zero = new SoftAssertions();
        for (int i = 0; i < harnesses.size(); i++) {
            FetchHarness h = harnesses.get(i);
            try {
                h.close();
            } catch (Exception e) {
                zero.fail("closing operator " + (i + 1) + " failed", e);
                continue;
            }
            if (passed && h.unfinishedReason() == null) {
                zero.assertThat(h.lastState())
                        .as("operator %s of %s at the end of the test (hosts with state, timers, backlog,"
                                + " in flight, hosts in memory; %s)", i + 1, harnesses.size(), h.lastClock())
                        .isEqualTo(FetchHarness.ZeroState.ZERO);
            }
        }
        harnesses.clear();
        zero.assertAll();
    }

    @Override
    public void afterEach(ExtensionContext context) throws Exception {
        // A test that replaced the name lookup (slow DNS, host churn) leaves the system's for the next one.
        io.flowget.udf.http.HttpClientHolder.lookupForTests(null);
        Exception first = null;
        for (int i = resources.size() - 1; i >= 0; i--) {
            try {
                resources.get(i).close();
            } catch (Exception e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        resources.clear();
        if (first != null) {
            throw first;
        }
        SoftAssertions leaks = new SoftAssertions();
        leaks.assertThat(HttpClientHolder.liveClients()).as("shared HTTP clients released").isZero();
        leaks.assertThat(BodyPipeline.livePipelines()).as("body pipelines closed").isZero();
        leaks.assertAll();
    }
}
