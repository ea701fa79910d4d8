package io.flowget.udf.fetch.host;

import org.apache.flink.util.clock.ManualClock;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link AdaptiveLimit}: AIMD growth and drops, the latency drop once per round, the hold band, the drift of the
 * minimum TTFB, and the overload cap with its one-per-probe-interval rise. Processing time is passed explicitly;
 * latency rounds follow a {@link ManualClock}.
 */
class AdaptiveLimitTest {
    private static final long MS = 1_000_000L;
    private static final Duration PROBE = Duration.ofSeconds(10);

    private final ManualClock clock = new ManualClock(TimeUnit.HOURS.toNanos(1));

    private AdaptiveLimit limit(int min, int initial, int max) {
        return new AdaptiveLimit(
                "h.example", new AdaptiveLimit.Settings(min, initial, PROBE, 3.0, Duration.ofMillis(50)), max, 0,
                clock);
    }

    @Test
    void growsByOneOnlyWhileTheHostIsBusy() {
        AdaptiveLimit l = limit(1, 4, 8);
        assertThat(l.limit(0)).isEqualTo(4);
        l.onAnswer(-1, 10 * MS, 1, false, 0); // 1 of 4 in flight: not busy
        assertThat(l.limit(0)).isEqualTo(4);
        l.onAnswer(-1, 10 * MS, 2, false, 0); // half the limit in flight: busy
        assertThat(l.limit(0)).isEqualTo(5);
        for (int i = 0; i < 10; i++) {
            l.onAnswer(-1, 10 * MS, 8, false, 0);
        }
        assertThat(l.limit(0)).as("never above max").isEqualTo(8);
        assertThat(l.throttled()).isFalse();
    }

    @Test
    void dropsToNineTenthsPerDropButNotBelowMin() {
        AdaptiveLimit l = limit(2, 8, 8);
        l.onDrop(8, 10 * MS);
        assertThat(l.learned()).isEqualTo(7); // 8 × 0.9 = 7.2
        l.onDrop(8, 10 * MS);
        assertThat(l.learned()).isEqualTo(6); // 7 × 0.9 = 6.3
        assertThat(l.throttled()).isTrue();
        for (int i = 0; i < 20; i++) {
            l.onDrop(1, 10 * MS);
        }
        assertThat(l.limit(0)).isEqualTo(2);
    }

    @Test
    void aSavedLimitIsClampedToTheHostsRange() {
        AdaptiveLimit.Settings s = new AdaptiveLimit.Settings(2, 4, PROBE, 3.0, Duration.ofMillis(50));
        assertThat(new AdaptiveLimit("h", s, 6, 20, clock).limit(0)).isEqualTo(6);
        assertThat(new AdaptiveLimit("h", s, 6, 5, clock).limit(0)).isEqualTo(5);
        assertThat(new AdaptiveLimit("h", s, 6, 0, clock).limit(0)).as("0: unknown, initial").isEqualTo(4);
    }

    @Test
    void aRoundOfSlowFirstBytesDropsTheLimitOnce() {
        AdaptiveLimit l = limit(1, 8, 16);
        l.onAnswer(10 * MS, 20 * MS, 8, false, 0); // learns the minimum, and grows
        assertThat(l.minTtfb()).isEqualTo(10 * MS);
        assertThat(l.learned()).isEqualTo(9);

        clock.advanceTime(1, TimeUnit.SECONDS);
        l.onAnswer(100 * MS, 100 * MS, 8, false, 0); // > 3 × 10 ms and ≥ 50 ms above it: slow
        assertThat(l.learned()).isEqualTo(8); // 9 × 0.9
        // Sent before that drop (same round): neither a second drop nor growth.
        l.onAnswer(100 * MS, 100 * MS, 8, false, 0);
        assertThat(l.learned()).isEqualTo(8);
        l.onAnswer(11 * MS, 50 * MS, 8, false, 0);
        assertThat(l.learned()).isEqualTo(8);
        assertThat(l.minTtfb()).as("slow answers above the floor do not move the minimum")
                .isEqualTo(10 * MS + MS / 512);

        clock.advanceTime(1, TimeUnit.SECONDS); // the next round: requests sent after the drop
        l.onAnswer(100 * MS, 100 * MS, 8, false, 0);
        assertThat(l.learned()).isEqualTo(7); // 8 × 0.9 = 7.2
    }

    @Test
    void answersHalfWayToSlowHoldTheLimit() {
        AdaptiveLimit l = limit(1, 8, 16);
        l.onAnswer(10 * MS, 10 * MS, 8, false, 0);
        assertThat(l.learned()).isEqualTo(9);
        clock.advanceTime(1, TimeUnit.SECONDS);
        // 36 ms: above 2 × 10 ms and 26 ms ≥ 25 ms above it (half-way), not slow (26 ms < 50 ms): hold.
        l.onAnswer(36 * MS, 36 * MS, 8, false, 0);
        assertThat(l.learned()).isEqualTo(9);
        assertThat(l.minTtfb()).as("not slow: the minimum drifts 1/512 of the gap").isEqualTo(10 * MS + 26 * MS / 512);
        // 15 ms: below the band, grows.
        l.onAnswer(15 * MS, 15 * MS, 8, false, 0);
        assertThat(l.learned()).isEqualTo(10);
    }

