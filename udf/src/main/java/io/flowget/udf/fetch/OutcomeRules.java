package io.flowget.udf.fetch;

import io.flowget.udf.body.Digests;
import io.flowget.udf.http.Attempt;
import io.flowget.udf.http.ContentRange;
import io.flowget.udf.http.FetchOutcome;
import io.flowget.udf.model.Bounded;
import io.flowget.udf.parse.HttpUrl;
import io.flowget.udf.parse.RequestRejectedException;

import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.NoSuchFileException;
import java.time.Duration;
import java.util.Locale;
import java.util.random.RandomGenerator;

/**
 * The rules that turn (download, attempt, outcome) into a {@link Decision}: when a probe's 206 is the whole file,
 * when it plans chunks, when ranges are given up for one plain GET, what is retried and what fails with which
 * reason, where a redirect may go. Pure: reads the download, the attempt and the outcome, changes none of them
 * (a chunk's progress is recorded before, by {@link ChunkedDownloads#record}).
 *
 * <p>Immutable; used on the task thread.
 */
final class OutcomeRules {
    /**
     * Largest representation flowget plans chunks for or accepts a {@code Content-Range} total of (1 TiB), whatever
     * {@code max_bytes} says: a total of 2^62 is a lie, and acting on it (pre-sizing a file) would fail.
     */
    static final long MAX_REPRESENTATION_BYTES = 1L << 40;

    private final FetchSettings settings;
    private final int maxRedirects;
    private final Duration idleTimeout;
    private final RetryPolicy retry;
    private final long noProgressBudgetMillis;
    private final RedirectSecurity redirects;

    OutcomeRules(FetchSettings settings) {
        this.settings = settings;
        this.maxRedirects = settings.maxRedirects;
        this.redirects = settings.redirects;
        this.idleTimeout = settings.idleTimeout;
        this.retry = settings.retry;
        this.noProgressBudgetMillis = settings.noProgressBudgetMillis;
    }

    /**
     * What a download's turn issues: FAIL past its deadline, or (with no attempt out) when its host is refused
     * ({@code refusal}, non-null); else the whole body, the next chunk, or the final digest.
     */
    Decision turn(Download d, boolean idle, boolean finalizing, String refusal, long wallNow) {
        if (d.request.deadline != null && wallNow >= d.request.deadline) {
            return new Decision.Fail(null, deadlineExceeded(d));
        }
        if (idle && refusal != null) {
            return new Decision.Fail(d.lastHttpStatus, refusal); // a dead host past its retry budget
        }
        if (finalizing) {
            return new Decision.Nothing();
        }
        if (d.mode() != Download.Mode.CHUNKED) {
            return idle ? new Decision.Start() : new Decision.Nothing();
        }
        if (Intervals.complete(d.done, d.length)) {
            return idle ? new Decision.Finalize() : new Decision.Nothing();
        }
        return new Decision.NextChunk();
    }

    /**
     * A chunked file's final digest (or the error reading it): OK if its length is the resource's. A file that is
     * gone (neither staged nor published: a crash before the checkpoint that would have published it, issue 15)
     * starts over.
     */
    Decision finalized(Download d, Digests.FileDigest digest, Exception error) {
        if (error instanceof NoSuchFileException) {
            return new Decision.StartOver(false);
        }
        if (error != null) {
            return new Decision.Fail(d.lastHttpStatus, "storage error: " + error.getMessage());
        }
        long limit = settings.maxBytes(d.request);
        if (digest.bytes() > limit) {
            return new Decision.Fail(d.lastHttpStatus, maxBytesExceeded(limit));
        }
        long length = SegmentedChunks.storedLength(d); // plaintext, for an encrypted download
        if (digest.bytes() != length) {
            return new Decision.Fail(
                    d.lastHttpStatus, "length mismatch (expected " + length + ", got " + digest.bytes() + ")");
        }
        return new Decision.Succeed(Results.finalized(d, digest.bytes(), digest.sha256(), digest.blake3()));
    }

