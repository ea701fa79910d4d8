package io.flowget.udf.fetch;

import io.flowget.udf.http.Attempt;
import io.flowget.udf.http.FetchOutcome;
import io.flowget.udf.http.HttpClientHolder;

import org.apache.flink.util.function.ThrowingConsumer;

import org.apache.hc.client5.http.impl.async.CloseableHttpAsyncClient;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The task thread's side of sending an attempt's hop ({@link #send}): it waits for the host name to answer from the
 * DNS cache ({@link DnsGate}; a lookup's end comes back by mail to {@code resolved}), picks the client (a chunk's
 * window, and any request to a host whose last HTTP/1.1 answer was a large body, reads in large buffers while
 * {@code http.LargeBuffers} has a slot), lets a chunk hash its own BLAKE3 blocks ({@link StagingFiles#feeder}), sizes
 * a chunk's next window ({@link ChunkWindows}) and hands the request to {@link AttemptRequests}; the outcome and a
 * probe's stored 206 head come back by mail ({@link MailHandoffs#post}) to the operator's {@link Landing}s. It
 * decides nothing about the download: whether an attempt is still current is the operator's question when its mail
 * runs.
 *
 * <p>Not thread-safe: task thread only (the HTTP callbacks it installs only post mail, stamp the window's answer time
 * and release the large buffer's slot).
 */
final class AttemptDispatch {
    /**
     * An HTTP/1.1 answer at least this long (declared Content-Length, else the stored bytes) marks its host as one
     * that serves large bodies: its next requests read in large buffers while the budget has a slot. Four large
     * buffers' worth (at the default 64 KiB), so that hosts of small files (a page, an image) never take a slot;
     * a 1 MiB file already shows the buffer size in its throughput (BufferSizeBench: 4 KiB gave 0.79x of 8 KiB).
     */
    static final long LARGE_BODY = 256 * 1024;
    /** Hosts remembered as serving large bodies, least recently sent to dropped first (~100 bytes each). */
    static final int LARGE_BODY_HOSTS = 1024;

    /** Where an attempt's outcome or head lands on the task thread (the operator's handler). */
    @FunctionalInterface
    interface Landing {
        void land(Attempt a, FetchOutcome o) throws Exception;
    }

    private final DnsGate dns;
    private final HttpClientHolder.Lease http;
    private final AttemptRequests requests;
    private final ChunkWindows windows;
    private final StagingFiles files;
    private final MailHandoffs mail;
    private final ThrowingConsumer<Attempt, Exception> resolved;
    private final Landing outcome;
    private final Landing head;
    /** Hosts whose last HTTP/1.1 answer was a large body (access order, bounded); task thread only. */
    private final Map<String, Boolean> largeBodyHosts =
            new LinkedHashMap<>(16, 0.75f, true) {
                @Override
                protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
                    return size() > LARGE_BODY_HOSTS;
                }
            };

    AttemptDispatch(
            DnsGate dns,
            HttpClientHolder.Lease http,
            AttemptRequests requests,
            ChunkWindows windows,
            StagingFiles files,
            MailHandoffs mail,
            ThrowingConsumer<Attempt, Exception> resolved,
            Landing outcome,
            Landing head) {
        this.dns = dns;
        this.http = http;
        this.requests = requests;
        this.windows = windows;
        this.files = files;
        this.mail = mail;
        this.resolved = resolved;
        this.outcome = outcome;
        this.head = head;
    }

    /** Sends the attempt's current hop once its host name answers from the DNS cache ({@link DnsGate}). */
    void send(Attempt a, Scheduler.Active act) {
        dns.sendWhenResolved(a, () -> sendNow(a, act), resolved);
    }

    /** Sends the current hop of an attempt. The completion comes back as mail. */
    private void sendNow(Attempt a, Scheduler.Active act) {
        Path staging = files.of(a.host, act, a.generation);
        // A chunk's window, or any request to a host whose last HTTP/1.1 answer was a large body, reads in large
        // buffers while the budget has a slot (LargeBuffers), else small ones. (Not every probe: on a second client,
        // the probes of many small files would open connections beside the main client's, one per probe before
        // ALPN shows an HTTP/2 origin; a host is marked only by an HTTP/1.1 answer.)
        boolean wantsLarge = a.range != null || largeBodyHosts.get(a.host) != null;
        CloseableHttpAsyncClient large = wantsLarge ? http.large().tryAcquire() : null;
        if (a.range != null && a.blake3 == null) {
            a.blake3 = files.feeder(staging, act.d); // the chunk hashes its own BLAKE3 blocks
        }
        if (a.range != null) {
            a.nextWindowBytes = windows.next(act, a); // larger while the download has much left (ChunkWindows)
        }
        requests.send(large != null ? large : http.client(), a, act.d, staging, o -> {
            a.windowAnsweredNanos = System.nanoTime(); // the window's time, without the wait in the mailbox
            if (large != null) {
                http.large().release();
            }
            mail.post("fetch-complete", () -> {
                sawAnswer(a, o);
                outcome.land(a, o);
            });
        }, h -> mail.post("fetch-probe-head", () -> head.land(a, h)));
    }

    /**
     * Remembers whether a 2xx HTTP/1.1 answer to {@code a} was a large body ({@link #LARGE_BODY}: its declared
     * Content-Length, else the bytes stored). A failure or any other status changes nothing; an HTTP/2 answer (its
     * connection has no per-connection buffers to choose) or a smaller declared whole body (not a chunk: a file's
     * last chunk is short) forgets the host.
     */
    void sawAnswer(Attempt a, FetchOutcome o) {
        if (o.error != null || o.status / 100 != 2) {
            return;
        }
        String host = a.host;
        if (o.http2) {
            largeBodyHosts.remove(host);
            return;
        }
        long length = o.contentLength >= 0 ? o.contentLength : o.bytes;
        if (length >= LARGE_BODY) {
            largeBodyHosts.put(host, Boolean.TRUE);
        } else if (o.contentLength >= 0 && a.range == null) {
            largeBodyHosts.remove(host);
        }
    }
}
