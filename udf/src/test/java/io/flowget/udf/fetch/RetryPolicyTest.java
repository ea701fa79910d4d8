package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;

import org.apache.flink.configuration.Configuration;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.random.RandomGenerator;

import static org.assertj.core.api.Assertions.assertThat;

/** {@link RetryPolicy}: which statuses are retried, the jittered exponential backoff and Retry-After parsing. */
class RetryPolicyTest {
    private static final long NOW = 1_700_000_000_000L; // Tue, 14 Nov 2023 22:13:20 GMT

    private final RetryPolicy policy =
            new RetryPolicy(5, Duration.ofMillis(500), Duration.ofSeconds(30), Duration.ofMinutes(5));

    /** A random source that always returns {@code value} from nextDouble. */
    private static RandomGenerator fixed(double value) {
        return new RandomGenerator() {
            @Override
            public long nextLong() {
                throw new UnsupportedOperationException();
            }

            @Override
            public double nextDouble() {
                return value;
            }
        };
    }

    @Test
    void readsItsSettingsFromTheConfiguration() {
        Configuration c = new Configuration();
        c.set(FlowgetOptions.RETRY_MAX_ATTEMPTS, 7);
        c.set(FlowgetOptions.RETRY_INITIAL_BACKOFF, Duration.ofMillis(20));

        assertThat(RetryPolicy.from(c))
                .isEqualTo(new RetryPolicy(7, Duration.ofMillis(20), Duration.ofSeconds(30), Duration.ofMinutes(5)));
        assertThat(RetryPolicy.from(new Configuration())).isEqualTo(policy);
    }

    @Test
    void retriesTimeoutsTooManyRequestsAndServerErrorsExceptNotImplementedAndVersion() {
        assertThat(RetryPolicy.isRetryableStatus(408)).isTrue();
        assertThat(RetryPolicy.isRetryableStatus(429)).isTrue();
        assertThat(RetryPolicy.isRetryableStatus(500)).isTrue();
        assertThat(RetryPolicy.isRetryableStatus(502)).isTrue();
        assertThat(RetryPolicy.isRetryableStatus(503)).isTrue();
        assertThat(RetryPolicy.isRetryableStatus(599)).isTrue();
        assertThat(RetryPolicy.isRetryableStatus(501)).isFalse();
        assertThat(RetryPolicy.isRetryableStatus(505)).isFalse();
        assertThat(RetryPolicy.isRetryableStatus(600)).isFalse();
        assertThat(RetryPolicy.isRetryableStatus(404)).isFalse();
        assertThat(RetryPolicy.isRetryableStatus(410)).isFalse();
        assertThat(RetryPolicy.isRetryableStatus(200)).isFalse();
        assertThat(RetryPolicy.isRetryableStatus(304)).isFalse();
    }

    @Test
    void backoffDoublesPerFailedAttemptWithJitterBetweenHalfAndAll() {
        assertThat(policy.backoffMillis(1, fixed(0.0))).isEqualTo(250);
        assertThat(policy.backoffMillis(1, fixed(0.999999))).isEqualTo(499);
        assertThat(policy.backoffMillis(2, fixed(0.0))).isEqualTo(500);
        assertThat(policy.backoffMillis(3, fixed(0.5))).isEqualTo(1500); // 2 s: 1 s + half of 1 s
        assertThat(policy.backoffMillis(0, fixed(0.0))).as("attempt 0 counts as the first").isEqualTo(250);
    }

    @Test
    void backoffIsCappedAndNeverOverflows() {
        assertThat(policy.backoffMillis(7, fixed(0.0))).as("500 ms x 64 > 30 s").isEqualTo(15_000);
        assertThat(policy.backoffMillis(1_000, fixed(0.0))).isEqualTo(15_000);
        RetryPolicy huge = new RetryPolicy(5, Duration.ofDays(365), Duration.ofDays(3650), Duration.ZERO);
        assertThat(huge.backoffMillis(31, fixed(0.0))).as("shift overflow falls back to the cap").isPositive();
    }

    @Test
    void retryAfterInSecondsIsCapped() {
        assertThat(policy.retryAfterMillis("0", NOW)).isZero();
        assertThat(policy.retryAfterMillis(" 120 ", NOW)).isEqualTo(120_000);
        assertThat(policy.retryAfterMillis("301", NOW)).isEqualTo(300_000);
        assertThat(policy.retryAfterMillis("99999999999999999999", NOW)).as("overflow").isEqualTo(300_000);
    }

    @Test
    void retryAfterAsAnHttpDateCountsFromNowAndAPastDateMeansNow() {
        assertThat(policy.retryAfterMillis("Tue, 14 Nov 2023 22:14:20 GMT", NOW)).isEqualTo(60_000);
        assertThat(policy.retryAfterMillis("Tue, 14 Nov 2023 22:00:00 GMT", NOW)).isZero();
        assertThat(policy.retryAfterMillis("Wed, 15 Nov 2023 22:13:20 GMT", NOW)).as("capped").isEqualTo(300_000);
    }

    @Test
    void anAbsentOrUnreadableRetryAfterIsMinusOne() {
        assertThat(policy.retryAfterMillis(null, NOW)).isEqualTo(-1);
        assertThat(policy.retryAfterMillis("", NOW)).isEqualTo(-1);
        assertThat(policy.retryAfterMillis("  ", NOW)).isEqualTo(-1);
        assertThat(policy.retryAfterMillis("-5", NOW)).isEqualTo(-1);
        assertThat(policy.retryAfterMillis("1.5", NOW)).isEqualTo(-1);
        assertThat(policy.retryAfterMillis("soon", NOW)).isEqualTo(-1);
    }
}