    /**
     * A redirect answer: the next hop, or a failure (hop limit, loop, bad Location, scheme other than http(s), an
     * https → http downgrade unless allowed: {@link RedirectSecurity}).
     */
    Decision redirect(Attempt a, FetchOutcome o) {
        if (a.hops >= maxRedirects) {
            return new Decision.Fail(o.status, "too many redirects (more than " + maxRedirects + ")");
        }
        if (o.location.length() > HttpUrl.MAX_URL_CHARS) {
            return new Decision.Fail(o.status, "invalid redirect Location: over " + HttpUrl.MAX_URL_CHARS + " characters");
        }
        URI target;
        try {
            target = new URI(a.url).resolve(new URI(o.location.trim()));
        } catch (URISyntaxException | IllegalArgumentException e) {
            return new Decision.Fail(o.status, "invalid redirect Location: " + Bounded.text(o.location, 256));
        }
        String scheme = target.getScheme() == null ? "" : target.getScheme().toLowerCase(Locale.ROOT);
        if (!scheme.equals("http") && !scheme.equals("https")) {
            return new Decision.Fail(o.status, "redirect to unsupported URL scheme '" + scheme + "'");
        }
        if (target.getHost() == null) {
            return new Decision.Fail(o.status, "invalid redirect Location: " + Bounded.text(o.location, 256));
        }
        String next;
        try {
            // The target passes the checks of a request's own url (host, port 1-65535, length, characters): what
            // the HTTP client is handed must never make it throw.
            next = HttpUrl.parse(stripFragment(target).toString()).toString();
        } catch (RequestRejectedException e) {
            return new Decision.Fail(o.status, "invalid redirect target: " + e.getMessage());
        }
        String insecure = redirects.downgrade(a.url, target);
        if (insecure != null) {
            return new Decision.Fail(o.status, insecure);
        }
        if (a.visited.contains(next)) {
            return new Decision.Fail(o.status, "redirect loop at " + next);
        }
        return new Decision.Redirect(next);
    }

    private static URI stripFragment(URI u) {
        if (u.getRawFragment() == null) {
            return u;
        }
        String s = u.toString();
        return URI.create(s.substring(0, s.indexOf('#')));
    }

    /** The outcome of a probe (first-chunk GET) or of a whole-body GET; {@code wallNow} dates Retry-After. */
    Decision whole(Download d, Attempt a, FetchOutcome o, long wallNow) {
        int s = o.status;
        if (o.error != null) {
            return failure(d, a, o);
        }
        if (a.probe && s == 206) {
            Decision encrypted = SegmentedChunks.probe(d, o, settings.maxBytes(d.request));
            if (encrypted != null) {
                return encrypted; // a Tink-segmented object: segment-aligned chunks of ciphertext
            }
            ContentRange cr = o.contentRange;
            long limit = settings.maxBytes(d.request);
            if (cr != null && cr.complete() > Math.min(limit, MAX_REPRESENTATION_BYTES)) {
                // Checked against the announced total before anything is planned or pre-sized.
                return new Decision.Fail(s, cr.complete() > limit
                        ? maxBytesExceeded(limit) + ": the origin announced " + cr.complete()
                        : "implausible Content-Range total " + cr.complete());
            }
            // A 206 is trusted only as far as its body proves it: exactly the bytes its Content-Range names, with
            // no content coding (the consumer stores no coded 206). Anything else is fetched as one plain GET.
            boolean exact = o.stored && cr != null && o.decodedCoding == null && o.bytes == cr.length();
            if (exact && cr.complete() >= 0 && cr.last() + 1 == cr.complete()) {
                return new Decision.Succeed(o); // the whole file came with the first answer
            }
            String validator = strongValidator(o);
            if (exact && cr.complete() > 0 && validator != null) {
                boolean isEtag = o.etag != null && validator.equals(o.etag.trim());
                return new Decision.PlanChunks(cr.complete(), validator, isEtag, cr.last());
            }
            // An unusable 206, or no validator that could keep two versions apart: one plain GET instead.
            return new Decision.SingleStream();
        }
        if (a.probe && s == 416) {
            return new Decision.SingleStream(); // e.g. an empty file: no byte 0 to range over
        }
        if (s >= 200 && s < 300 && s != 206) {
            return new Decision.Succeed(o);
        }
        if (s == 304) {
            return new Decision.NotModified();
        }
        if (s == 206) {
            return new Decision.Fail(s, "http 206 to a request without Range");
        }
        if (RetryPolicy.isRetryableStatus(s)) {
            return new Decision.Retry("http " + s, retry.retryAfterMillis(o.retryAfter, wallNow));
        }
        return new Decision.Fail(s, s >= 300 && s < 400 ? "http " + s + " without usable Location" : "http " + s);
    }

