package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.http.HttpClientHolder;
import io.flowget.udf.http.HttpClientSettings;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.Configuration;

import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.util.Callback;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static io.flowget.udf.fetch.FetchOperatorTest.request;
import static io.flowget.udf.fetch.FetchOperatorTest.sha256;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Which whole-file downloads read in large buffers ({@link AttemptDispatch}): a host whose last HTTP/1.1 answer was a
 * large body ({@link AttemptDispatch#LARGE_BODY}) sends its next requests over the large-buffer client while the
 * budget has a slot, so the main client's small buffers (the heap per in-flight download) cost large transfers
 * nothing; a host of small bodies never takes a slot. Against a Jetty origin whose bodies (no Range support, so
 * nothing is chunked) send their first KiB and then wait, while the test counts the budget's slots in use.
 */
class LargeBodyHostsTest {
    private static final int KIB = 1024;
    private static final int FILES = 4;

    @TempDir Path tmp;

    @RegisterExtension final FetchHarnessExtension fetch = new FetchHarnessExtension();

    @Test
    void aHostThatServedALargeBodySendsItsNextRequestsInLargeBuffers() throws Exception {
        assertThat(slotsTakenByStalledDownloads("big", (int) AttemptDispatch.LARGE_BODY, false))
                .as("large-buffer slots held by the stalled whole-file downloads")
                .isEqualTo(FILES);
    }

    @Test
    void aHostOfSmallBodiesNeverTakesALargeBufferSlot() throws Exception {
        // First a large body (the host is marked), then a small one (it is forgotten again).
        assertThat(slotsTakenByStalledDownloads("small", (int) AttemptDispatch.LARGE_BODY - 1, true))
                .as("large-buffer slots held by the stalled whole-file downloads")
                .isZero();
    }

    /**
     * Downloads one warm-up file of {@code warmSize} bytes (after one of {@link AttemptDispatch#LARGE_BODY} when
     * {@code afterLarge}), then {@link #FILES} large files that stall after their first KiB, and returns the
     * large-buffer slots in use while they stall; releases them and checks every file byte-exact.
     */
    private int slotsTakenByStalledDownloads(String name, int warmSize, boolean afterLarge) throws Exception {
        TestOrigin origin = fetch.track(TestOrigin.start("127.0.0.1"));
        Configuration conf = FetchHarness.config(tmp, 16, 8);
        conf.set(FlowgetOptions.HOST_INITIAL_CONCURRENCY, 8); // no ramp: all files at once
        var h = fetch.harness(conf, FetchHarness.Clock.STEPPED);
        HttpClientHolder.Lease lease = HttpClientHolder.acquire(HttpClientSettings.from(conf));
        CountDownLatch gate = new CountDownLatch(1);
        try {
            assertThat(lease.large().slots()).isGreaterThanOrEqualTo(FILES);
            int done = 0;
            if (afterLarge) {
                byte[] large = TestOrigin.content(name + "-large", (int) AttemptDispatch.LARGE_BODY);
                origin.route("/large.bin", (req, resp, cb, n) -> TestOrigin.send(resp, cb, 200, large));
                h.processElement(request(name + "-large", origin, "/large.bin"), 0);
                assertThat(h.results(++done).get(done - 1).status).isEqualTo(ResultStatus.OK);
            }
            byte[] warm = TestOrigin.content(name + "-warm", warmSize);
            origin.route("/warm.bin", (req, resp, cb, n) -> TestOrigin.send(resp, cb, 200, warm));
            h.processElement(request(name + "-warm", origin, "/warm.bin"), 0);
            assertThat(h.results(++done).get(done - 1).status).isEqualTo(ResultStatus.OK);

            byte[][] bodies = new byte[FILES][];
            for (int f = 0; f < FILES; f++) {
                byte[] body = TestOrigin.content(name + f, 512 * KIB);
                bodies[f] = body;
                origin.route("/f" + f + ".bin", (req, resp, cb, n) -> {
                    resp.setStatus(200);
                    resp.getHeaders().put(HttpHeader.CONTENT_LENGTH, body.length);
                    resp.write(false, ByteBuffer.wrap(body, 0, KIB), Callback.from(
                            () -> new Thread(() -> {
                                try {
                                    gate.await(60, TimeUnit.SECONDS);
                                } catch (InterruptedException e) {
                                    Thread.currentThread().interrupt();
                                }
                                resp.write(true, ByteBuffer.wrap(body, KIB, body.length - KIB), cb);
                            }, "large-body-stall").start(),
                            cb::failed));
                });
                h.processElement(request(name + f, origin, "/f" + f + ".bin"), 0);
            }
            h.drainUntil(() -> origin.activeRequests() >= FILES);
            h.drainFor(Duration.ofMillis(200)); // the first KiB of each reaches its consumer
            int taken = lease.large().inUse();
            gate.countDown();
            var results = h.results(done + FILES);
            for (int f = 0; f < FILES; f++) {
                String id = name + f;
                FetchResult r = results.stream().filter(x -> x.id.equals(id)).findFirst().orElseThrow();
                assertThat(r.status).as("%s", r).isEqualTo(ResultStatus.OK);
                assertThat(r.sha256).isEqualTo(sha256(bodies[f]));
                assertThat(Files.readAllBytes(h.out().resolve(r.path))).isEqualTo(bodies[f]);
            }
            h.drainUntil(() -> lease.large().inUse() == 0);
            return taken;
        } finally {
            gate.countDown();
            HttpClientHolder.release(lease);
            h.close();
        }
    }
}
