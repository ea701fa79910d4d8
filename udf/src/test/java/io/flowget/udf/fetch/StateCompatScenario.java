package io.flowget.udf.fetch;

import io.flowget.udf.body.Digests;
import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MemorySize;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The work held by the committed fetch-operator snapshot {@value #SNAPSHOT}: four hosts on fixed loopback
 * addresses, eleven requests and what each was doing when the snapshot was taken. {@link FetchOperatorSnapshotWriter}
 * produces that state (run against the code whose state format is to be frozen) and
 * {@link FetchOperatorStateCompatibilityTest} restores it into today's operator; both read this one description,
 * so the writer and the test cannot drift apart. {@code src/test/resources/state/README.md} says what the file
 * holds and how it was written.
 *
 * <p><b>Fixed addresses.</b> The snapshot holds absolute URLs, so the test must serve the same host:port again.
 * The addresses 127.0.0.61-64 are used by no other test, and the ports 24761-24764 lie below Linux's ephemeral range
 * (32768-60999), so neither another test's {@code port 0} origin nor an outgoing connection can take them; a
 * process that deliberately listens there makes {@link TestOrigin#start(String, int)} fail with the address.
 *
 * <p>Bodies are {@link TestOrigin#content} of the request id and size, so the test re-creates what the old origin
 * served.
 */
final class StateCompatScenario {
    private StateCompatScenario() {}

    /** Class-path resource of the snapshot (written by {@code OperatorSnapshotUtil.writeStateHandle}). */
    static final String SNAPSHOT = "state/fetch-operator-v1-rocksdb.snapshot";

    /**
     * Wall clock (epoch ms) when the writer wrote the snapshot; every active download's {@code firstAttemptAt} is
     * before it (elapsed times of restored downloads count from then or earlier).
     */
    static final long SNAPSHOT_WRITTEN_AT = 1_796_470_077_462L;

    /**
     * The committed snapshots of this scenario, oldest first; every build restores each of them
     * ({@code FetchOperatorStateCompatibilityTest}). A release that changes what the state holds adds one, written by
     * that release (see {@code src/test/resources/state/README.md}).
     *
     * @param writtenAt {@code SNAPSHOT_WRITTEN_AT} of that snapshot
     * @param a0Ready a0's ready file relative to the staging directory when the snapshot holds a0 as a pending
     *     publish (issue 15: written with checkpoints, a0's file waits for its checkpoint), else null
     */
    enum Fixture {
        /** Commit 433aa05, before the fetch-core split; a0 was published before the snapshot. */
        V1(SNAPSHOT, SNAPSHOT_WRITTEN_AT, null),
        /** Issue 15 (publish with the commit, pooled transactions): a0's file waits in 'pending-publishes'. */
        V2("state/fetch-operator-v2-rocksdb.snapshot", V2_WRITTEN_AT, V2_A0_READY);

        final String resource;
        final long writtenAt;
        final String a0Ready;

        Fixture(String resource, long writtenAt, String a0Ready) {
            this.resource = resource;
            this.writtenAt = writtenAt;
            this.a0Ready = a0Ready;
        }
    }

    /** {@code SNAPSHOT_WRITTEN_AT} of the v2 snapshot. */
    static final long V2_WRITTEN_AT = 1_796_473_865_469L;
    /** a0's ready file in the v2 snapshot's staging directory (the writer's {@code ready} line). */
    static final String V2_A0_READY = "ready/180166f8a751fb6ef6112c985cc59133-0/s0-a0-0.ready";

    /** The harness's processing time while the writer ran (the snapshot's times are relative to it). */
    static final long WRITER_PROCESSING_TIME = 1_000;

    /** A's requests: a0 finished before the snapshot, a1/a2 in flight, a3/a4 queued behind the host limit. */
    static final Origin A = new Origin("127.0.0.61", 24761);
    /** B's requests: b0/b1 in flight, b2 queued. */
    static final Origin B = new Origin("127.0.0.62", 24762);
    /** C: one chunked download (c0) with two chunks done and two in flight. */
    static final Origin C = new Origin("127.0.0.63", 24763);
    /** D: d0 answered 503 with {@code Retry-After: 30} (retry due, host paused), d1 queued behind the pause. */
    static final Origin D = new Origin("127.0.0.64", 24764);

    /** Range chunk size: c0 ({@link #C0_LENGTH} bytes) is six chunks. */
    static final int CHUNK = 16 * 1024;
    static final int C0_LENGTH = 5 * CHUNK + 123;
    /** c0's strong ETag: chunk requests carry it in If-Range. */
    static final String C0_ETAG = "\"statecompat-c0-v1\"";
    /** Chunks starting here or later were held by the writer's origin: c0's done range is [0, this). */
    static final long C0_DONE = 2L * CHUNK;
    /**
     * c0's partial file, as the writer's code named it in the staging directory ({@code <host tag>-<seq>-g<generation>.part}):
     * a literal, so that a change of the naming shows up as a download that starts over.
     */
    static final String C0_STAGING_FILE = "3046d584efa999e5-0-g0.part";

    /** Retry-After of d0's 503, in seconds. */
    static final int D0_RETRY_AFTER_SECONDS = 30;
    /** When d0's retry and D's pause end, in processing time. */
    static final long D0_RETRY_AT = WRITER_PROCESSING_TIME + D0_RETRY_AFTER_SECONDS * 1000L;

    /** The header a1 and a4 carry; their origin answers 400 without it. */
    static final String HEADER = "X-Flowget-Compat";
    /** a4's deadline (2100-01-01T00:00:00Z). */
    static final long A4_DEADLINE = 4_102_444_800_000L;
    /** a3's max_bytes, below its body size: a3 FAILs. */
    static final long A3_MAX_BYTES = 1000;

    /** Ids in submission order: D's, then C's, A's and B's (so that each host gets its permits as described). */
    static final List<String> IDS = List.of("d0", "d1", "c0", "a0", "a1", "a2", "a3", "a4", "b0", "b1", "b2");

    /** A loopback origin at a fixed address and port. */
    record Origin(String address, int port) {
        String url(String path) {
            return "http://" + address + ":" + port + path;
        }

        TestOrigin start() throws Exception {
            return TestOrigin.start(address, port);
        }
    }

    static Origin origin(String id) {
        return switch (id.charAt(0)) {
            case 'a' -> A;
            case 'b' -> B;
            case 'c' -> C;
            case 'd' -> D;
            default -> throw new IllegalArgumentException(id);
        };
    }

    static String urlPath(String id) {
        return "/" + id + ".bin";
    }

    /** The body the origin serves for a request. */
    static byte[] body(String id) {
        int size = switch (id) {
            case "c0" -> C0_LENGTH;
            case "a3" -> 5000;
            default -> 4000 + 1000 * (id.charAt(0) - 'a') + (id.charAt(1) - '0');
        };
        return TestOrigin.content("statecompat-" + id, size);
    }

    static String sha256(String id) {
        return Digests.sha256Hex(body(id));
    }

    /** The request as the writer submitted it (and as the snapshot holds it). */
    static FetchRequest request(String id) {
        Origin o = origin(id);
        FetchRequest r = new FetchRequest(id, o.url(urlPath(id)), o.address(), "statecompat/" + id + ".bin");
        switch (id) {
            case "a1" -> r.headers = Map.of(HEADER, "a1");
            case "a3" -> r.maxBytes = A3_MAX_BYTES;
            case "a4" -> {
                r.headers = Map.of(HEADER, "a4");
                r.sha256 = sha256(id);
                r.deadline = A4_DEADLINE;
            }
            case "b1" -> r.sha256 = sha256(id);
            default -> {}
        }
        return r;
    }

    /** The operator's configuration in the writer and in the test (it is not part of the state). */
    static Configuration config(Path dir) {
        Configuration c = new Configuration();
        c.set(FlowgetOptions.FETCH_MAX_IN_FLIGHT, 6);
        c.set(FlowgetOptions.HOST_MAX_CONCURRENCY, 2);
        c.set(FlowgetOptions.HOST_INITIAL_CONCURRENCY, 2);
        c.set(FlowgetOptions.CHUNK_SIZE, new MemorySize(CHUNK));
        c.set(FlowgetOptions.STORAGE_OUT_DIR, dir.resolve("out").toString());
        c.set(FlowgetOptions.STORAGE_STAGING_DIR, dir.resolve("staging").toString());
        c.set(FlowgetOptions.HTTP_IO_THREADS, 2);
        c.set(FlowgetOptions.NET_POSTURE, FlowgetOptions.NetPosture.LOCAL); // test origins are on loopback
        return c;
    }

    /** c0's partial file as the writer's code left it: pre-sized, the done range filled, the rest zero. */
    static byte[] c0Partial() {
        byte[] partial = new byte[C0_LENGTH];
        System.arraycopy(body("c0"), 0, partial, 0, (int) C0_DONE);
        return partial;
    }
}