    /**
     * A probe's response head, while its body still streams: the chunk plan the finished probe would get ({@link
     * #whole}) if its body turns out to be exactly what the head announces, or null when the head alone does not
     * make a plan (the whole file in one answer, no strong validator, a coded or unusable 206, a total over the
     * limits: the finished probe decides as before). The finished probe is then checked as the first chunk
     * ({@link #firstChunk}).
     */
    Decision.PlanChunks planFromHead(Download d, Attempt a, FetchOutcome head) {
        ContentRange cr = head.contentRange;
        if (!a.probe || a.cancelReason != null || d.mode() != Download.Mode.PROBE || head.status != 206
                || !head.stored || cr == null || cr.first() != 0 || cr.complete() <= 0
                || cr.last() + 1 >= cr.complete()
                || cr.complete() > Math.min(settings.maxBytes(d.request), MAX_REPRESENTATION_BYTES)) {
            return null;
        }
        String validator = strongValidator(head);
        if (validator == null) {
            return null;
        }
        boolean isEtag = head.etag != null && validator.equals(head.etag.trim());
        return new Decision.PlanChunks(cr.complete(), validator, isEtag, cr.last());
    }

    /**
     * The outcome of a probe whose download was planned from its head ({@link #planFromHead}): its first chunk
     * stored when the body is exactly the bytes the head announced (same total and validator as planned); a
     * failure is retried as a failed chunk; any other answer (an unusable body, a coding) fetches the file as one
     * plain GET, as an unusable first answer always does.
     */
    Decision firstChunk(Download d, Attempt a, FetchOutcome o) {
        if (o.error != null) {
            return failure(d, a, o);
        }
        // exact: the caller has recorded the chunk in d.done already
        return firstChunkExact(d, a, o)
                ? new Decision.ChunkStored(Intervals.complete(d.done, d.length))
                : new Decision.SingleStream();
    }

    /**
     * Whether a probe planned from its head stored exactly the range it was planned with, of the planned version
     * (total length and validator), without a content coding.
     */
    static boolean firstChunkExact(Download d, Attempt a, FetchOutcome o) {
        ContentRange cr = o.contentRange;
        return o.error == null && o.status == 206 && o.stored && cr != null && cr.first() == 0
                && cr.last() == a.plannedFirstChunkLast && o.decodedCoding == null && o.bytes == cr.length()
                && cr.complete() == d.length && d.validator.equals(strongValidator(o));
    }

    /** The outcome of one chunk of a chunked download (its progress already recorded in the download). */
    Decision chunk(Download d, Attempt a, FetchOutcome o, long wallNow) {
        int s = o.status;
        if (o.error != null) {
            return failure(d, a, o);
        }
        if (s == 206 && o.stored) {
            return new Decision.ChunkStored(Intervals.complete(d.done, d.length));
        }
        if (o.changed || s == 412 || s == 416 || (s == 200 && !sameValidator(d, o))) {
            return new Decision.StartOver(true);
        }
        if (s == 200 || s == 206) {
            // Same resource, but ranges stopped working (or an unusable 206): fall back to one plain GET; the
            // 200 body is never written at an offset.
            return new Decision.SingleStream();
        }
        if (RetryPolicy.isRetryableStatus(s)) {
            return new Decision.Retry("http " + s, retry.retryAfterMillis(o.retryAfter, wallNow));
        }
        return new Decision.Fail(s, "http " + s);
    }

