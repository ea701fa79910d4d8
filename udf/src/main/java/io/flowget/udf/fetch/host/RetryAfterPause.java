package io.flowget.udf.fetch.host;

import org.apache.flink.annotation.Internal;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.annotation.concurrent.NotThreadSafe;

/**
 * One host's host-wide pause: a 429/503 with {@code Retry-After} stops all new requests to the host until then,
 * not just the retry of the one request; requests already in flight finish. A pause only ever extends, and each
 * extension posts the host to {@link WakeUps#at} for its end.
 *
 * <p>The caller parses the header (seconds or HTTP-date, capped by {@code flowget.retry.max-retry-after}) into a
 * wait. Times are the operator's processing time (ms). The end is persisted by the caller ({@link
 * #pausedUntil()}) and {@link #restore restored} when the host is next seen. Not thread-safe: one instance per
 * host, owned by {@code HostPoliteness}, task thread only.
 */
@Internal
@NotThreadSafe
public final class RetryAfterPause {
    private static final Logger LOG = LoggerFactory.getLogger(RetryAfterPause.class);

    private final String host;
    private final WakeUps wakeUps;
    /** No new request before this (processing time, ms); 0 when never paused. */
    private long pausedUntil;

    public RetryAfterPause(String host, WakeUps wakeUps) {
        this.host = host;
        this.wakeUps = wakeUps;
    }

    /** Restores a saved pause end (0: none); a pause still to come wakes the host again. */
    public void restore(long until) {
        pausedUntil = until;
        if (until > 0) {
            wakeUps.at(until, host);
        }
    }

    /** True while no new request may go to the host. */
    public boolean isPaused(long now) {
        return pausedUntil > now;
    }

    /** Processing time until which the host is paused; 0 when it never was (may lie in the past). */
    public long pausedUntil() {
        return pausedUntil;
    }

    /**
     * A {@code status} answer asked to wait {@code waitMillis} (≤ 0: no usable Retry-After).
     *
     * @return the new end of the pause when this extends it, else 0
     */
    public long onRetryAfter(int status, long waitMillis, long now) {
        if (waitMillis > 0 && now + waitMillis > pausedUntil) {
            pausedUntil = now + waitMillis;
            wakeUps.at(pausedUntil, host);
            LOG.info("{} answered {} with Retry-After: pausing the host for {} ms", host, status, waitMillis);
            return pausedUntil;
        }
        return 0;
    }
}
