package io.flowget.udf.fetch.host;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link Breaker}: opening after N attempts without an answer, a single half-open probe, the open time doubling
 * per failed probe up to its cap, the retry budget after which requests fail, and closing on any HTTP answer.
 * Processing time is passed explicitly.
 */
class BreakerTest {
    private final WakeUps wakeUps = new WakeUps();
    private final Breaker breaker =
            new Breaker(
                    "dead.example",
                    new Breaker.Settings(3, Duration.ofMillis(200), Duration.ofMillis(800), Duration.ofSeconds(1)),
                    wakeUps);

    @Test
    void opensAfterNFailuresAndLetsOneProbeOutWhenTheOpenTimeEnds() {
        assertThat(breaker.onNoAnswer("connect error: refused", 0)).isZero();
        assertThat(breaker.onNoAnswer("connect error: refused", 10)).isZero();
        assertThat(breaker.isOpen()).isFalse();
        assertThat(breaker.onNoAnswer("connect error: refused", 20)).isEqualTo(220);
        assertThat(breaker.isOpen()).isTrue();

        assertThat(breaker.admitsWhileOpen(0, 219)).as("open: parked").isFalse();
        assertThat(due(219)).isEmpty();
        assertThat(due(220)).containsExactly("dead.example");
        assertThat(breaker.admitsWhileOpen(0, 220)).as("half-open: one probe").isTrue();
        assertThat(breaker.admitsWhileOpen(1, 220)).as("only one").isFalse();
    }

    @Test
    void eachFailedProbeDoublesTheOpenTimeUpToItsCap() {
        open();
        assertThat(breaker.onNoAnswer("e", 230)).isEqualTo(230 + 400);
        assertThat(breaker.onNoAnswer("e", 640)).isEqualTo(640 + 800);
        assertThat(breaker.onNoAnswer("e", 1450)).as("capped at max-open").isEqualTo(1450 + 800);
        // A failure of a request sent before the circuit opened, while it is open, changes nothing.
        assertThat(breaker.onNoAnswer("e", 1500)).isZero();
        assertThat(due(10_000)).containsExactly("dead.example", "dead.example", "dead.example", "dead.example");
    }

    @Test
    void pastTheRetryBudgetRequestsFailWithTheLastErrorUntilTheHostAnswers() {
        open(); // failing since 0
        assertThat(breaker.gaveUp(100)).isEmpty();
        breaker.onNoAnswer("connect timeout: 300 ms", 640); // 640 ms without an answer: within the budget
        assertThat(breaker.gaveUp(700)).isEmpty();
        assertThat(breaker.admitsWhileOpen(3, 700)).isFalse();

        breaker.onNoAnswer("connect timeout: 300 ms", 1_500); // half-open probe failed, 1.5 s without an answer
        assertThat(breaker.gaveUp(1_700)).hasValueSatisfying(g -> {
            assertThat(g.lastError()).isEqualTo("connect timeout: 300 ms");
            assertThat(g.noAnswerForMillis()).isEqualTo(1_700);
        });
        assertThat(breaker.admitsWhileOpen(3, 1_700)).as("let through, to fail").isTrue();
        assertThat(breaker.gaveUp(1_500 + 800)).as("half-open: the probe goes out").isEmpty();

        breaker.onAnswer(); // e.g. a 404: the host is alive
        assertThat(breaker.isOpen()).isFalse();
        assertThat(breaker.gaveUp(1_800)).isEmpty();
    }

    @Test
    void anyAnswerClosesTheCircuitAndResetsTheCount() {
        open();
        breaker.onAnswer();
        assertThat(breaker.isOpen()).isFalse();
        assertThat(breaker.onNoAnswer("e", 5_000)).isZero();
        assertThat(breaker.onNoAnswer("e", 5_001)).isZero();
        assertThat(breaker.onNoAnswer("e", 5_002)).as("the first open time again, not doubled").isEqualTo(5_202);
    }

    @Test
    void answersBetweenFailuresKeepItClosed() {
        for (int t = 0; t < 10; t += 2) {
            breaker.onNoAnswer("e", t);
            breaker.onNoAnswer("e", t + 1);
            breaker.onAnswer();
        }
        assertThat(breaker.isOpen()).isFalse();
        assertThat(due(Long.MAX_VALUE)).isEmpty();
    }

    private void open() {
        breaker.onNoAnswer("e", 0);
        breaker.onNoAnswer("e", 10);
        assertThat(breaker.onNoAnswer("e", 20)).isEqualTo(220);
    }

    private List<String> due(long now) {
        return wakeUps.due(now, h -> false);
    }
}
