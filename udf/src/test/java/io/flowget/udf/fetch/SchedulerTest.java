package io.flowget.udf.fetch;

import io.flowget.udf.http.Attempt;
import io.flowget.udf.model.FetchRequest;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link Scheduler} on its own, driven the way {@link FetchOperator}'s pump drives it: turns, permits, the per-host
 * gate, ready downloads against the durable queue, retries waiting for their time, and the counts that backpressure
 * and the operator's zero-state checks read.
 */
class SchedulerTest {
    /** Per-host limits for the gate; hosts not listed may always issue. */
    private final Map<String, Integer> hostLimit = new HashMap<>();

    private final Scheduler.Gate gate = (host, inFlight) -> inFlight < hostLimit.getOrDefault(host, Integer.MAX_VALUE);

    private long nextSeq;

    private static Download download(String host) {
        return new Download(new FetchRequest("id", "http://" + host + "/f", host, host + "/f"), 0);
    }

    private static Attempt attempt(Scheduler.Host h, Scheduler.Active act) {
        return new Attempt(h.name(), act.seq(), "http://" + h.name() + "/f", 0, 60_000);
    }

    /**
     * One pass of the operator's pump: every turn takes a ready download or the queue head and starts one attempt
     * for it. Returns the hosts in turn order.
     */
    private List<String> pump(Scheduler s) {
        List<String> turns = new ArrayList<>();
        Scheduler.Host h;
        while ((h = s.nextTurn()) != null) {
            Scheduler.Active act;
            if (s.readyTurn(h)) {
                act = s.pollReady(h);
            } else {
                s.dequeued(h);
                act = s.admit(h, nextSeq++, download(h.name()));
            }
            s.started(h, act, attempt(h, act));
            turns.add(h.name());
            s.enqueueIfReady(h);
        }
        return turns;
    }

    private static void queue(Scheduler s, String host, int n) {
        for (int i = 0; i < n; i++) {
            s.queued(s.host(host));
        }
    }

    @Test
    void hostsTakeTurnsOneRequestAtATime() {
        Scheduler s = new Scheduler(100, gate);
        queue(s, "a", 4);
        queue(s, "b", 2);
        queue(s, "c", 1);

        assertThat(pump(s)).containsExactly("a", "b", "c", "a", "b", "a", "a");
        assertThat(s.inFlight()).hasSize(7);
        assertThat(s.inFlightTo("a")).isEqualTo(4);
        assertThat(s.backlog()).isZero();
    }

    @Test
    void theGlobalPermitsCapWhatIsInFlightAndAReleaseFreesOne() {
        Scheduler s = new Scheduler(2, gate);
        queue(s, "a", 3);
        queue(s, "b", 3);

        assertThat(pump(s)).containsExactly("a", "b");
        assertThat(s.nextTurn()).as("both permits taken").isNull();
        assertThat(s.backlog()).isEqualTo(4);

        Attempt first = s.inFlight().stream().filter(a -> a.host.equals("a")).findFirst().orElseThrow();
        Scheduler.Host a = s.existing("a");
        s.release(a, a.download(first.seq), first);
        s.release(a, a.download(first.seq), first); // a second release frees nothing more

        assertThat(s.inFlight()).hasSize(1);
        assertThat(s.inFlightTo("a")).isZero();
        assertThat(pump(s)).as("the ring kept its order while the permits were taken").containsExactly("a");
    }

    @Test
    void aHostItsGateHoldsBackLeavesTheTurnsToOthers() {
        hostLimit.put("slow", 1);
        Scheduler s = new Scheduler(100, gate);
        queue(s, "slow", 3);
        queue(s, "fast", 3);

        assertThat(pump(s)).containsExactly("slow", "fast", "fast", "fast");
        assertThat(s.inFlightTo("slow")).isEqualTo(1);
        assertThat(s.backlog()).isEqualTo(2);

        Scheduler.Host slow = s.existing("slow");
        Attempt out = s.inFlight().stream().filter(a -> a.host.equals("slow")).findFirst().orElseThrow();
        s.release(slow, slow.download(out.seq), out);
        assertThat(pump(s)).as("not in the ring until asked again").isEmpty();
        s.enqueueIfReady(slow);
        assertThat(pump(s)).containsExactly("slow");
    }

