package io.flowget.udf.fetch;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** {@link RangePlan}: the gaps of a chunked file cut into chunks, ranges in flight and what comes back. */
class RangePlanTest {
    private static List<long[]> drain(RangePlan plan) {
        List<long[]> out = new ArrayList<>();
        long[] r;
        while ((r = plan.next()) != null) {
            out.add(r);
        }
        return out;
    }

    @Test
    void cutsTheWholeFileIntoChunksTheLastOneShort() {
        RangePlan plan = new RangePlan(1000, 300, Intervals.EMPTY);

        assertThat(drain(plan)).containsExactly(
                new long[] {0, 299}, new long[] {300, 599}, new long[] {600, 899}, new long[] {900, 999});
        assertThat(plan.hasPending()).isFalse();
        assertThat(plan.next()).isNull();
    }

    @Test
    void plansOnlyTheGapsOfWhatIsDone() {
        RangePlan plan = new RangePlan(1000, 300, new long[] {0, 249, 500, 599});

        assertThat(drain(plan)).containsExactly(
                new long[] {250, 499}, new long[] {600, 899}, new long[] {900, 999});
    }

    @Test
    void aCompleteFileHasNothingToPlan() {
        assertThat(new RangePlan(1000, 300, new long[] {0, 999}).hasPending()).isFalse();
        assertThat(new RangePlan(0, 300, Intervals.EMPTY).hasPending()).isFalse();
    }

    @Test
    void aChunkSizeBelowOneIsOneByte() {
        assertThat(drain(new RangePlan(3, 0, Intervals.EMPTY)))
                .containsExactly(new long[] {0, 0}, new long[] {1, 1}, new long[] {2, 2});
    }

    @Test
    void whatARangeDidNotDeliverComesBackFirst() {
        RangePlan plan = new RangePlan(1000, 500, Intervals.EMPTY);
        long[] first = plan.next();

        plan.finished(first, new long[] {200, 499});

        assertThat(plan.next()).containsExactly(200, 499);
        assertThat(plan.next()).containsExactly(500, 999);
    }

    @Test
    void aDeliveredOrEmptyRestAddsNothing() {
        RangePlan plan = new RangePlan(1000, 1000, Intervals.EMPTY);
        long[] only = plan.next();

        plan.finished(only, null);
        assertThat(plan.hasPending()).isFalse();
        plan.finished(only, new long[] {1000, 999});
        assertThat(plan.hasPending()).isFalse();
    }

    @Test
    void aSplitOffTailGoesToTheFront() {
        RangePlan plan = new RangePlan(1000, 500, Intervals.EMPTY);
        plan.next();

        plan.addFirst(new long[] {250, 499});

        assertThat(plan.next()).containsExactly(250, 499);
        assertThat(plan.next()).containsExactly(500, 999);
    }
}
