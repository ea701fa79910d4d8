package io.flowget.udf.fetch.host;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link RateLimiter}: request and byte token buckets, refilled from processing time (passed explicitly), and the
 * wake-up times a refused host is posted for.
 */
class RateLimiterTest {
    private final WakeUps wakeUps = new WakeUps();

    private RateLimiter limiter(double rps, double bps) {
        return new RateLimiter("h.example", new RateLimiter.Settings(rps, bps), wakeUps);
    }

    @Test
    void requestBucketHoldsOneSecondsWorthAndRefillsAtTheRate() {
        RateLimiter r = limiter(2, 0);
        for (int i = 0; i < 2; i++) {
            assertThat(r.mayIssue(1_000)).isTrue();
            r.onIssued(1_000);
        }
        assertThat(r.mayIssue(1_000)).isFalse();
        assertThat(due(1_499)).isEmpty();
        assertThat(due(1_500)).as("one token after 1/rps s").containsExactly("h.example");

        assertThat(r.mayIssue(1_250)).as("half a token").isFalse();
        assertThat(due(Long.MAX_VALUE)).as("same wake-up time: not posted again").isEmpty();
        assertThat(r.mayIssue(1_500)).isTrue();
        r.onIssued(1_500);

        // A long idle refills to one second's worth, not more.
        assertThat(r.mayIssue(60_000)).isTrue();
        r.onIssued(60_000);
        r.onIssued(60_000);
        assertThat(r.mayIssue(60_000)).isFalse();
        assertThat(due(60_500)).containsExactly("h.example");
    }

    @Test
    void aRateBelowOneStillAllowsOneRequest() {
        RateLimiter r = limiter(0.5, 0);
        assertThat(r.mayIssue(1_000)).isTrue();
        r.onIssued(1_000);
        assertThat(r.mayIssue(1_000)).isFalse();
        assertThat(due(2_999)).isEmpty();
        assertThat(due(3_000)).containsExactly("h.example");
        assertThat(r.mayIssue(3_000)).isTrue();
    }

    @Test
    void bodiesPutTheByteBucketInDebtUntilItRefills() {
        RateLimiter r = limiter(0, 1_000);
        assertThat(r.mayIssue(1_000)).isTrue();
        r.onIssued(1_000); // no request limit: no charge
        r.onBody(3_000, 1_000); // 1 000 bytes of burst, so 2 000 in debt
        assertThat(r.mayIssue(1_000)).isFalse();
        assertThat(due(2_999)).isEmpty();
        assertThat(due(3_000)).containsExactly("h.example");

        assertThat(r.mayIssue(2_000)).isFalse();
        assertThat(due(Long.MAX_VALUE)).as("still 3 000: not posted again").isEmpty();
        assertThat(r.mayIssue(3_000)).isTrue();
        r.onBody(0, 3_000);
        assertThat(r.mayIssue(3_000)).isTrue();
    }

    @Test
    void bothBucketsTheLaterRefillWins() {
        RateLimiter r = limiter(1, 500);
        r.onIssued(1_000);
        r.onBody(1_500, 1_000); // 1 000 bytes in debt: 2 s; no request token: 1 s
        assertThat(r.mayIssue(1_000)).isFalse();
        assertThat(due(2_999)).isEmpty();
        assertThat(due(3_000)).containsExactly("h.example");
    }

    @Test
    void aLaterWakeUpIsPostedOnceThePreviousHasPassed() {
        RateLimiter r = limiter(0, 1_000);
        r.onBody(3_000, 1_000);
        assertThat(r.mayIssue(1_000)).isFalse(); // wake at 3 000
        r.onBody(-5, 1_000); // no bytes: no refund either
        assertThat(r.mayIssue(3_500)).isTrue();
        r.onBody(2_000, 3_500); // 500 left, so 1 500 in debt
        assertThat(r.mayIssue(3_500)).isFalse(); // wake at 5 000: the previous one has passed
        assertThat(due(4_999)).containsExactly("h.example"); // the one for 3 000
        assertThat(due(5_000)).containsExactly("h.example");
    }

    @Test
    void noLimitsNoWakeUps() {
        RateLimiter r = limiter(0, 0);
        for (int i = 0; i < 1_000; i++) {
            r.onIssued(1_000);
            r.onBody(1 << 20, 1_000);
            assertThat(r.mayIssue(1_000)).isTrue();
        }
        assertThat(due(Long.MAX_VALUE)).isEmpty();
    }

    private List<String> due(long now) {
        return wakeUps.due(now, h -> false);
    }
}
