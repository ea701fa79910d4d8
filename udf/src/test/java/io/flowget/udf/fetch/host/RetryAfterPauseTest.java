package io.flowget.udf.fetch.host;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link RetryAfterPause}: a Retry-After pauses the whole host until then, only ever extends, wakes the host when
 * it ends, and survives a restore. Processing time is passed explicitly.
 */
class RetryAfterPauseTest {
    private final WakeUps wakeUps = new WakeUps();
    private final RetryAfterPause pause = new RetryAfterPause("busy.example", wakeUps);

    @Test
    void pausesTheHostUntilTheWaitEndsThenWakesIt() {
        assertThat(pause.isPaused(1_000)).isFalse();
        assertThat(pause.onRetryAfter(503, 120_000, 1_000)).isEqualTo(121_000);
        assertThat(pause.pausedUntil()).isEqualTo(121_000);
        assertThat(pause.isPaused(120_999)).isTrue();
        assertThat(due(120_999)).isEmpty();
        assertThat(due(121_000)).containsExactly("busy.example");
        assertThat(pause.isPaused(121_000)).isFalse();
        assertThat(pause.pausedUntil()).as("kept (persisted) after it ended").isEqualTo(121_000);
    }

    @Test
    void onlyALaterEndExtendsThePause() {
        pause.onRetryAfter(429, 10_000, 0);
        assertThat(pause.onRetryAfter(429, 5_000, 1_000)).as("ends earlier: ignored").isZero();
        assertThat(pause.onRetryAfter(429, 9_000, 1_000)).as("ends at the same time").isZero();
        assertThat(pause.onRetryAfter(429, 10_000, 1_000)).isEqualTo(11_000);
        assertThat(pause.pausedUntil()).isEqualTo(11_000);
        assertThat(due(Long.MAX_VALUE)).containsExactly("busy.example", "busy.example");
    }

    @Test
    void noUsableRetryAfterNoPause() {
        assertThat(pause.onRetryAfter(429, -1, 1_000)).isZero(); // header absent or unreadable
        assertThat(pause.onRetryAfter(503, 0, 1_000)).isZero();
        assertThat(pause.isPaused(1_000)).isFalse();
        assertThat(pause.pausedUntil()).isZero();
        assertThat(due(Long.MAX_VALUE)).isEmpty();
    }

    @Test
    void aRestoredPauseHoldsAndWakesTheHost() {
        pause.restore(50_000);
        assertThat(pause.isPaused(49_999)).isTrue();
        assertThat(due(50_000)).containsExactly("busy.example");

        RetryAfterPause none = new RetryAfterPause("calm.example", wakeUps);
        none.restore(0);
        assertThat(none.isPaused(0)).isFalse();
        assertThat(due(Long.MAX_VALUE)).isEmpty();
    }

    private List<String> due(long now) {
        return wakeUps.due(now, h -> false);
    }
}
