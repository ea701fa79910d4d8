package io.flowget.job.chaos;

import io.flowget.job.chaos.FaultProxy.Faults;
import io.flowget.udf.testing.TestOrigin;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * {@link FaultProxy} against a real Jetty origin with raw HTTP/1.1 over sockets, one fault at a time. Timing checks
 * are lower bounds only (an injected delay is a minimum, so they cannot fail on a slow machine).
 */
class ChaosFaultProxyTest {
    private static final byte[] BODY = TestOrigin.content("proxy-body", 300_000);

    private TestOrigin origin;
    private FaultProxy proxy;
    private final List<Socket> sockets = new ArrayList<>();

    @BeforeEach
    void start() throws Exception {
        origin = TestOrigin.start("127.0.0.1");
        origin.file("/body.bin", BODY);
        origin.file("/small.bin", TestOrigin.content("small", 1000));
        proxy = FaultProxy.start("127.0.0.3", origin.host(), origin.port());
    }

    @AfterEach
    void stop() throws Exception {
        for (Socket s : sockets) {
            s.close();
        }
        proxy.close();
        origin.close();
    }

    @Test
    void forwardsBytesUnchangedAndCountsThem() throws Exception {
        Socket s = connect();
        for (int i = 0; i < 3; i++) { // keep-alive: three exchanges on one connection
            assertThat(get(s, "/body.bin")).isEqualTo(BODY);
        }
        FaultProxy.Stats st = proxy.stats();
        assertThat(st.connections()).isEqualTo(1);
        assertThat(st.faults()).isZero();
        assertThat(st.bytesFromOrigin()).isGreaterThan(3L * BODY.length).isLessThan(3L * BODY.length + 3000);
        assertThat(st.bytesToOrigin()).isPositive();
        assertThat(origin.hits("/body.bin")).isEqualTo(3);
    }

    @Test
    void latencyDelaysEachDirection() throws Exception {
        proxy.faults(Faults.none().withLatency(Duration.ofMillis(100), Duration.ofMillis(20)));
        Socket s = connect();
        long t0 = System.nanoTime();
        assertThat(get(s, "/small.bin")).hasSize(1000);
        long millis = (System.nanoTime() - t0) / 1_000_000;
        // request one way, answer the other: at least 2 x (100 - 20) ms
        assertThat(millis).isGreaterThanOrEqualTo(160);
    }

    @Test
    void lossStallsDelayButDeliverEverything() throws Exception {
        proxy.faults(Faults.none().withLoss(1.0));
        Socket s = connect();
        long t0 = System.nanoTime();
        assertThat(get(s, "/body.bin")).isEqualTo(BODY);
        assertThat((System.nanoTime() - t0) / 1_000_000).isGreaterThanOrEqualTo(400); // >= one stall each way
        assertThat(proxy.stats().lossStalls()).isGreaterThanOrEqualTo(2);
    }

    @Test
    void bandwidthCapSlowsTheTransfer() throws Exception {
        proxy.faults(Faults.none().withBandwidth(600_000));
        Socket s = connect();
        long t0 = System.nanoTime();
        assertThat(get(s, "/body.bin")).isEqualTo(BODY);
        // 300 kB at 600 kB/s, less the 30 kB burst: at least 0.45 s
        assertThat((System.nanoTime() - t0) / 1_000_000).isGreaterThanOrEqualTo(450);
    }

    @Test
    void resetAfterBytesCutsTheAnswerWithRst() throws Exception {
        proxy.faults(Faults.none().withResetAfterBytes(10_000));
        Socket s = connect();
        send(s, "/body.bin");
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        IOException failure = null;
        try {
            s.getInputStream().transferTo(got);
        } catch (IOException e) {
            failure = e;
        }
        assertThat(got.size()).isLessThanOrEqualTo(10_000);
        assertThat(failure).as("the client sees a reset, not a clean end").isNotNull();
        assertThat(failure.getMessage().toLowerCase(Locale.ROOT)).contains("reset");
        assertThat(proxy.stats().resets()).isEqualTo(1);
    }

    @Test
    void resetProbabilityOneResetsEveryConnection() throws Exception {
        proxy.faults(Faults.none().withResets(1.0));
        for (int i = 0; i < 3; i++) {
            Socket s = connect();
            assertThatThrownBy(() -> get(s, "/body.bin")).isInstanceOf(IOException.class);
        }
        assertThat(proxy.stats().resets()).isEqualTo(3);
        proxy.faults(Faults.none());
        assertThat(get(connect(), "/body.bin")).isEqualTo(BODY);
    }