    @Test
    void slowAnswersMoveTheMinimumOnlyAtTheFloor() {
        AdaptiveLimit atFloor = limit(1, 1, 1);
        atFloor.onAnswer(10 * MS, 10 * MS, 1, false, 0);
        clock.advanceTime(1, TimeUnit.SECONDS);
        atFloor.onAnswer(100 * MS, 100 * MS, 1, false, 0);
        assertThat(atFloor.minTtfb()).isEqualTo(10 * MS + 90 * MS / 512);

        AdaptiveLimit pinned = limit(1, 4, 4);
        pinned.onAnswer(10 * MS, 10 * MS, 1, false, 0);
        pinned.onAnswer(100 * MS, 100 * MS, 1, true, 0); // warming up: its limit is 1, the floor
        assertThat(pinned.minTtfb()).isEqualTo(10 * MS + 90 * MS / 512);

        AdaptiveLimit above = limit(1, 4, 4);
        above.onAnswer(10 * MS, 10 * MS, 1, false, 0);
        above.onAnswer(100 * MS, 100 * MS, 1, false, 0);
        assertThat(above.minTtfb()).isEqualTo(10 * MS);
    }

    @Test
    void latencyIsIgnoredWithoutAFirstByteOrWhenOff() {
        AdaptiveLimit off = new AdaptiveLimit(
                "h", new AdaptiveLimit.Settings(1, 4, PROBE, 0, Duration.ofMillis(50)), 8, 0, clock);
        off.onAnswer(10 * MS, 10 * MS, 4, false, 0);
        off.onAnswer(900 * MS, 900 * MS, 4, false, 0);
        assertThat(off.learned()).isEqualTo(6);
        assertThat(off.minTtfb()).isZero();
    }

    @Test
    void anOverloadCapsAtOneBelowTheLargerInFlightCountAndRisesOnePerProbeInterval() {
        AdaptiveLimit l = limit(1, 8, 6);
        l.onOverload(429, 2, 5, 10 * MS, 1_000); // sent at 2, 5 in flight now: the host took 4
        assertThat(l.ceiling()).isEqualTo(4);
        assertThat(l.ceilingAt()).isEqualTo(1_000);
        assertThat(l.learned()).as("also a drop").isEqualTo(5); // min(6, 8) × 0.9 = 5.4
        for (int i = 0; i < 3; i++) { // less than a round at the cap (4 answers): the cap stays
            l.onAnswer(-1, MS, 5, false, 1_000);
        }
        assertThat(l.learned()).isBetween(5, 6);
        assertThat(l.limit(1_000)).isEqualTo(4);
        assertThat(l.limit(10_999)).isEqualTo(4);
        assertThat(l.limit(11_000)).isEqualTo(5);
        assertThat(l.ceilingAt()).isEqualTo(11_000);
        assertThat(l.limit(20_999)).isEqualTo(5);

        // A refusal at a higher count does not raise the cap, a lower one lowers it; both restart the interval.
        l.onOverload(503, 6, 6, 10 * MS, 15_000);
        assertThat(l.ceiling()).isEqualTo(5);
        l.onOverload(503, 3, 1, 10 * MS, 16_000);
        assertThat(l.ceiling()).isEqualTo(2);
        assertThat(l.limit(25_999)).isEqualTo(2);
        // The refusal at 15 000 came right after the raise at 11 000: that probe failed, so the interval doubled.
        assertThat(l.limit(35_999)).isEqualTo(2);
        assertThat(l.limit(36_000)).isEqualTo(3);
        assertThat(l.ceiling()).isEqualTo(3);
        assertThat(l.ceilingAt()).isEqualTo(36_000);
        assertThat(l.throttled()).isTrue();
    }

    @Test
    void aCapRisesByOnePerRoundOfAnswersAndARefusedProbeDoublesTheRoundsOfTheNextRaise() {
        AdaptiveLimit l = limit(1, 8, 8);
        l.onOverload(503, 4, 4, MS, 0);
        assertThat(l.ceiling()).isEqualTo(3);
        answers(l, 2);
        assertThat(l.ceiling()).isEqualTo(3);
        answers(l, 1); // a round of 3 answers at the cap
        assertThat(l.ceiling()).isEqualTo(4);
        l.onOverload(503, 4, 4, MS, 0); // refused right after the raise: that was the probe's
        assertThat(l.ceiling()).isEqualTo(3);
        answers(l, 5);
        assertThat(l.ceiling()).as("now two rounds per raise").isEqualTo(3);
        answers(l, 1);
        assertThat(l.ceiling()).isEqualTo(4);
        answers(l, 7); // a round without a refusal: the raise held, but the next still waits two rounds
        assertThat(l.ceiling()).isEqualTo(4);
        answers(l, 1);
        assertThat(l.ceiling()).isEqualTo(5);
        answers(l, 10 + 12 + 14); // 5 -> 6 -> 7 -> 8: the cap reached the host's max and is dropped
        assertThat(l.ceiling()).isZero();
    }

