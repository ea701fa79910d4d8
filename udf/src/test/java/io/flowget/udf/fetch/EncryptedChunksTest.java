package io.flowget.udf.fetch;

import io.flowget.udf.body.Codecs;
import io.flowget.udf.body.Digests;
import io.flowget.udf.body.Encryptors;
import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.crypto.DecryptScheme;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.RangeRoute;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Tink-segmented encrypted objects fetched in parallel Range chunks, each chunk decrypted on its own at its segment
 * offsets (README "Encrypted payloads"): byte-exact plaintext and digests for sizes from 0 to many chunks; every
 * Range request starts at a segment boundary and several are in flight at once; damaged objects (a flipped bit in
 * the first, a middle or the last segment, truncated, extended, reordered, a wrong key) FAIL with nothing at the path
 * and no staging file; a crash half-way resumes from the persisted header and segment geometry, fetching only the
 * chunks that were not stored.
 */
class EncryptedChunksTest {
    private static final byte[] KEY = Encryptors.key(31);
    private static final byte[] OTHER = Encryptors.key(32);
    private static final DecryptScheme TINK_4K = DecryptScheme.TINK_AES256_GCM_HKDF_4KB;

    @TempDir Path tmp;

    @RegisterExtension final FetchHarnessExtension fetch = new FetchHarnessExtension();

    private Configuration config(int hostLimit) throws Exception {
        Path keys = Files.createDirectories(tmp.resolve("keys"));
        Files.writeString(keys.resolve("k1"), HexFormat.of().formatHex(KEY) + "\n");
        Files.write(keys.resolve("k2"), OTHER);
        Configuration c = FetchHarness.config(tmp, 16, hostLimit);
        c.set(FlowgetOptions.RETRY_INITIAL_BACKOFF, Duration.ofMillis(1));
        c.set(FlowgetOptions.RETRY_MAX_BACKOFF, Duration.ofMillis(1));
        c.set(FlowgetOptions.DECRYPT_KEY_DIR, keys.toString());
        c.set(FlowgetOptions.CHUNK_SIZE, MemorySize.parse("64kb"));
        c.set(FlowgetOptions.CHUNK_MIN_SPLIT, MemorySize.parse("16kb"));
        return c;
    }

    private static FetchRequest request(TestOrigin origin, String name, String keyId, DecryptScheme scheme) {
        FetchRequest r = new FetchRequest(name, origin.url("/" + name), origin.host(), name);
        r.decryptKeyId = keyId;
        r.decryptScheme = scheme.token();
        return r;
    }

    @Test
    void segmentedObjectsAreDecryptedChunkByChunkInParallel() throws Exception {
        TestOrigin origin = fetch.track(TestOrigin.start());
        FetchHarness h = fetch.harness(config(4), FetchHarness.Clock.STEPPED);
        // 0 bytes, inside the first segment, exactly the first chunk's plaintext, one byte more, many chunks
        int chunkPlain = 16 * (4096 - 16) - 40;
        int[] sizes = {0, 100, chunkPlain, chunkPlain + 1, 200_000, 1_000_003};
        Map<String, byte[]> plain = new HashMap<>();
        Map<String, RangeRoute> routes = new HashMap<>();
        List<FetchRequest> requests = new ArrayList<>();
        for (int size : sizes) {
            for (String encoding : new String[] {"identity", null}) {
                String name = "t4-" + size + "-" + (encoding == null ? "auto" : encoding);
                byte[] p = TestOrigin.content(name, size);
                p = size > 0 && p[0] == 0x1f ? flipFirst(p) : p; // random bytes, never a gzip magic
                RangeRoute route = RangeRoute.of(Encryptors.tink(TINK_4K, KEY, p), "\"" + name + "\"")
                        .delayPerRange(Duration.ofMillis(5));
                origin.route("/" + name, route);
                routes.put(name, route);
                plain.put(name, p);
                FetchRequest r = request(origin, name, "k1", TINK_4K);
                r.decryptEncoding = encoding;
                requests.add(r);
            }
        }
        // 1 MiB segments: a 64 KiB chunk size becomes one segment per chunk
        byte[] big = TestOrigin.content("t1m", 3 * 1024 * 1024 + 77);
        RangeRoute bigRoute = RangeRoute.of(Encryptors.tink(DecryptScheme.TINK_AES256_GCM_HKDF_1MB, KEY, big), "\"b\"");
        origin.route("/t1m", bigRoute);
        FetchRequest bigRequest = request(origin, "t1m", "k1", DecryptScheme.TINK_AES256_GCM_HKDF_1MB);
        bigRequest.decryptEncoding = "identity";
        bigRequest.sha256 = Digests.sha256Hex(big);
        requests.add(bigRequest);
        plain.put("t1m", big);
        routes.put("t1m", bigRoute);

        h.submit(requests.toArray(new FetchRequest[0]));
        for (FetchResult r : h.results(requests.size())) {
            byte[] expected = plain.get(r.id);
            assertThat(r.status).as("%s: %s", r.id, r.error).isEqualTo(ResultStatus.OK);
            assertThat(Files.readAllBytes(h.out().resolve(r.path))).as(r.id).isEqualTo(expected);
            assertThat(r.sha256).as(r.id).isEqualTo(Digests.sha256Hex(expected));
            assertThat(r.bytes).as(r.id).isEqualTo(expected.length);
            int segment = r.id.equals("t1m") ? 1 << 20 : 4096;
            List<String> asked = routes.get(r.id).requests;
            assertThat(asked).as(r.id).doesNotContain("whole");
            assertThat(asked).as("%s: every range starts at a segment boundary", r.id)
                    .allSatisfy(range -> assertThat(Long.parseLong(range.substring(0, range.indexOf('-'))) % segment)
                            .isZero());
        }
        assertThat(routes.get("t4-1000003-identity").requests).as("chunked").hasSizeGreaterThan(10);
        assertThat(routes.get("t4-1000003-auto").requests).as("chunked after the probe looked").hasSizeGreaterThan(10);
        assertThat(routes.get("t1m").requests).hasSize(4);
        assertThat(routes.get("t4-100-identity").requests).as("the whole object in the probe's answer").hasSize(1);
        assertThat(origin.maxConcurrent()).as("chunks decrypted in parallel").isGreaterThanOrEqualTo(2);
        assertThat(h.stagingFiles()).isEmpty();
    }

