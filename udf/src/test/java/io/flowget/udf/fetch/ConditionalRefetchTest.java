package io.flowget.udf.fetch;

import io.flowget.udf.body.Codecs;
import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.Configuration;

import org.apache.commons.codec.digest.Blake3;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.util.Callback;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Conditional re-fetch over a real Jetty origin that honours If-None-Match and If-Modified-Since: the validators of
 * a stored file are sent again, a 304 gives NOT_MODIFIED with the recorded size and digests and leaves the file as
 * it was, and everything that makes the recorded file unusable leads to a full fetch instead.
 */
class ConditionalRefetchTest {
    private static final String LAST_MODIFIED = "Wed, 21 Oct 2015 07:28:00 GMT";

    @TempDir Path tmp;

    private TestOrigin origin;
    /** What the origin serves per path: body, ETag (or null), Last-Modified (or null), Content-Encoding (or null). */
    private final Map<String, String[]> meta = new ConcurrentHashMap<>();
    private final Map<String, byte[]> bodies = new ConcurrentHashMap<>();
    private final List<String> conditionalHeadersSeen = new CopyOnWriteArrayList<>();
    private final AtomicInteger full = new AtomicInteger();
    private final AtomicInteger notModified = new AtomicInteger();

    @RegisterExtension final FetchHarnessExtension fetch = new FetchHarnessExtension();

    @Test
    void aSecondRequestForAnUnchangedFileIsNotModifiedAndLeavesTheFileAlone() throws Exception {
        start();
        byte[] body = TestOrigin.content("etag", 70_000);
        serve("/etag.bin", body, "\"v1\"", null, null);
        serve("/lm.bin", body, null, LAST_MODIFIED, null);
        serve("/both.gz", body, "W/\"weak-1\"", LAST_MODIFIED, "gzip");
        FetchHarness h = harness(FetchHarness.config(tmp));
        List<String> paths = List.of("/etag.bin", "/lm.bin", "/both.gz");
        for (String p : paths) {
            assertThat(h.fetch(req("first" + p, p)).status).isEqualTo(ResultStatus.OK);
        }
        assertThat(conditionalHeadersSeen).as("nothing recorded yet: no conditional headers").isEmpty();
        // A publish renames a new file into place: another inode and mtime. The 304 path must keep both.
        Map<String, Object> inodes = new java.util.HashMap<>();
        Map<String, FileTime> mtimes = new java.util.HashMap<>();
        for (String p : paths) {
            BasicFileAttributes a = Files.readAttributes(h.out().resolve(p.substring(1)), BasicFileAttributes.class);
            inodes.put(p, a.fileKey());
            mtimes.put(p, a.lastModifiedTime());
        }
        assertThat(full.get()).isEqualTo(3);

        for (String p : paths) {
            FetchResult r = h.fetch(req("again" + p, p));
            assertThat(r.status).as("%s", r).isEqualTo(ResultStatus.NOT_MODIFIED);
            assertThat(r.httpStatus).isEqualTo(304);
            assertThat(r.bytes).isEqualTo(body.length);
            assertThat(r.sha256).isEqualTo(FetchOperatorTest.sha256(body));
            assertThat(r.path).isEqualTo(p.substring(1));
            assertThat(r.attempts).isEqualTo(1);
            assertThat(r.blake3).isNull();
            Path f = h.out().resolve(p.substring(1));
            assertThat(Files.readAllBytes(f)).isEqualTo(body);
            BasicFileAttributes a = Files.readAttributes(f, BasicFileAttributes.class);
            assertThat(a.fileKey()).as("file untouched").isEqualTo(inodes.get(p));
            assertThat(a.lastModifiedTime()).as("file untouched").isEqualTo(mtimes.get(p));
        }
        assertThat(full.get()).as("no body was sent again").isEqualTo(3);
        assertThat(notModified.get()).isEqualTo(3);
        assertThat(conditionalHeadersSeen)
                .containsExactlyInAnyOrder(
                        "/etag.bin If-None-Match=\"v1\"",
                        "/lm.bin If-Modified-Since=" + LAST_MODIFIED,
                        "/both.gz If-None-Match=W/\"weak-1\" If-Modified-Since=" + LAST_MODIFIED);
        assertThat(h.stagingFiles()).isEmpty();
        assertThat(h.hostsWithState()).isZero();
    }

    @Test
    void aChangedResourceIsFetchedAndRecordedAgain() throws Exception {
        start();
        serve("/f", "one".getBytes(), "\"1\"", null, null);
        FetchHarness h = harness(FetchHarness.config(tmp));
        assertThat(h.fetch(req("a", "/f")).status).isEqualTo(ResultStatus.OK);
        serve("/f", "two!".getBytes(), "\"2\"", null, null);

        FetchResult changed = h.fetch(req("b", "/f"));
        FetchResult same = h.fetch(req("c", "/f"));

        assertThat(changed.status).isEqualTo(ResultStatus.OK);
        assertThat(changed.bytes).isEqualTo(4);
        assertThat(Files.readString(h.out().resolve("f"))).isEqualTo("two!");
        assertThat(same.status).isEqualTo(ResultStatus.NOT_MODIFIED);
        assertThat(same.sha256).isEqualTo(FetchOperatorTest.sha256("two!".getBytes()));
        assertThat(conditionalHeadersSeen).containsExactly("/f If-None-Match=\"1\"", "/f If-None-Match=\"2\"");
    }