    private static void answers(AdaptiveLimit l, int n) {
        for (int i = 0; i < n; i++) {
            l.onAnswer(-1, MS, 1, false, 0);
        }
    }

    @Test
    void aCapThatReachesTheMaxIsDropped() {
        AdaptiveLimit l = limit(1, 4, 4);
        l.onOverload(429, 3, 3, MS, 0);
        assertThat(l.limit(0)).isEqualTo(2);
        l.restoreCap(3, 0);
        assertThat(l.limit(PROBE.toMillis())).isEqualTo(3); // learned 3 after the drop
        assertThat(l.ceiling()).isZero();
    }

    private AdaptiveLimit slowStart(int initial, int max) {
        return new AdaptiveLimit(
                "h.example", new AdaptiveLimit.Settings(1, initial, PROBE, 3.0, Duration.ofMillis(50), true), max, 0,
                clock);
    }

    @Test
    void slowStartDoublesPerFastAnswerWhileBusyAndReachesMaxInAFewAnswers() {
        AdaptiveLimit l = slowStart(4, 64);
        assertThat(l.slowStart()).isTrue();
        l.onAnswer(1 * MS, 2 * MS, 1, false, 0); // 1 of 4 in flight: not busy, no growth
        assertThat(l.limit(0)).isEqualTo(4);
        int answers = 0;
        while (l.limit(0) < 64) {
            l.onAnswer(1 * MS, 2 * MS, l.limit(0), false, 0); // the host is kept busy
            answers++;
        }
        assertThat(answers).as("4 → 8 → 16 → 32 → 64").isEqualTo(4);
        assertThat(l.slowStart()).as("ends at max").isFalse();
    }

    @Test
    void aFastHeadDoublesTheLimitInSlowStartOnly() {
        AdaptiveLimit l = slowStart(4, 12);
        assertThat(l.onHead(1 * MS, 1, 0)).as("not busy").isFalse();
        assertThat(l.onHead(1 * MS, 2, 0)).isTrue();
        assertThat(l.limit(0)).isEqualTo(8);
        assertThat(l.onHead(1 * MS, 8, 0)).isTrue();
        assertThat(l.limit(0)).as("never above max").isEqualTo(12);
        assertThat(l.onHead(1 * MS, 12, 0)).as("slow start is over").isFalse();

        AdaptiveLimit aimd = limit(1, 4, 12); // slow start off
        assertThat(aimd.onHead(1 * MS, 4, 0)).isFalse();
        assertThat(aimd.limit(0)).isEqualTo(4);
    }

    @Test
    void slowStartEndsAtTheFirstDropAndAimdFollows() {
        AdaptiveLimit l = slowStart(4, 64);
        l.onAnswer(1 * MS, 2 * MS, 4, false, 0);
        assertThat(l.limit(0)).isEqualTo(8);
        l.onDrop(8, 2 * MS);
        assertThat(l.slowStart()).isFalse();
        assertThat(l.limit(0)).isEqualTo(7); // 8 × 0.9
        l.onAnswer(1 * MS, 2 * MS, 7, false, 0);
        assertThat(l.limit(0)).as("one per answer from here").isEqualTo(8);
    }

    @Test
    void anOverloadOrAQueueingAnswerEndsSlowStart() {
        AdaptiveLimit overloaded = slowStart(4, 64);
        overloaded.onOverload(429, 4, 4, 2 * MS, 0);
        assertThat(overloaded.slowStart()).isFalse();
        overloaded.onAnswer(1 * MS, 2 * MS, 3, false, 0);
        assertThat(overloaded.limit(0)).as("capped at 3").isEqualTo(3);

        AdaptiveLimit queueing = slowStart(4, 64);
        queueing.onAnswer(10 * MS, 10 * MS, 4, false, 0); // learns 10 ms, doubles
        assertThat(queueing.limit(0)).isEqualTo(8);
        clock.advanceTime(1, TimeUnit.SECONDS);
        assertThat(queueing.onHead(36 * MS, 8, 0)).as("a head half-way to slow does not grow").isFalse();
        queueing.onAnswer(36 * MS, 36 * MS, 8, false, 0); // half-way to slow: hold, and slow start ends
        assertThat(queueing.slowStart()).isFalse();
        assertThat(queueing.limit(0)).isEqualTo(8);
    }

    @Test
    void aHostWithALearnedLimitSkipsSlowStart() {
        AdaptiveLimit l = new AdaptiveLimit(
                "h", new AdaptiveLimit.Settings(1, 4, PROBE, 3.0, Duration.ofMillis(50), true), 64, 6, clock);
        assertThat(l.slowStart()).isFalse();
        l.onAnswer(1 * MS, 2 * MS, 6, false, 0);
        assertThat(l.limit(0)).isEqualTo(7);
    }
}