    /**
     * After a transient failure (already counted in the download): FAIL when its attempts (whole bodies) or
     * consecutive failed chunk attempts ran out, or when waiting would pass the request's deadline; else a
     * {@link Decision.Retry} whose delay is the failure's own (Retry-After) or the backoff.
     */
    Decision afterFailure(Download d, Decision.Retry r, boolean chunk, long wallNow, RandomGenerator random) {
        return afterFailure(d, r, chunk, 0, wallNow, random);
    }

    /**
     * {@link #afterFailure(Download, Decision.Retry, boolean, long, RandomGenerator)}, and FAIL with a {@code
     * timeout: no progress ...} reason once {@code stalledMillis} — the time the download spent in attempts without
     * progress, this one included — reached {@code flowget.fetch.no-progress-budget}.
     */
    Decision afterFailure(
            Download d, Decision.Retry r, boolean chunk, long stalledMillis, long wallNow, RandomGenerator random) {
        int count = chunk ? d.failures : d.attempts;
        if (noProgressBudgetMillis > 0 && stalledMillis >= noProgressBudgetMillis) {
            return new Decision.Fail(d.lastHttpStatus, noProgress(stalledMillis, count, r.reason()));
        }
        if (count >= retry.maxAttempts()) {
            String after = chunk ? " (after " + count + " failed chunk attempts)" : " (after " + count + " attempts)";
            return new Decision.Fail(d.lastHttpStatus, r.reason() + after);
        }
        long delay = r.afterMillis() >= 0 ? r.afterMillis() : retry.backoffMillis(count, random);
        if (d.request.deadline != null && wallNow + delay >= d.request.deadline) {
            return new Decision.Fail(d.lastHttpStatus, deadlineExceeded(d));
        }
        return new Decision.Retry(r.reason(), delay);
    }

    /** The reason of a request whose stored size would exceed its {@code max_bytes}. */
    static String maxBytesExceeded(long limit) {
        return "max_bytes exceeded (limit " + limit + " bytes)";
    }

    /** The reason of a request that spent its no-progress budget: {@code timeout: no progress for 60s over 2 ...}. */
    static String noProgress(long stalledMillis, int attempts, String lastError) {
        String last = lastError == null ? "" : lastError.startsWith("timeout: ") ? lastError.substring(9) : lastError;
        return "timeout: no progress for " + Failures.seconds(Duration.ofMillis((stalledMillis / 1000) * 1000))
                + " over " + attempts + (attempts == 1 ? " attempt" : " attempts")
                + (last.isEmpty() ? "" : " (last: " + last + ")");
    }

    /** The reason of a request that ran out of time, with the last error it saw. */
    static String deadlineExceeded(Download d) {
        return "deadline exceeded" + (d.lastError == null ? "" : " (last error: " + d.lastError + ")");
    }

    private Decision failure(Download d, Attempt a, FetchOutcome o) {
        Failures.Failure f = Failures.classify(o.error, a.cancelReason, idleTimeout);
        return f.retryable() ? new Decision.Retry(f.reason(), -1) : new Decision.Fail(d.lastHttpStatus, f.reason());
    }

    /** Chunk requests carry a strong ETag in If-Range, or else Last-Modified; weak ETags never. */
    static String strongValidator(FetchOutcome o) {
        if (o.etag != null) {
            String e = o.etag.trim();
            if (!e.startsWith("W/") && e.length() >= 2 && e.startsWith("\"") && e.endsWith("\"")) {
                return e;
            }
        }
        if (o.lastModified != null && !o.lastModified.isBlank()) {
            return o.lastModified.trim();
        }
        return null;
    }

    private static boolean sameValidator(Download d, FetchOutcome o) {
        String v = d.validatorIsEtag ? o.etag : o.lastModified;
        return v != null && v.trim().equals(d.validator);
    }
}