    @Test
    void aFileEditedSinceItWasStoredIsFetchedInFull() throws Exception {
        start();
        byte[] body = TestOrigin.content("edited", 5000);
        serve("/e", body, "\"e\"", LAST_MODIFIED, null);
        FetchHarness h = harness(FetchHarness.config(tmp));
        assertThat(h.fetch(req("a", "/e")).status).isEqualTo(ResultStatus.OK);
        Files.write(h.out().resolve("e"), "local edit".getBytes(), StandardOpenOption.APPEND);

        FetchResult r = h.fetch(req("b", "/e"));

        assertThat(r.status).isEqualTo(ResultStatus.OK);
        assertThat(conditionalHeadersSeen).as("the stamp no longer matches: no validators sent").isEmpty();
        assertThat(Files.readAllBytes(h.out().resolve("e"))).isEqualTo(body);
    }

    @Test
    void anExpectedDigestThatDiffersFromTheStoredFileForcesAFullFetch() throws Exception {
        start();
        serve("/d", "old".getBytes(), "\"same\"", null, null);
        FetchHarness h = harness(FetchHarness.config(tmp));
        assertThat(h.fetch(req("a", "/d")).status).isEqualTo(ResultStatus.OK);
        // The origin claims the same ETag (a broken origin), but the request expects other bytes.
        serve("/d", "new".getBytes(), "\"same\"", null, null);
        FetchRequest expecting = req("b", "/d");
        expecting.sha256 = FetchOperatorTest.sha256("new".getBytes());

        FetchResult r = h.fetch(expecting);

        assertThat(r.status).isEqualTo(ResultStatus.OK);
        assertThat(Files.readString(h.out().resolve("d"))).isEqualTo("new");
        assertThat(conditionalHeadersSeen).isEmpty();
    }

    @Test
    void aPinnedSha256IsCheckedOnTheBytesNotOnAForgeableRecord() throws Exception {
        start();
        byte[] body = TestOrigin.content("pinned", 9000);
        String pin = FetchOperatorTest.sha256(body);
        serve("/p", body, "\"p\"", null, null);
        FetchHarness h = harness(FetchHarness.config(tmp));
        FetchRequest first = req("a", "/p");
        first.sha256 = pin;
        assertThat(h.fetch(first).status).isEqualTo(ResultStatus.OK);
        FetchRequest untouched = req("b", "/p");
        untouched.sha256 = pin;
        FetchResult verified = h.fetch(untouched);
        assertThat(verified.status).as("bytes match the pin: NOT_MODIFIED").isEqualTo(ResultStatus.NOT_MODIFIED);
        assertThat(verified.sha256).isEqualTo(pin);

        // The forgery: other bytes of the same size, the modification time put back, so the recorded stamp
        // (size, mtime) and the recorded sha256 still claim the pinned content.
        Path file = h.out().resolve("p");
        FileTime mtime = Files.getLastModifiedTime(file);
        byte[] forged = TestOrigin.content("forged", 9000);
        Files.write(file, forged);
        Files.setLastModifiedTime(file, mtime);
        conditionalHeadersSeen.clear();
        FetchRequest pinned = req("c", "/p");
        pinned.sha256 = pin;

        FetchResult r = h.fetch(pinned);

        assertThat(r.status).as("%s", r).isEqualTo(ResultStatus.OK);
        assertThat(r.sha256).isEqualTo(pin);
        assertThat(r.attempts).as("the 304, then the full fetch without validators").isEqualTo(2);
        assertThat(conditionalHeadersSeen).as("validators were sent once, before the re-hash").hasSize(1);
        assertThat(Files.readAllBytes(file)).isEqualTo(body);
    }

    @Test
    void theSwitchTurnsConditionalRequestsOff() throws Exception {
        start();
        serve("/s", "body".getBytes(), "\"s\"", LAST_MODIFIED, null);
        Configuration conf = FetchHarness.config(tmp);
        conf.set(FlowgetOptions.FETCH_CONDITIONAL, false);
        FetchHarness h = harness(conf);

        assertThat(h.fetch(req("a", "/s")).status).isEqualTo(ResultStatus.OK);
        assertThat(h.fetch(req("b", "/s")).status).isEqualTo(ResultStatus.OK);

        assertThat(conditionalHeadersSeen).isEmpty();
        assertThat(full.get()).isEqualTo(2);
    }

