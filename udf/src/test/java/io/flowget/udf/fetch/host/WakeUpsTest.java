package io.flowget.udf.fetch.host;

import org.junit.jupiter.api.Test;

import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/** {@link WakeUps}: warm hosts first in the order they started, then timed wake-ups earliest first, each once. */
class WakeUpsTest {
    @Test
    void returnsWarmHostsThenDueHostsEarliestFirst() {
        WakeUps w = new WakeUps();
        w.at(300, "c");
        w.at(100, "a");
        w.at(200, "b");
        w.at(900, "late");
        w.whenWarm("w2");
        w.whenWarm("w1");
        w.whenWarm("w2"); // already listed
        Set<String> warm = Set.of("w1", "w2");

        assertThat(w.due(99, h -> false)).isEmpty();
        assertThat(w.due(300, warm::contains)).containsExactly("w2", "w1", "a", "b", "c");
        assertThat(w.due(300, warm::contains)).isEmpty();
        assertThat(w.due(900, h -> true)).containsExactly("late");
    }

    @Test
    void aWarmingHostStaysListedUntilItIsWarm() {
        WakeUps w = new WakeUps();
        w.whenWarm("cold");
        assertThat(w.due(Long.MAX_VALUE, h -> false)).isEmpty();
        assertThat(w.due(0, h -> true)).containsExactly("cold");
    }
}
