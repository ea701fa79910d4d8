package io.flowget.udf.fetch.host;

import org.apache.flink.annotation.Internal;

import javax.annotation.concurrent.NotThreadSafe;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.function.Predicate;

/**
 * The hosts that a mechanism parked and that must be put back in the operator's ring later: {@link #due} returns
 * each host whose wake-up time (processing time, ms) has come, once per {@link #at} call, earliest first, after the
 * hosts whose warm-up has ended, in the order they started it.
 *
 * <p>A wake-up only tells the operator to ask {@code mayIssue} again; it is no promise that the host may go. Not
 * thread-safe: one instance per {@code HostPoliteness}, task thread only. Its size is bounded by the calls: the
 * mechanisms post at most one wake-up per pause, circuit opening or newly earlier bucket refill.
 */
@Internal
@NotThreadSafe
public final class WakeUps {
    private final PriorityQueue<WakeUp> queue = new PriorityQueue<>();
    /** Hosts whose warm-up limits them to one request; a set, so each is listed once. */
    private final Set<String> warming = new LinkedHashSet<>();

    /** Wakes the host at {@code until} (processing time, ms). */
    public void at(long until, String host) {
        queue.add(new WakeUp(until, host));
    }

    /** Wakes the host once {@code warm} says its warm-up is over (checked on every {@link #due}). */
    public void whenWarm(String host) {
        warming.add(host);
    }

    /** Removes and returns the hosts to wake by {@code now}: warm ones first, then those due by time. */
    public List<String> due(long now, Predicate<String> warm) {
        List<String> out = new ArrayList<>();
        for (Iterator<String> it = warming.iterator(); it.hasNext(); ) {
            String host = it.next();
            if (warm.test(host)) {
                it.remove();
                out.add(host);
            }
        }
        while (!queue.isEmpty() && queue.peek().until <= now) {
            out.add(queue.poll().host);
        }
        return out;
    }

    private record WakeUp(long until, String host) implements Comparable<WakeUp> {
        @Override
        public int compareTo(WakeUp o) {
            return Long.compare(until, o.until);
        }
    }
}
