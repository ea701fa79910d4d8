package io.flowget.udf.fetch;

import io.flowget.udf.crypto.Decryption;
import io.flowget.udf.http.Attempt;
import io.flowget.udf.http.BlockedAddressException;
import io.flowget.udf.http.BodyPolicy;
import io.flowget.udf.http.FetchOutcome;
import io.flowget.udf.http.RangeResponseConsumer;
import io.flowget.udf.http.SegmentedRangeConsumer;
import io.flowget.udf.http.StagingResponseConsumer;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.secret.Secrets;

import org.apache.hc.client5.http.impl.async.CloseableHttpAsyncClient;
import org.apache.hc.client5.http.protocol.HttpClientContext;
import org.apache.hc.core5.concurrent.FutureCallback;
import org.apache.hc.core5.http.nio.AsyncRequestProducer;
import org.apache.hc.core5.http.nio.AsyncResponseConsumer;
import org.apache.hc.core5.http.nio.support.AsyncRequestBuilder;

import java.net.URI;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.Future;
import java.util.function.Consumer;

/**
 * Sends the current hop of an attempt: builds its GET (request headers, without credentials on a hop to another
 * origin; Range and If-Range for a chunk, the probe's first-chunk Range, Accept-Encoding, conditional validators)
 * and its response consumer (a chunk writes at its offset; a whole body streams through the body pipeline into the
 * staging file), and hands both to the HTTP client on the {@link AttemptSender}'s thread (the client's
 * {@code execute()}, with its connection lease, is not the task thread's work). The outcome — success, failure or
 * cancellation — reaches {@code done} exactly once, on an I/O thread of the client or the sender's.
 *
 * <p>Immutable; {@link #send} runs on the task thread.
 */
final class AttemptRequests {
    private final FetchSettings settings;
    private final ConditionalFetch conditional;
    /** Where {@code execute()} runs; null runs it on the calling thread. */
    private final AttemptSender sender;

    AttemptRequests(FetchSettings settings, ConditionalFetch conditional, AttemptSender sender) {
        this.settings = settings;
        this.conditional = conditional;
        this.sender = sender;
    }

    /**
     * A new attempt of the download: the whole body ({@code range} null; a probe asks for the first chunk) or one
     * chunk; it ends by the whole-attempt timeout or the request's deadline, whichever is first.
     */
    Attempt newAttempt(String host, long seq, Download d, long[] range, long nowMillis) {
        long deadlineAt = nowMillis + settings.requestTimeoutMillis;
        if (d.request.deadline != null) {
            deadlineAt = Math.min(deadlineAt, d.request.deadline);
        }
        Attempt a = new Attempt(host, seq, d.request.url, nowMillis, deadlineAt);
        a.generation = d.generation;
        a.probe = d.mode() == Download.Mode.PROBE;
        if (range != null) {
            a.range = range;
            a.rangeStart = range[0];
            a.rangeLimit = range[1];
            a.progress = range[0];
        }
        return a;
    }

    /** Sends the attempt's current hop ({@code a.url}); {@code staging} is the download's staging file. */
    void send(CloseableHttpAsyncClient client, Attempt a, Download d, Path staging, Consumer<FetchOutcome> done) {
        send(client, a, d, staging, done, null);
    }