    @Test
    void compressedPlaintextIsDetectedByTheProbeAndFetchedAsOneStream() throws Exception {
        TestOrigin origin = fetch.track(TestOrigin.start());
        FetchHarness h = fetch.harness(config(4), FetchHarness.Clock.STEPPED);
        List<FetchRequest> requests = new ArrayList<>();
        Map<String, byte[]> plain = new HashMap<>();
        Map<String, RangeRoute> routes = new HashMap<>();
        for (String inner : new String[] {"gzip", "zstd", "br"}) {
            String name = "inner-" + inner;
            byte[] p = TestOrigin.content(name, 600_000); // incompressible: above one chunk when compressed
            RangeRoute route = RangeRoute.of(Encryptors.tink(TINK_4K, KEY, Codecs.encode(p, inner)), "\"" + name + "\"");
            origin.route("/" + name, route);
            FetchRequest r = request(origin, name, "k1", TINK_4K);
            r.decryptEncoding = inner.equals("br") ? "br" : null; // br has no magic number: named
            requests.add(r);
            plain.put(name, p);
            routes.put(name, route);
        }
        h.submit(requests.toArray(new FetchRequest[0]));
        for (FetchResult r : h.results(requests.size())) {
            assertThat(r.status).as("%s: %s", r.id, r.error).isEqualTo(ResultStatus.OK);
            assertThat(Files.readAllBytes(h.out().resolve(r.path))).as(r.id).isEqualTo(plain.get(r.id));
            assertThat(r.sha256).isEqualTo(Digests.sha256Hex(plain.get(r.id)));
        }
        assertThat(routes.get("inner-gzip").requests).containsExactly("0-65535", "whole");
        assertThat(routes.get("inner-zstd").requests).containsExactly("0-65535", "whole");
        assertThat(routes.get("inner-br").requests).as("named inner coding: one stream at once").containsExactly("whole");
        assertThat(h.stagingFiles()).as("the probe's partial plaintext is discarded").isEmpty();
    }

    @Test
    void shortAnswersStoreOnlyWholeSegmentsAndTheRestIsFetchedAgain() throws Exception {
        TestOrigin origin = fetch.track(TestOrigin.start());
        FetchHarness h = fetch.harness(config(4), FetchHarness.Clock.STEPPED);
        byte[] p = TestOrigin.content("short", 300_000);
        // every 206 carries at most 10,000 bytes: two whole segments and a part of a third, which is dropped
        RangeRoute route = RangeRoute.of(Encryptors.tink(TINK_4K, KEY, p), "\"s\"").maxRangeBytes(10_000);
        origin.route("/short", route);
        FetchRequest r = request(origin, "short", "k1", TINK_4K);
        r.decryptEncoding = "identity";
        FetchResult result = h.fetch(r);
        assertThat(result.status).as(result.error).isEqualTo(ResultStatus.OK);
        assertThat(Files.readAllBytes(h.out().resolve("short"))).isEqualTo(p);
        assertThat(result.sha256).isEqualTo(Digests.sha256Hex(p));
        assertThat(route.requests).doesNotContain("whole").hasSizeGreaterThan(30)
                .allSatisfy(range -> assertThat(Long.parseLong(range.substring(0, range.indexOf('-'))) % 4096).isZero());
        assertThat(h.stagingFiles()).isEmpty();
    }