    @Test
    void blackholeNeverAnswersNewConnectionsAndStallsOldOnesUntilLifted() throws Exception {
        Socket old = connect();
        assertThat(get(old, "/small.bin")).hasSize(1000);

        proxy.update(f -> f.withBlackhole(true));
        Socket fresh = connect();
        fresh.setSoTimeout(500);
        send(fresh, "/small.bin");
        assertThatThrownBy(() -> fresh.getInputStream().read()).isInstanceOf(SocketTimeoutException.class);
        old.setSoTimeout(500);
        send(old, "/small.bin");
        assertThatThrownBy(() -> old.getInputStream().read()).isInstanceOf(SocketTimeoutException.class);
        assertThat(proxy.stats().blackholed()).isEqualTo(1);

        proxy.update(f -> f.withBlackhole(false));
        old.setSoTimeout(10_000);
        assertThat(readResponse(old.getInputStream())).hasSize(1000); // the stalled answer arrives
        fresh.setSoTimeout(1000);
        assertThatThrownBy(() -> fresh.getInputStream().read())
                .as("a blackholed connection stays dead")
                .isInstanceOf(SocketTimeoutException.class);
        assertThat(origin.hits("/small.bin")).as("the blackholed request never reached the origin").isEqualTo(2);
    }

    @Test
    void refusesConnectionsBeyondTheBoundAndClosesCleanly() throws Exception {
        proxy.close();
        proxy = FaultProxy.start("127.0.0.3", origin.host(), origin.port(), 2);
        Socket a = connect();
        Socket b = connect();
        assertThat(get(a, "/small.bin")).hasSize(1000);
        assertThat(get(b, "/small.bin")).hasSize(1000);
        Socket c = connect();
        assertThatThrownBy(() -> get(c, "/small.bin")).isInstanceOf(IOException.class);
        assertThat(proxy.stats().refused()).isEqualTo(1);

        String prefix = "fault-proxy-127.0.0.3:" + proxy.port();
        proxy.close();
        assertThat(proxy.openConnections()).isZero();
        assertThat(a.getInputStream().read()).as("clean close: FIN, end of stream").isEqualTo(-1);
        assertThat(Thread.getAllStackTraces().keySet())
                .noneMatch(t -> t.getName().startsWith(prefix) && t.isAlive());
    }

    @Test
    void marksTheFirstByteOnConnectionsNewerThanTheMark() throws Exception {
        Socket before = connect();
        assertThat(get(before, "/small.bin")).hasSize(1000);
        long mark = proxy.mark();
        assertThat(get(before, "/small.bin")).hasSize(1000);
        assertThat(proxy.firstByteSinceMark()).as("old connections do not count").isEmpty();
        assertThat(get(connect(), "/small.bin")).hasSize(1000);
        assertThat(proxy.firstByteSinceMark()).isPresent();
        assertThat(proxy.firstByteSinceMark().getAsLong()).isGreaterThan(mark);
    }

    // ---- raw HTTP/1.1 --------------------------------------------------------------------------

    private Socket connect() throws IOException {
        Socket s = new Socket(proxy.host(), proxy.port());
        s.setSoTimeout(20_000);
        sockets.add(s);
        return s;
    }

    private static void send(Socket s, String path) throws IOException {
        OutputStream out = s.getOutputStream();
        out.write(("GET " + path + " HTTP/1.1\r\nHost: test\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        out.flush();
    }

    private static byte[] get(Socket s, String path) throws IOException {
        send(s, path);
        return readResponse(s.getInputStream());
    }

    /** Reads one response with a Content-Length body; returns the body. */
    private static byte[] readResponse(InputStream in) throws IOException {
        StringBuilder head = new StringBuilder();
        while (!head.toString().endsWith("\r\n\r\n")) {
            int b = in.read();
            if (b < 0) {
                throw new IOException("end of stream in the response head");
            }
            head.append((char) b);
        }
        int length = -1;
        for (String line : head.toString().split("\r\n")) {
            if (line.toLowerCase(Locale.ROOT).startsWith("content-length:")) {
                length = Integer.parseInt(line.substring(15).trim());
            }
        }
        if (length < 0) {
            throw new IOException("no Content-Length in " + head);
        }
        byte[] body = in.readNBytes(length);
        if (body.length < length) {
            throw new IOException("body ended after " + body.length + " of " + length + " bytes");
        }
        return body;
    }
}