    @Test
    void aHostThatLostItsGatesConsentInTheRingIsSkipped() {
        Scheduler s = new Scheduler(100, gate);
        queue(s, "a", 1);
        queue(s, "b", 1);
        hostLimit.put("a", 0); // e.g. paused by a Retry-After after it joined the ring

        assertThat(pump(s)).containsExactly("b");
        assertThat(s.backlog()).isEqualTo(1);
    }

    @Test
    void readyDownloadsAndTheQueueAlternateWhenBothWait() {
        Scheduler s = new Scheduler(100, gate);
        Scheduler.Host h = s.host("h");
        Scheduler.Active big = s.admit(h, 100, download("h"));
        queue(s, "h", 2);
        s.markReady(h, big);

        assertThat(s.readyTurn(h)).isTrue();
        assertThat(s.readyTurn(h)).isFalse();
        assertThat(s.readyTurn(h)).isTrue();
        s.pollReady(h);
        assertThat(s.readyTurn(h)).as("nothing ready: the queue").isFalse();
        assertThat(s.readyTurn(h)).isFalse();
    }

    @Test
    void withAnEmptyQueueReadyDownloadsTakeEveryTurn() {
        Scheduler s = new Scheduler(100, gate);
        Scheduler.Host h = s.host("h");
        Scheduler.Active a = s.admit(h, 1, download("h"));
        s.markReady(h, a);

        assertThat(s.readyTurn(h)).isTrue();
        assertThat(s.readyTurn(h)).isTrue();
    }

    @Test
    void markReadyListsADownloadOnce() {
        Scheduler s = new Scheduler(100, gate);
        Scheduler.Host h = s.host("h");
        Scheduler.Active a = s.admit(h, 1, download("h"));

        s.markReady(h, a);
        s.markReady(h, a);

        assertThat(s.backlog()).isEqualTo(1);
        assertThat(s.pollReady(h)).isSameAs(a);
        assertThat(s.backlog()).isZero();
    }

    @Test
    void dueRetriesArePromotedInDueOrderAndLaterOnesWait() {
        Scheduler s = new Scheduler(100, gate);
        Scheduler.Host h = s.host("h");
        Scheduler.Active late = s.admit(h, 1, download("h"));
        Scheduler.Active early = s.admit(h, 2, download("h"));
        Scheduler.Active later = s.admit(h, 3, download("h"));
        s.waitUntil(h, late, 5_000);
        s.waitUntil(h, early, 2_000);
        s.waitUntil(h, later, 9_000);

        assertThat(late.download().retryAt).isEqualTo(5_000);
        assertThat(s.backlog()).isEqualTo(3);
        s.promoteDue(4_999);
        assertThat(s.nextTurn()).isSameAs(h);
        assertThat(s.pollReady(h)).isSameAs(early);
        s.promoteDue(5_000);

        assertThat(late.download().retryAt).as("ready now").isZero();
        assertThat(later.download().retryAt).isEqualTo(9_000);
        assertThat(s.pollReady(h)).isSameAs(late);
        assertThat(s.backlog()).as("one still waiting").isEqualTo(1);
    }

    @Test
    void aResumedHostRejoinsTheRingAndUnknownHostsAreSkipped() {
        hostLimit.put("p", 0); // paused: its gate refuses
        Scheduler s = new Scheduler(100, gate);
        queue(s, "p", 1);
        assertThat(s.nextTurn()).as("paused host is not in the ring").isNull();

        hostLimit.remove("p");
        s.promoteDue(0, List.of("gone", "p"));

        assertThat(pump(s)).containsExactly("p");
    }

    @Test
    void aRetryOfARemovedDownloadIsNotPromoted() {
        Scheduler s = new Scheduler(100, gate);
        Scheduler.Host h = s.host("h");
        Scheduler.Active a = s.admit(h, 1, download("h"));
        s.waitUntil(h, a, 1_000);
        h.downloads.remove(1L); // as if forgotten without remove()

        s.promoteDue(2_000);

        assertThat(s.backlog()).isZero();
        assertThat(s.nextTurn()).isNull();
    }

