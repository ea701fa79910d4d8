package io.flowget.udf.fetch;

import io.flowget.udf.body.Digests;
import io.flowget.udf.body.Encryptors;
import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.crypto.DecryptScheme;
import io.flowget.udf.crypto.SegmentGeometry;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.RangeRoute;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.util.OperatorSnapshotUtil;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * State compatibility of a chunked download of a Tink-segmented encrypted object (issue 18): the committed snapshot
 * {@value #SNAPSHOT} holds e0 half-way — its probe and two chunks stored (ciphertext bytes 0-49151, whole
 * segments), two chunks in flight, the object's header and segment size in {@code Download.segmentHeader} and
 * {@code Download.segmentBytes}. Every later build must restore it and finish e0 from the persisted header alone:
 * only ranges from byte 49152 on are asked for, and the plaintext is byte-exact. A change of those fields, or of
 * how ciphertext ranges map onto the plaintext staging file, fails here.
 *
 * <p>The ciphertext ({@value #CIPHERTEXT}) is committed beside the snapshot because Tink draws the header's salt
 * and nonce prefix at random: the origin must serve the very object the state describes. The origin listens on
 * 127.0.0.65:24765 (used by no other test; below the ephemeral port range, as in {@link StateCompatScenario}).
 * {@link #writeSnapshot} wrote both files; it runs only with {@code -Dflowget.statecompat.encrypted.out=DIR}.
 */
class EncryptedStateCompatibilityTest {
    static final String SNAPSHOT = "state/fetch-operator-v3-encrypted-rocksdb.snapshot";
    static final String CIPHERTEXT = "state/fetch-operator-v3-encrypted-e0.tink";
    /** e0's staging file in the snapshot's staging directory (the writer's {@code staging} line). */
    static final String E0_STAGING_FILE = "4eda43d15d002a29-defa8ff7e5a791c49-g0.part";

    private static final String HOST = "127.0.0.65";
    private static final int PORT = 24765;
    private static final byte[] KEY = Encryptors.key(41);
    private static final DecryptScheme SCHEME = DecryptScheme.TINK_AES256_GCM_HKDF_4KB;
    private static final String ETAG = "\"statecompat-e0-v1\"";
    /** Ciphertext bytes stored before the snapshot: the probe and two chunks of 16 KiB (StateCompatScenario.CHUNK). */
    private static final long DONE = 3L * StateCompatScenario.CHUNK;

    @TempDir Path tmp;

    @RegisterExtension final FetchHarnessExtension fetch = new FetchHarnessExtension();

    private static byte[] plain() {
        return TestOrigin.content("statecompat-e0", 120_000);
    }

    private Configuration config() throws Exception {
        Path keys = Files.createDirectories(tmp.resolve("keys"));
        Files.writeString(keys.resolve("e"), HexFormat.of().formatHex(KEY));
        Configuration c = StateCompatScenario.config(tmp);
        c.set(FlowgetOptions.DECRYPT_KEY_DIR, keys.toString());
        return c;
    }

    private static FetchRequest request() {
        FetchRequest r = new FetchRequest("e0", "http://" + HOST + ":" + PORT + "/e0.bin", HOST, "statecompat/e0.bin");
        r.decryptKeyId = "e";
        r.decryptScheme = SCHEME.token();
        r.decryptEncoding = "identity";
        r.sha256 = Digests.sha256Hex(plain());
        return r;
    }

    @Test
    void restoresAHalfDoneEncryptedChunkedDownloadFromItsPersistedHeader() throws Exception {
        byte[] cipher = resource(CIPHERTEXT);
        byte[] plain = plain();
        SegmentGeometry g = new SegmentGeometry(SCHEME.ciphertextSegmentSize());
        assertThat(g.plaintextLength(cipher.length)).isEqualTo(plain.length);
        TestOrigin origin = fetch.track(TestOrigin.start(HOST, PORT));
        RangeRoute route = RangeRoute.of(cipher, ETAG);
        origin.route("/e0.bin", route);
        // The staging directory belongs to the checkpoint: the plaintext of the stored segments, zeros after.
        Path staging = Files.createDirectories(tmp.resolve("staging"));
        Files.write(staging.resolve(E0_STAGING_FILE), partial(cipher));
        OperatorSubtaskState snapshot = OperatorSnapshotUtil.readStateHandle(resourcePath(SNAPSHOT));

        FetchHarness h = fetch.harness(config(), snapshot, FetchHarness.Clock.STEPPED);
        FetchResult r = h.results(1).get(0);

        assertThat(r.status).as("%s", r.error).isEqualTo(ResultStatus.OK);
        assertThat(r.sha256).isEqualTo(Digests.sha256Hex(plain));
        assertThat(r.bytes).isEqualTo(plain.length);
        assertThat(Files.readAllBytes(h.out().resolve("statecompat/e0.bin"))).isEqualTo(plain);
        assertThat(route.requests).as("only what was not stored, at segment boundaries, never the header again")
                .contains("49152-65535")
                .allSatisfy(range -> {
                    long start = Long.parseLong(range.substring(0, range.indexOf('-')));
                    assertThat(start).isGreaterThanOrEqualTo(DONE);
                    assertThat(start % SCHEME.ciphertextSegmentSize()).isZero();
                });
        assertThat(h.stagingFiles()).isEmpty();
    }

    /**
     * Writes {@value #SNAPSHOT} and {@value #CIPHERTEXT} into {@code -Dflowget.statecompat.encrypted.out=DIR}: e0
     * with ranges from byte 49152 on held at the origin, snapshot once the first three ranges are stored and two
     * more are in flight. Prints the staging file's name for {@link #E0_STAGING_FILE}.
     */
    @Test
    @EnabledIfSystemProperty(named = "flowget.statecompat.encrypted.out", matches = ".+")
    void writeSnapshot() throws Exception {
        Path dir = Path.of(System.getProperty("flowget.statecompat.encrypted.out")).toAbsolutePath();
        byte[] cipher = Encryptors.tink(SCHEME, KEY, plain());
        TestOrigin origin = fetch.track(TestOrigin.start(HOST, PORT));
        RangeRoute route = RangeRoute.of(cipher, ETAG).holdRangesWhere(start -> start >= DONE);
        origin.route("/e0.bin", route);
        FetchHarness h = fetch.harness(config(), FetchHarness.Clock.STEPPED);
        h.submit(request());
        h.drainUntil(() -> route.requests.size() >= 5 && h.getOperator().forTests().inFlightCount() == 2);
        h.drainFor(Duration.ofMillis(300));
        assertThat(new ArrayList<>(route.requests)).containsExactlyInAnyOrder(
                "0-16383", "16384-32767", "32768-49151", "49152-65535", "65536-81919");
        OperatorSubtaskState snapshot = h.snapshot(1L, 1L);
        Files.createDirectories(dir.resolve("state"));
        OperatorSnapshotUtil.writeStateHandle(snapshot, dir.resolve(SNAPSHOT).toString());
        Files.write(dir.resolve(CIPHERTEXT), cipher);
        List<Path> staged = h.stagingFiles();
        assertThat(staged).hasSize(1);
        System.out.println("staging " + staged.get(0).getFileName() + " " + Files.size(staged.get(0)) + " bytes");
        assertThat(Files.readAllBytes(staged.get(0))).as("what the restore test re-creates").isEqualTo(partial(cipher));
        h.crash("the snapshot is written; the restore test finishes the work");
        route.release();
    }

    /** e0's staging file at the snapshot: pre-sized to the plaintext, the stored segments' plaintext, zeros after. */
    private static byte[] partial(byte[] cipher) {
        byte[] plain = plain();
        byte[] partial = new byte[plain.length];
        SegmentGeometry g = new SegmentGeometry(SCHEME.ciphertextSegmentSize());
        System.arraycopy(plain, 0, partial, 0, (int) g.plaintextBefore(DONE, cipher.length));
        return partial;
    }

    private static byte[] resource(String name) throws Exception {
        try (InputStream in = EncryptedStateCompatibilityTest.class.getClassLoader().getResourceAsStream(name)) {
            assertThat(in).as("class-path resource %s", name).isNotNull();
            return in.readAllBytes();
        }
    }

    private static String resourcePath(String name) throws Exception {
        var url = EncryptedStateCompatibilityTest.class.getClassLoader().getResource(name);
        assertThat(url).as("class-path resource %s", name).isNotNull();
        return Path.of(url.toURI()).toString();
    }
}