    /**
     * {@link #send}; a plain (not encrypted) probe whose answer is a stored 206 tells {@code storedHead} its head
     * (I/O thread) before its body streams, so that the file's other chunks can be planned at once (null: not told).
     */
    void send(
            CloseableHttpAsyncClient client,
            Attempt a,
            Download d,
            Path staging,
            Consumer<FetchOutcome> done,
            Consumer<FetchOutcome> storedHead) {
        FetchRequest req = d.request;
        boolean nextWindow = a.windows != null;
        if (!nextWindow) {
            a.startHop(); // hop clocks: response timeout and the host's time to first byte
        }
        String blockedPort = settings.addressPolicy.portRefusal(port(a));
        if (blockedPort != null) {
            done.accept(FetchOutcome.failure(new BlockedAddressException(blockedPort))); // nothing sent
            return;
        }
        AsyncRequestBuilder rb = AsyncRequestBuilder.get(a.uri());
        // Credentials go only to the request's own origin (RedirectSecurity), not to a redirect's other host;
        // secret references are resolved only for the headers that are sent, and only here (Secrets).
        Map<String, String> headers;
        try {
            headers = settings.headerSecrets.resolve(settings.redirects.headersFor(req.headers, req.url, a.url));
        } catch (Secrets.SecretUnavailableException e) {
            done.accept(FetchOutcome.failure(e)); // nothing sent
            return;
        }
        for (Map.Entry<String, String> e : headers.entrySet()) {
            rb.addHeader(e.getKey(), e.getValue());
        }
        final AsyncResponseConsumer<FetchOutcome> consumer;
        if (a.range != null && d.segmentBytes > 0) {
            // A chunk of a Tink-segmented object: one request for the whole range, decrypted at its segment
            // offsets (not in windows: a split of it may still make the origin resend what was on its way).
            rb.addHeader("Range", "bytes=" + a.range[0] + "-" + a.range[1]);
            rb.addHeader("If-Range", d.validator);
            rb.addHeader("Accept-Encoding", "identity");
            consumer =
                    new SegmentedRangeConsumer(
                            staging, a, d.length, d.validator, d.validatorIsEtag, settings.decryption(req),
                            settings.keys, d.segmentBytes, d.segmentHeader, false, null);
        } else if (a.range != null) {
            // The chunk in windows: the origin is asked only for the next window, so a split of this attempt
            // takes over bytes nobody asked for yet (none is sent twice).
            long from = a.progress;
            long end = a.requestWindow(from, a.nextWindowBytes > 0 ? a.nextWindowBytes : window(d));
            if (end < 0) {
                // cut below this window meanwhile: the windows so far are the outcome
                done.accept(a.windows != null ? a.windows : FetchOutcome.failure(new IllegalStateException("empty window")));
                return;
            }
            // Ranges apply to the coded bytes, so chunks ask for identity; If-Range makes a changed resource
            // answer 200 (whole new body) instead of a 206 of the new version.
            rb.addHeader("Range", "bytes=" + from + "-" + end);
            rb.addHeader("If-Range", d.validator);
            a.windowSentNanos = System.nanoTime();
            a.windowAnsweredNanos = 0;
            rb.addHeader("Accept-Encoding", "identity");
            consumer =
                    new RangeResponseConsumer(
                            staging, a, from, nextWindow, d.length, d.validator, d.validatorIsEtag);
        } else {
            long maxBytes = settings.maxBytes(req);
            // An encrypted probe (only chunkable objects probe) asks for whole segments and reads the header.
            Decryption segmented = a.probe ? settings.decryption(req) : null;
            segmented = SegmentedChunks.chunkable(segmented) ? segmented : null;
            if (a.probe) {
                long probeBytes =
                        segmented != null ? SegmentedChunks.probeBytes(settings.chunkSize, segmented) : settings.chunkSize;
                rb.addHeader("Range", "bytes=0-" + (probeBytes - 1));
                rb.addHeader("Accept-Encoding", "identity");
            } else {
                // Stored bytes are the decoded representation (CONTRACT.md): offer what the pipeline decodes.
                rb.addHeader("Accept-Encoding", FetchSettings.ACCEPT_ENCODING);
            }
            // Conditional re-fetch: the validators recorded with the file an earlier run stored
            // (ConditionalFetch); they replace conditional headers of the request event, which could not
            // describe that file. On a probe, a matching validator wins over Range (RFC 9110 §13.2.2): 304.
            conditional.headers(req, maxBytes).forEach(rb::setHeader);
            var whole =
                    new StagingResponseConsumer(
                            settings.digestOnly ? null : staging,
                            new BodyPolicy(
                                    maxBytes,
                                    settings.maxDecodeRatio,
                                    settings.blake3,
                                    settings.decryption(req),
                                    settings.keys),
                            a);
            if (a.probe && segmented == null && storedHead != null && !settings.digestOnly) {
                whole.onStoredHead(storedHead);
            }
            consumer =
                    segmented == null
                            ? whole
                            : new SegmentedRangeConsumer(
                                    staging, a, -1, null, false, segmented, settings.keys,
                                    segmented.scheme().ciphertextSegmentSize(), null, SegmentedChunks.sniffs(segmented),
                                    whole);
        }
        AsyncRequestProducer request = rb.build();
        FutureCallback<FetchOutcome> callback =
                new FutureCallback<>() {
                    @Override
                    public void completed(FetchOutcome result) {
                        done.accept(result);
                    }

                    @Override
                    public void failed(Exception ex) {
                        consumer.releaseResources(); // idempotent; a cancelled exchange may not call it
                        // An unchecked exception here is the exchange's own (the pool, the protocol code, a
                        // consumer): the request's retryable failure, not a final internal error
                        done.accept(FetchOutcome.failure(ExchangeFailure.of(ex)));
                    }

                    @Override
                    public void cancelled() {
                        // The operator cancelled the attempt mid-body (a timeout, the low-speed guard):
                        // HttpClient does not always tell the consumer, whose body pipeline must close.
                        consumer.releaseResources();
                        done.accept(FetchOutcome.failure(new CancellationException()));
                    }
                };
        Runnable execute = () -> {
            try {
                Future<FetchOutcome> f = client.execute(request, consumer, null, HttpClientContext.create(), callback);
                a.future = f;
                // A cancel() that raced with execute() (sweeper timeout, a superseded attempt) must still reach
                // the new future: cancel() sets the reason before it reads the future, this reads it after.
                if (a.cancelReason != null) {
                    f.cancel(true);
                }
            } catch (RuntimeException e) { // e.g. the client closed under a late send: the attempt's own failure
                consumer.releaseResources();
                done.accept(FetchOutcome.failure(e));
            }
        };
        if (sender == null) {
            execute.run();
        } else if (!sender.submit(execute)) {
            consumer.releaseResources(); // shutting down: the request is still in keyed state
            done.accept(FetchOutcome.failure(new CancellationException("shutdown")));
        }
    }