    @Test
    void removeTakesADownloadOffTheReadyListAndTheRetryHeap() {
        Scheduler s = new Scheduler(100, gate);
        Scheduler.Host h = s.host("h");
        Scheduler.Active ready = s.admit(h, 1, download("h"));
        Scheduler.Active waiting = s.admit(h, 2, download("h"));
        s.markReady(h, ready);
        s.waitUntil(h, waiting, 1_000);
        assertThat(s.backlog()).isEqualTo(2);

        s.remove(h, ready);
        s.remove(h, waiting);

        assertThat(s.backlog()).isZero();
        assertThat(h.download(1)).isNull();
        assertThat(h.download(2)).isNull();
        assertThat(s.hasWork()).isFalse();
        assertThat(s.dropIfIdle(h)).isTrue();
        assertThat(s.existing("h")).isNull();
        assertThat(s.hostCount()).isZero();
    }

    @Test
    void aHostWithQueuedOrActiveWorkIsNotDropped() {
        Scheduler s = new Scheduler(100, gate);
        Scheduler.Host queued = s.host("q");
        s.queued(queued);
        Scheduler.Host active = s.host("a");
        s.admit(active, 1, download("a"));

        assertThat(s.dropIfIdle(queued)).isFalse();
        assertThat(s.dropIfIdle(active)).isFalse();
        assertThat(s.hostCount()).isEqualTo(2);
    }

    @Test
    void backlogCountsQueuedReadyAndWaitingButNotInFlight() {
        Scheduler s = new Scheduler(100, gate);
        Scheduler.Host h = s.host("h");
        queue(s, "h", 3);
        Scheduler.Active ready = s.admit(h, 10, download("h"));
        s.markReady(h, ready);
        Scheduler.Active waiting = s.admit(h, 11, download("h"));
        s.waitUntil(h, waiting, 1_000);
        Scheduler.Active flying = s.admit(h, 12, download("h"));
        s.started(h, flying, attempt(h, flying));

        assertThat(s.backlog()).isEqualTo(3 + 1 + 1);
        s.dequeued(h);
        assertThat(s.backlog()).isEqualTo(4);
    }

    @Test
    void hasWorkWhileAnythingIsInFlightOrFinalizing() {
        Scheduler s = new Scheduler(100, gate);
        Scheduler.Host h = s.host("h");
        Scheduler.Active act = s.admit(h, 1, download("h"));
        Attempt a = attempt(h, act);

        s.started(h, act, a);
        assertThat(s.holds(a)).isTrue();
        assertThat(s.hasWork()).isTrue();
        s.release(h, act, a);
        assertThat(s.holds(a)).isFalse();
        assertThat(act.attempts).isEmpty();
        assertThat(s.hasWork()).isFalse();

        assertThat(s.startFinalizing(act)).isTrue();
        assertThat(s.startFinalizing(act)).as("already finalizing").isFalse();
        assertThat(s.hasWork()).isTrue();
        s.remove(h, act); // ends finalizing too
        assertThat(s.hasWork()).isFalse();
        s.endFinalizing(act);
        assertThat(s.hasWork()).as("ending twice counts once").isFalse();
    }

    @Test
    void cancelAllCancelsEveryAttemptWithTheReasonAndFreesThePermits() {
        Scheduler s = new Scheduler(100, gate);
        queue(s, "a", 2);
        pump(s);
        List<Attempt> out = new ArrayList<>(s.inFlight());

        s.cancelAll("shutdown");

        assertThat(out).hasSize(2).allSatisfy(a -> assertThat(a.cancelReason).isEqualTo("shutdown"));
        assertThat(s.inFlight()).isEmpty();
        assertThat(s.hasWork()).isFalse();
    }

    @Test
    void restoreCountsTheQueueAndReadiesOrWaitsEachActiveDownload() {
        Scheduler s = new Scheduler(100, gate);
        Download due = download("h");
        due.retryAt = 900;
        Download later = download("h");
        later.retryAt = 5_000;
        Download inFlightAtTheCrash = download("h");

        int ready = s.restore("h", 4, List.of(Map.entry(7L, due), Map.entry(8L, later), Map.entry(9L, inFlightAtTheCrash)), 1_000);

        assertThat(ready).isEqualTo(2);
        assertThat(s.backlog()).isEqualTo(4 + 2 + 1);
        Scheduler.Host h = s.existing("h");
        assertThat(h.download(8).download()).isSameAs(later);
        s.enqueueAll();
        assertThat(s.nextTurn()).isSameAs(h);
        assertThat(s.readyTurn(h)).isTrue();
        assertThat(s.pollReady(h).seq()).isEqualTo(7);
        s.promoteDue(5_000);
        assertThat(s.backlog()).isEqualTo(4 + 2);
    }
}