    @Test
    void damagedChunkedObjectsFailWithNothingVisible() throws Exception {
        TestOrigin origin = fetch.track(TestOrigin.start());
        FetchHarness h = fetch.harness(config(4), FetchHarness.Clock.STEPPED);
        byte[] p = TestOrigin.content("damaged", 700_000);
        byte[] good = Encryptors.tink(TINK_4K, KEY, p);
        int seg = TINK_4K.ciphertextSegmentSize();
        Map<String, byte[]> bodies = new LinkedHashMap<>();
        bodies.put("wrong-key", good);
        bodies.put("flip-first", flip(good, 100));
        bodies.put("flip-middle", flip(good, 90 * seg + 7));
        bodies.put("flip-last", flip(good, good.length - 3));
        bodies.put("truncated", Arrays.copyOf(good, good.length - 10));
        bodies.put("truncated-at-segment", Arrays.copyOf(good, (good.length / seg) * seg));
        bodies.put("trailing", Arrays.copyOf(good, good.length + 7));
        bodies.put("trailing-segment", Arrays.copyOf(good, good.length + seg));
        byte[] swapped = good.clone();
        System.arraycopy(good, 100 * seg, swapped, 101 * seg, seg);
        System.arraycopy(good, 101 * seg, swapped, 100 * seg, seg);
        bodies.put("reordered", swapped);
        List<FetchRequest> requests = new ArrayList<>();
        for (Map.Entry<String, byte[]> e : bodies.entrySet()) {
            origin.route("/" + e.getKey(), RangeRoute.of(e.getValue(), "\"" + e.getKey() + "\""));
            FetchRequest r = request(origin, e.getKey(), e.getKey().equals("wrong-key") ? "k2" : "k1", TINK_4K);
            r.decryptEncoding = "identity";
            requests.add(r);
        }
        h.submit(requests.toArray(new FetchRequest[0]));
        for (FetchResult r : h.results(requests.size())) {
            assertThat(r.status).as("%s: %s", r.id, r.error).isEqualTo(ResultStatus.FAILED);
            assertThat(r.error).as(r.id).startsWith("decryption failed: ");
            assertThat(r.error).doesNotContain(HexFormat.of().formatHex(KEY)).doesNotContain(HexFormat.of().formatHex(OTHER));
            assertThat(h.out().resolve(r.id)).as(r.id).doesNotExist();
        }
        assertThat(h.stagingFiles()).isEmpty();
    }

    /**
     * Crash half-way: the probe and the first chunks are stored, the rest hangs at the origin; snapshot, crash,
     * restore on RocksDB. The restored operator has only the persisted header and geometry to decrypt the remaining
     * chunks with (nothing below the hold point is asked for again, the header included); the result is
     * byte-exact.
     */
    @Test
    void crashHalfWayThroughAChunkedEncryptedDownloadResumes() throws Exception {
        TestOrigin origin = fetch.track(TestOrigin.start());
        byte[] p = TestOrigin.content("resume", 1_200_000);
        byte[] cipher = Encryptors.tink(TINK_4K, KEY, p);
        long hold = 8 * 65536L;
        RangeRoute route = RangeRoute.of(cipher, "\"r1\"").holdRangesWhere(start -> start >= hold);
        origin.route("/resume", route);
        Configuration conf = config(2);
        FetchHarness first = fetch.harness(conf, FetchHarness.Clock.STEPPED);
        FetchRequest req = request(origin, "resume", "k1", TINK_4K);
        req.decryptEncoding = "identity";
        req.sha256 = Digests.sha256Hex(p);
        first.submit(req);
        // chunks 0..7 stored; two hang in flight (host limit 2), the others wait
        first.drainUntil(() -> route.requests.size() >= 10 && first.getOperator().forTests().inFlightCount() == 2);
        first.drainFor(Duration.ofMillis(200));
        assertThat(first.out().resolve("resume")).as("half a plaintext is never visible").doesNotExist();
        OperatorSubtaskState snapshot = first.snapshot(1L, 1L);
        first.crash("a crash half-way through the chunked encrypted download");
        route.release();
        int before = route.requests.size();

        FetchHarness second = fetch.harness(conf, snapshot, FetchHarness.Clock.STEPPED);
        FetchResult r = second.results(1).get(0);
        assertThat(r.status).as("%s", r.error).isEqualTo(ResultStatus.OK);
        assertThat(r.sha256).isEqualTo(Digests.sha256Hex(p));
        assertThat(Files.readAllBytes(second.out().resolve("resume"))).isEqualTo(p);
        List<String> after = new ArrayList<>(route.requests.subList(before, route.requests.size()));
        assertThat(after)
                .as("only chunks not stored before the crash are fetched again, at segment boundaries")
                .isNotEmpty()
                .doesNotContain("whole")
                .allSatisfy(range -> {
                    long start = Long.parseLong(range.substring(0, range.indexOf('-')));
                    assertThat(start).isGreaterThanOrEqualTo(hold);
                    assertThat(start % 4096).isZero();
                });
        assertThat(first.extractOutputValues()).isEmpty();
        assertThat(second.stagingFiles()).isEmpty();
    }

    private static byte[] flip(byte[] b, int at) {
        byte[] c = b.clone();
        c[at] ^= 0x01;
        return c;
    }

    private static byte[] flipFirst(byte[] b) {
        byte[] c = b.clone();
        c[0] = 0;
        return c;
    }
}
