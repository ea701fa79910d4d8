package io.flowget.udf.fetch.host;

import org.apache.flink.util.clock.ManualClock;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link WarmUp}: one request until the first attempt finishes, at most {@link WarmUp#MAX_NANOS} for an
 * unfinished one, and the HTTP/2 grace, on a {@link ManualClock}; the sweep wakes the host when it ends.
 */
class WarmUpTest {
    private final ManualClock clock = new ManualClock(TimeUnit.HOURS.toNanos(5));
    private final WakeUps wakeUps = new WakeUps();
    private final WarmUp warmUp = new WarmUp("new.example", clock, wakeUps);

    @Test
    void oneRequestUntilTheFirstAnswer() {
        assertThat(warmUp.pinsToOne()).as("nothing sent yet").isTrue();
        warmUp.onIssued();
        clock.advanceTime(300, TimeUnit.MILLISECONDS);
        assertThat(warmUp.pinsToOne()).isTrue();
        assertThat(swept()).isEmpty();

        warmUp.onFinished(false); // HTTP/1.1: warm at once
        assertThat(warmUp.pinsToOne()).isFalse();
        assertThat(warmUp.answered()).isTrue();
        assertThat(swept()).containsExactly("new.example");
    }

    @Test
    void anUnansweredFirstRequestHoldsTheHostForAtMostTheCap() {
        warmUp.onIssued();
        warmUp.onIssued(); // sent again (e.g. a retry): the cap does not restart
        clock.advanceTime(WarmUp.MAX_NANOS - 1, TimeUnit.NANOSECONDS);
        assertThat(warmUp.pinsToOne()).isTrue();
        assertThat(warmUp.isOver()).isFalse();
        assertThat(swept()).isEmpty();

        clock.advanceTime(1, TimeUnit.NANOSECONDS);
        assertThat(warmUp.pinsToOne()).isFalse();
        assertThat(warmUp.answered()).isFalse();
        assertThat(swept()).containsExactly("new.example");
    }

    @Test
    void anHttp2AnswerHoldsTheBurstForTheGrace() {
        warmUp.onIssued();
        assertThat(swept()).isEmpty();
        warmUp.onFinished(true);
        assertThat(warmUp.pinsToOne()).isTrue();
        clock.advanceTime(WarmUp.GRACE_NANOS - 1, TimeUnit.NANOSECONDS);
        assertThat(warmUp.pinsToOne()).isTrue();
        assertThat(swept()).isEmpty();
        clock.advanceTime(1, TimeUnit.NANOSECONDS);
        assertThat(warmUp.pinsToOne()).isFalse();
        assertThat(swept()).as("listed once").containsExactly("new.example");
        assertThat(swept()).isEmpty();

        warmUp.onFinished(true); // later answers: no second grace
        warmUp.onIssued();
        assertThat(warmUp.pinsToOne()).isFalse();
    }

    @Test
    void anHttp1HeadEndsTheWarmUpWhileItsBodyStreams() {
        warmUp.onIssued();
        clock.advanceTime(20, TimeUnit.MILLISECONDS);
        assertThat(warmUp.onHead(false)).as("ended now").isTrue();
        assertThat(warmUp.pinsToOne()).as("the body still streams, the host is warm").isFalse();
        assertThat(warmUp.answered()).as("no attempt finished yet").isFalse();
        assertThat(swept()).containsExactly("new.example");

        warmUp.onIssued(); // the chunks that follow start no second warm-up
        assertThat(warmUp.pinsToOne()).isFalse();
        assertThat(warmUp.onHead(false)).as("once").isFalse();
        warmUp.onFinished(true); // nor does the first answer's end
        assertThat(warmUp.pinsToOne()).isFalse();
    }

    @Test
    void anHttp2HeadLeavesTheWarmUpToTheAnswer() {
        warmUp.onIssued();
        assertThat(warmUp.onHead(true)).isFalse();
        assertThat(warmUp.pinsToOne()).isTrue();
        warmUp.onFinished(true);
        assertThat(warmUp.onHead(false)).as("answered already").isFalse();
        assertThat(warmUp.pinsToOne()).as("the grace").isTrue();
    }

    @Test
    void aFailedFirstAttemptEndsTheWarmUpToo() {
        warmUp.onIssued();
        warmUp.onFinished(false); // e.g. connect refused: finished, no HTTP/2 connection to share
        assertThat(warmUp.pinsToOne()).isFalse();
    }

    private List<String> swept() {
        return wakeUps.due(0, h -> warmUp.isOver());
    }
}
