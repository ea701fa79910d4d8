package io.flowget.udf.fetch.host;

import org.apache.flink.annotation.Internal;

import javax.annotation.concurrent.NotThreadSafe;

/**
 * One host's request and byte rate limits as token buckets: a request may go while the request bucket holds a
 * token and the byte bucket is not in debt; a host out of tokens is posted to {@link WakeUps#at} for the time its
 * buckets will have refilled.
 *
 * <p>Refilled from processing time (ms): one request token per 1/{@code requestsPerSecond} s, up to one second's
 * worth (at least 1); body bytes are charged when a response ends ({@link #onBody}), so the byte bucket may go
 * into debt by one body, refilling at {@code bytesPerSecond} up to one second's worth. A rate of 0 is no limit.
 * Hand-written: two counters per host need no library, and the wake-up must go through the operator's ring, not
 * a blocking acquire. A host that is refused again before its wake-up gets no second one unless the new time is
 * earlier. The buckets start full at the first use.
 *
 * <p>In memory only. Not thread-safe: one instance per host, owned by {@code HostPoliteness}, task thread only.
 */
@Internal
@NotThreadSafe
public final class RateLimiter {
    /** {@code flowget.host.max-requests-per-second} and {@code max-bytes-per-second}, per host; 0 is none. */
    public record Settings(double requestsPerSecond, double bytesPerSecond) {
        /** One of {@code shards} equal shares of these rates (a shard of a spread host); itself for 1. */
        public Settings dividedBy(int shards) {
            return shards <= 1 ? this : new Settings(requestsPerSecond / shards, bytesPerSecond / shards);
        }
    }

    private final String host;
    private final Settings settings;
    private final WakeUps wakeUps;
    private double requestTokens;
    private double byteTokens;
    /** Processing time of the last refill; 0 before the first use. */
    private long tokensAt;
    /** The wake-up posted last. */
    private long wakeAt;

    public RateLimiter(String host, Settings settings, WakeUps wakeUps) {
        this.host = host;
        this.settings = settings;
        this.wakeUps = wakeUps;
    }

    /** True when the buckets let one more request go now; else posts a wake-up for when they will. */
    public boolean mayIssue(long now) {
        double rps = settings.requestsPerSecond();
        double bps = settings.bytesPerSecond();
        if (rps <= 0 && bps <= 0) {
            return true;
        }
        refill(now);
        long wake = 0;
        if (rps > 0 && requestTokens < 1) {
            wake = now + (long) Math.ceil((1 - requestTokens) * 1000 / rps);
        }
        if (bps > 0 && byteTokens < 0) {
            wake = Math.max(wake, now + (long) Math.ceil(-byteTokens * 1000 / bps));
        }
        if (wake == 0) {
            return true;
        }
        if (wakeAt <= now || wake < wakeAt) {
            wakeAt = wake;
            wakeUps.at(wake, host);
        }
        return false;
    }

    /** Charges a request that is being sent. */
    public void onIssued(long now) {
        if (settings.requestsPerSecond() > 0) {
            refill(now);
            requestTokens -= 1;
        }
    }

    /** Charges the body bytes of a finished response. */
    public void onBody(long bytes, long now) {
        if (settings.bytesPerSecond() > 0 && bytes > 0) {
            refill(now);
            byteTokens -= bytes;
        }
    }

    private void refill(long now) {
        double rps = settings.requestsPerSecond();
        double bps = settings.bytesPerSecond();
        if (tokensAt == 0) {
            tokensAt = now;
            requestTokens = Math.max(1, rps);
            byteTokens = bps;
            return;
        }
        long dt = Math.max(0, now - tokensAt);
        tokensAt = now;
        if (rps > 0) {
            requestTokens = Math.min(Math.max(1, rps), requestTokens + dt * rps / 1000);
        }
        if (bps > 0) {
            byteTokens = Math.min(bps, byteTokens + dt * bps / 1000);
        }
    }
}
