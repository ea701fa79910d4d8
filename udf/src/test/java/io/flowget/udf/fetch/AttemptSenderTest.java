package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.http.Attempt;
import io.flowget.udf.http.FetchOutcome;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.testing.TestOrigin;

import org.apache.hc.client5.http.impl.async.CloseableHttpAsyncClient;
import org.apache.hc.client5.http.impl.async.HttpAsyncClients;
import org.apache.hc.core5.concurrent.FutureCallback;
import org.apache.hc.core5.function.Supplier;
import org.apache.hc.core5.http.HttpHost;
import org.apache.hc.core5.http.nio.AsyncPushConsumer;
import org.apache.hc.core5.http.nio.AsyncRequestProducer;
import org.apache.hc.core5.http.nio.AsyncResponseConsumer;
import org.apache.hc.core5.http.nio.HandlerFactory;
import org.apache.hc.core5.http.protocol.HttpContext;
import org.apache.hc.core5.io.CloseMode;
import org.apache.hc.core5.reactor.IOReactorStatus;
import org.apache.hc.core5.util.TimeValue;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link AttemptRequests} with an {@link AttemptSender}: the HTTP client's {@code execute()} runs on the sender's
 * thread, never on the thread that calls {@code send} (the operator's task thread), and the outcome still arrives
 * exactly once; an attempt cancelled before its send ran is cancelled when it runs; after {@code close} a send ends
 * at once as a failure. A real client against a loopback {@link TestOrigin}; the client is wrapped only to record
 * which thread calls {@code execute()}.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class AttemptSenderTest {
    private static final long WAIT_SECONDS = 20;

    @TempDir Path dir;

    private TestOrigin origin;
    private CloseableHttpAsyncClient real;
    private RecordingClient client;
    private AttemptSender sender;
    private AttemptRequests requests;
    private final byte[] body = TestOrigin.content("f", 4096);

    @BeforeEach
    void start() throws Exception {
        origin = TestOrigin.start("127.0.0.1");
        origin.file("/f", body);
        real = HttpAsyncClients.createDefault();
        real.start();
        client = new RecordingClient(real);
        sender = new AttemptSender(7);
        FetchSettings settings =
                FetchFixtures.settings(c -> c.set(FlowgetOptions.NET_POSTURE, FlowgetOptions.NetPosture.LOCAL));
        requests = new AttemptRequests(settings, new ConditionalFetch(null, false, false), sender);
    }

    @AfterEach
    void stop() throws Exception {
        sender.close();
        real.close(CloseMode.IMMEDIATE);
        origin.close();
    }

    @Test
    void executeRunsOnTheSenderThreadAndTheOutcomeArrivesOnce() throws Exception {
        Download d = download();
        Attempt a = requests.newAttempt("127.0.0.1", 0, d, null, System.currentTimeMillis());
        List<FetchOutcome> outcomes = new CopyOnWriteArrayList<>();
        CompletableFuture<FetchOutcome> done = new CompletableFuture<>();

        requests.send(client, a, d, dir.resolve("staging-0"), o -> {
            outcomes.add(o);
            done.complete(o);
        });
        FetchOutcome o = done.get(WAIT_SECONDS, TimeUnit.SECONDS);

        assertThat(o.error).isNull();
        assertThat(o.status).isEqualTo(200);
        assertThat(Files.readAllBytes(dir.resolve("staging-0"))).isEqualTo(body);
        assertThat(client.callers).as("execute() called once, on the sender thread").singleElement().satisfies(t -> {
            assertThat(t).isNotSameAs(Thread.currentThread());
            assertThat(t.getName()).isEqualTo("flowget-send-7");
        });
        assertThat(a.future).as("the exchange is published to the attempt").isNotNull();
        Thread.sleep(100); // a second outcome would come right after the first
        assertThat(outcomes).hasSize(1);
    }

    @Test
    void anAttemptCancelledBeforeItsSendRanIsCancelledWhenItRuns() throws Exception {
        CountDownLatch hold = new CountDownLatch(1);
        assertThat(sender.submit(() -> await(hold))).isTrue(); // the sender is busy: the next send waits
        Download d = download();
        Attempt a = requests.newAttempt("127.0.0.1", 0, d, null, System.currentTimeMillis());
        CompletableFuture<FetchOutcome> done = new CompletableFuture<>();
        requests.send(client, a, d, dir.resolve("staging-1"), done::complete);

        a.cancel("superseded"); // no future yet: only the reason is set
        hold.countDown();
        FetchOutcome o = done.get(WAIT_SECONDS, TimeUnit.SECONDS);

        assertThat(client.callers).hasSize(1);
        assertThat(o.error).isInstanceOf(CancellationException.class);
        assertThat(a.future.isCancelled()).isTrue();
    }

    @Test
    void aSendAfterCloseEndsAtOnceAsAFailure() throws Exception {
        sender.close();
        Download d = download();
        Attempt a = requests.newAttempt("127.0.0.1", 0, d, null, System.currentTimeMillis());
        CompletableFuture<FetchOutcome> done = new CompletableFuture<>();

        requests.send(client, a, d, dir.resolve("staging-2"), done::complete);

        assertThat(done).isCompleted();
        assertThat(done.get().error).isInstanceOf(CancellationException.class);
        assertThat(client.callers).isEmpty();
    }

    private Download download() {
        Download d = new Download(new FetchRequest("r", origin.url("/f"), "127.0.0.1", "127.0.0.1/f"), 0);
        d.switchTo(Download.Mode.SINGLE);
        return d;
    }

    private static void await(CountDownLatch latch) {
        try {
            latch.await(WAIT_SECONDS, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** A real client that records the thread of every {@code execute()} call and hands the call on unchanged. */
    private static final class RecordingClient extends CloseableHttpAsyncClient {
        final List<Thread> callers = new CopyOnWriteArrayList<>();
        private final CloseableHttpAsyncClient delegate;

        RecordingClient(CloseableHttpAsyncClient delegate) {
            this.delegate = delegate;
        }

        @Override
        protected <T> Future<T> doExecute(
                HttpHost target,
                AsyncRequestProducer producer,
                AsyncResponseConsumer<T> consumer,
                HandlerFactory<AsyncPushConsumer> push,
                HttpContext context,
                FutureCallback<T> callback) {
            callers.add(Thread.currentThread());
            return delegate.execute(producer, consumer, push, context, callback);
        }

        @Override
        public void start() {
            delegate.start();
        }

        @Override
        public IOReactorStatus getStatus() {
            return delegate.getStatus();
        }

        @Override
        public void awaitShutdown(TimeValue waitTime) throws InterruptedException {
            delegate.awaitShutdown(waitTime);
        }

        @Override
        public void initiateShutdown() {
            delegate.initiateShutdown();
        }

        @Override
        public void register(String hostname, String uriPattern, Supplier<AsyncPushConsumer> supplier) {
            delegate.register(hostname, uriPattern, supplier);
        }

        @Override
        public void close(CloseMode closeMode) {
            delegate.close(closeMode);
        }

        @Override
        public void close() {
            delegate.close(CloseMode.GRACEFUL);
        }
    }
}
