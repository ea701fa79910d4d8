package io.flowget.udf.fetch;

import io.flowget.udf.http.Attempt;

import java.util.ArrayList;
import java.util.List;

/**
 * What the sweep learns from the attempts in flight, beyond their timeouts ({@link Sweeper#enforceTimeouts}):
 * response heads that arrived (politeness counts the host as answering, {@link #reportHeaders}) and stalled
 * attempts, which stop holding the host's slot ({@link #detach}, README "Who is blamed"). Both change only the scheduler's and politeness' in-memory view and put the affected hosts back in the
 * ring; nothing here touches keyed state or timers. Stateless.
 *
 * <p>Task thread only (the sweep mail).
 */
final class StalledAttempts {
    /** A body without progress for this long stops holding the host's slot. */
    static final long DETACH_AFTER_MILLIS = 500;

    private StalledAttempts() {}

    /**
     * Stops counting stalled attempts against their host's limit (at most the host's maximum concurrency of them at
     * once): a few stalling or trickling URLs keep their retries' time but not their host's slots.
     *
     * <ul>
     *   <li>A body that stopped or crawls after its response head: always. The host answered; the transfer is the
     *       URL's trouble. (Requiring, as before, that the host served others meanwhile let a host's last bad URLs
     *       hold its slots one after the other once its healthy files were done: the hostile 119-URL run took 280 s
     *       instead of about 80.)
     *   <li>A late response head: only while the host served other requests since the attempt last made progress;
     *       a host that answers nothing may be slow or dead, and keeps counting the attempt.
     * </ul>
     */
    static void detach(Scheduler scheduler, HostPoliteness politeness, long wallNow) {
        List<Scheduler.Host> changed = null;
        for (Attempt a : scheduler.inFlight()) {
            if (!a.detached
                    && a.cancelReason == null
                    && a.stalledMillis(wallNow) >= detachAfter(politeness, a)
                    && (a.headersReceived || politeness.servedSince(a.host, a.progressMark))) {
                Scheduler.Host h = scheduler.existing(a.host);
                if (h != null && scheduler.detach(h, a, politeness.maxFor(a.host))) {
                    changed = changed == null ? new ArrayList<>() : changed;
                    changed.add(h);
                }
            }
        }
        if (changed != null) {
            for (Scheduler.Host h : changed) {
                scheduler.enqueueIfReady(h);
            }
        }
    }

    /**
     * How long an attempt may go without progress before it stops holding its host's slot: a body that stopped
     * or crawls, {@value #DETACH_AFTER_MILLIS} ms; a response head that is late, four times the host's usual time
     * to first byte (a slow server answers all its requests late and keeps its slots).
     */
    static long detachAfter(HostPoliteness politeness, Attempt a) {
        if (a.headersReceived) {
            return DETACH_AFTER_MILLIS;
        }
        return Math.max(DETACH_AFTER_MILLIS, 4 * politeness.minTtfbMillis(a.host));
    }

    /**
     * Tells politeness about response heads that arrived since the last sweep (bodies still streaming); in a host's
     * slow start a fast head raises its limit ({@code now}: processing time).
     */
    static void reportHeaders(Scheduler scheduler, HostPoliteness politeness, long now) {
        List<String> changed = null;
        for (Attempt a : scheduler.inFlight()) {
            if (a.headersReceived && !a.headersReported) {
                a.headersReported = true;
                if (politeness.answered(a.host, a.headHttp1, a.ttfbNanos(), a.hostInFlight, now)) {
                    changed = changed == null ? new ArrayList<>() : changed;
                    changed.add(a.host);
                }
            }
        }
        if (changed != null) {
            for (String host : changed) {
                Scheduler.Host h = scheduler.existing(host);
                if (h != null) {
                    scheduler.enqueueIfReady(h);
                }
            }
        }
    }
}