    @Test
    void blake3IsRecordedAndReportedForNotModified() throws Exception {
        start();
        byte[] body = TestOrigin.content("b3", 20_000);
        serve("/b", body, "\"b\"", null, null);
        serve("/c", body, "\"c\"", null, null);
        FetchHarness plain = harness(FetchHarness.config(tmp.resolve("one")));
        assertThat(plain.fetch(req("without", "/c")).status).isEqualTo(ResultStatus.OK);
        plain.close();
        // Same output directory, BLAKE3 on: /c has no BLAKE3 recorded, so it is fetched again to get one.
        Configuration conf = FetchHarness.config(tmp.resolve("one"));
        conf.set(FlowgetOptions.DIGEST_BLAKE3, true);
        FetchHarness h = harness(conf);

        assertThat(h.fetch(req("a", "/b")).status).isEqualTo(ResultStatus.OK);
        FetchResult b = h.fetch(req("b", "/b"));
        FetchResult c = h.fetch(req("c", "/c"));
        FetchResult c2 = h.fetch(req("c2", "/c"));

        String expected = HexFormat.of().formatHex(Blake3.hash(body));
        assertThat(b.status).isEqualTo(ResultStatus.NOT_MODIFIED);
        assertThat(b.blake3).isEqualTo(expected);
        assertThat(c.status).isEqualTo(ResultStatus.OK);
        assertThat(c.blake3).isEqualTo(expected);
        assertThat(c2.status).isEqualTo(ResultStatus.NOT_MODIFIED);
        assertThat(c2.blake3).isEqualTo(expected);
    }

    @Test
    void a304WithoutARecordedCopyFails() throws Exception {
        start();
        origin.route("/nm", (req, resp, cb, n) -> {
            resp.setStatus(304);
            resp.write(true, ByteBuffer.allocate(0), cb);
        });
        FetchHarness h = harness(FetchHarness.config(tmp));

        FetchResult r = h.fetch(req("nm", "/nm"));

        assertThat(r.status).isEqualTo(ResultStatus.FAILED);
        assertThat(r.httpStatus).isEqualTo(304);
        assertThat(r.error).isEqualTo("http 304 without a recorded copy at nm");
        assertThat(Files.exists(h.out().resolve("nm"))).isFalse();
    }

    // ------------------------------------------------------------------------------------------------

    private void start() throws Exception {
        origin = fetch.track(TestOrigin.start());
    }

    /** Serves {@code body} at {@code path} with validators, answering 304 when the request's validators match. */
    private void serve(String path, byte[] body, String etag, String lastModified, String coding) {
        meta.put(path, new String[] {etag, lastModified, coding});
        bodies.put(path, body);
        origin.route(path, (req, resp, cb, n) -> answer(path, req, resp, cb));
    }

    private void answer(
            String path, org.eclipse.jetty.server.Request req, org.eclipse.jetty.server.Response resp, Callback cb) {
        String[] m = meta.get(path);
        String etag = m[0];
        String lastModified = m[1];
        String inm = req.getHeaders().get(HttpHeader.IF_NONE_MATCH);
        String ims = req.getHeaders().get(HttpHeader.IF_MODIFIED_SINCE);
        if (inm != null || ims != null) {
            conditionalHeadersSeen.add(
                    path + (inm != null ? " If-None-Match=" + inm : "") + (ims != null ? " If-Modified-Since=" + ims : ""));
        }
        if (etag != null) {
            resp.getHeaders().put(HttpHeader.ETAG, etag);
        }
        if (lastModified != null) {
            resp.getHeaders().put(HttpHeader.LAST_MODIFIED, lastModified);
        }
        // RFC 9110 13.2.2: If-None-Match wins; If-Modified-Since only without it.
        boolean current =
                inm != null ? etag != null && weakMatch(inm, etag) : ims != null && ims.equals(lastModified);
        if (current) {
            notModified.incrementAndGet();
            resp.setStatus(304);
            resp.write(true, ByteBuffer.allocate(0), cb);
            return;
        }
        full.incrementAndGet();
        byte[] body = bodies.get(path);
        if (m[2] != null) {
            resp.getHeaders().put(HttpHeader.CONTENT_ENCODING, m[2]);
            body = Codecs.encode(body, m[2]);
        }
        TestOrigin.send(resp, cb, 200, body);
    }

    private static boolean weakMatch(String header, String etag) {
        String e = etag.startsWith("W/") ? etag.substring(2) : etag;
        for (String t : header.split(",")) {
            String v = t.trim();
            if (v.equals("*") || (v.startsWith("W/") ? v.substring(2) : v).equals(e)) {
                return true;
            }
        }
        return false;
    }

    private FetchRequest req(String id, String urlPath) {
        return new FetchRequest(id, origin.url(urlPath), origin.host(), urlPath.substring(1));
    }

    private FetchHarness harness(Configuration conf) throws Exception {
        return fetch.harness(conf, FetchHarness.Clock.STEPPED);
    }
}
