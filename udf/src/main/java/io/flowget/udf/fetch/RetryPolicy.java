package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;

import org.apache.flink.configuration.ReadableConfig;

import org.apache.hc.client5.http.utils.DateUtils;

import java.io.Serializable;
import java.time.Duration;
import java.time.Instant;
import java.util.random.RandomGenerator;

/**
 * When to retry and how long to wait: transient failures only (connect errors, resets, timeouts, 408, 429 and
 * 5xx except 501/505), exponential backoff with jitter, and the server's {@code Retry-After} when it gives one.
 */
public record RetryPolicy(
        int maxAttempts, Duration initialBackoff, Duration maxBackoff, Duration maxRetryAfter)
        implements Serializable {

    public static RetryPolicy from(ReadableConfig conf) {
        return new RetryPolicy(
                conf.get(FlowgetOptions.RETRY_MAX_ATTEMPTS),
                conf.get(FlowgetOptions.RETRY_INITIAL_BACKOFF),
                conf.get(FlowgetOptions.RETRY_MAX_BACKOFF),
                conf.get(FlowgetOptions.RETRY_MAX_RETRY_AFTER));
    }

    /** True for statuses worth another attempt. */
    public static boolean isRetryableStatus(int status) {
        return status == 408 || status == 429 || (status >= 500 && status <= 599 && status != 501 && status != 505);
    }

    /** True for an overload refusal, {@code 429} or {@code 503} (null: no status). */
    public static boolean isRefusal(Integer status) {
        return status != null && (status == 429 || status == 503);
    }

    /**
     * Backoff before attempt {@code attempt + 1} after {@code attempt} failed ones: initial × 2^(attempt-1),
     * capped, with full jitter in [50 %, 100 %] so that a burst of failures does not retry in lockstep.
     */
    public long backoffMillis(int attempt, RandomGenerator random) {
        long base = initialBackoff.toMillis();
        long cap = maxBackoff.toMillis();
        int shift = Math.min(Math.max(attempt - 1, 0), 30);
        long exp = base << shift;
        long d = (exp <= 0 || exp > cap) ? cap : exp;
        return d / 2 + (long) (random.nextDouble() * (d - d / 2));
    }

    /**
     * The wait a {@code Retry-After} value asks for (delta-seconds or HTTP-date), capped at maxRetryAfter;
     * -1 when the header is absent or unreadable.
     */
    public long retryAfterMillis(String header, long nowMillis) {
        if (header == null || header.isBlank()) {
            return -1;
        }
        String v = header.trim();
        long wait;
        if (v.chars().allMatch(Character::isDigit)) {
            try {
                wait = Math.multiplyExact(Long.parseLong(v), 1000L);
            } catch (ArithmeticException | NumberFormatException e) {
                wait = Long.MAX_VALUE;
            }
        } else {
            Instant when = DateUtils.parseStandardDate(v);
            if (when == null) {
                return -1;
            }
            wait = Math.max(0, when.toEpochMilli() - nowMillis);
        }
        return Math.min(wait, maxRetryAfter.toMillis());
    }
}