    /**
     * The base window of a chunk attempt ({@link ChunkWindows#base}): a quarter of the download's chunk size, at least
     * {@code flowget.chunk.min-split}; an attempt's first window and every window near the download's end. Smaller
     * windows let a split take over more of a slow chunk; each costs one more request round trip on the attempt's
     * connection. A later window may be larger ({@link Attempt#nextWindowBytes}, chosen by {@link ChunkWindows}).
     */
    long window(Download d) {
        return ChunkWindows.base(settings, d);
    }

    /**
     * After one window of a chunk attempt: null when the attempt goes on with its next window (send it again: it
     * asks from {@link Attempt#progress} on), else the attempt's outcome, its windows merged into the first
     * window's answer (a failure, or an answer that is not the next part of the same 206, ends it as it is: the
     * bytes written before a failure are kept by the attempt's progress). Task thread.
     */
    static FetchOutcome afterWindow(Attempt a, FetchOutcome o) {
        if (a.range == null || a.requestedEnd() < 0) {
            return o; // not a chunk, or one not asked for in windows (a segmented object's)
        }
        boolean part = o.error == null && o.status == 206 && o.stored && !o.changed && o.rangeLast >= o.rangeFirst;
        FetchOutcome merged = a.windows;
        if (!part) {
            return o;
        }
        ChunkWindows.windowEnded(a, o.rangeLast - o.rangeFirst + 1);
        if (merged == null) {
            merged = o;
            a.windows = o;
        } else {
            merged.rangeLast = o.rangeLast;
            merged.bytes = merged.rangeLast - merged.rangeFirst + 1;
        }
        boolean more = o.rangeLast >= a.requestedEnd() && o.rangeLast < a.rangeLimit && a.cancelReason == null;
        return more ? null : merged;
    }

    /** The port a URL connects to (its scheme's default when it names none); -1 when it cannot tell. */
    private static int port(Attempt a) {
        try {
            URI u = a.uri();
            return u.getPort() >= 0 ? u.getPort() : "https".equalsIgnoreCase(u.getScheme()) ? 443 : 80;
        } catch (IllegalArgumentException e) {
            return -1;
        }
    }
}
