package io.flowget.udf.fetch.host;

import org.apache.flink.annotation.Internal;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.annotation.concurrent.NotThreadSafe;

import java.time.Duration;
import java.util.Optional;

/**
 * One host's circuit breaker and retry budget: {@code failures} consecutive attempts without any HTTP answer open
 * the circuit; while open the host's requests are parked, then one probe goes out; any HTTP answer closes it; once
 * the host has given no answer for {@code giveUpAfter}, its requests fail at once ({@link #gaveUp}).
 *
 * <p>No answer means connect refused or timed out, resets, DNS: the operator calls {@link #onNoAnswer} for
 * retryable failures without a status and {@link #onAnswer} for every HTTP status. The circuit stays open for
 * {@code open}, doubling per failed probe, capped by {@code maxOpen}; when it opens, the host is posted to
 * {@link WakeUps#at} for the end of that time. While open (and not yet past the budget) {@link
 * #admitsWhileOpen} parks the host's requests; at or after the end it admits one probe (nothing else in flight).
 * Past the budget it lets requests through so that the operator fails them with {@link #gaveUp}'s reason instead
 * of sending them, so a dead host cannot fill the subtask's backlog; probes continue and a live answer ends that.
 *
 * <p>Times are the operator's processing time (ms). The state is persisted by the caller ({@link #saveTo}) in the
 * keyed {@code host-health} and {@link #restore restored} when the host is next seen (after a restart, or after
 * its gate was evicted from memory), so a dead host stays known as dead. Not thread-safe: one instance per host,
 * owned by {@code HostPoliteness}, task thread only.
 */
@Internal
@NotThreadSafe
public final class Breaker {
    private static final Logger LOG = LoggerFactory.getLogger(Breaker.class);

    /**
     * The settings shared by all hosts: {@code flowget.host.breaker.failures}, {@code breaker.open}, {@code
     * breaker.max-open} and {@code flowget.host.give-up-after}.
     */
    public record Settings(int failures, Duration open, Duration maxOpen, Duration giveUpAfter) {}

    /** Why a host's requests fail without being sent: its last error and how long it has not answered. */
    public record GaveUp(String lastError, long noAnswerForMillis) {}

    private final String host;
    private final Settings settings;
    private final WakeUps wakeUps;
    private int consecutiveFailures;
    private int opens;
    private long failingSince;
    /** End of the current open period (processing time, ms); 0 while closed. */
    private long openUntil;
    private boolean givenUp;
    private String lastError;

    public Breaker(String host, Settings settings, WakeUps wakeUps) {
        this.host = host;
        this.settings = settings;
        this.wakeUps = wakeUps;
    }

    /** Continues from a saved state; an open circuit wakes the host again at the end of its open time. */
    public void restore(io.flowget.udf.fetch.HostHealth h) {
        consecutiveFailures = h.breakerFailures;
        opens = h.breakerOpens;
        failingSince = h.failingSince;
        openUntil = h.openUntil;
        givenUp = h.givenUp;
        lastError = h.lastError;
        if (openUntil > 0) {
            wakeUps.at(openUntil, host);
        }
    }

    /** Writes the persistent part into {@code h}. */
    public void saveTo(io.flowget.udf.fetch.HostHealth h) {
        h.breakerFailures = consecutiveFailures;
        h.breakerOpens = opens;
        h.failingSince = failingSince;
        h.openUntil = openUntil;
        h.givenUp = givenUp;
        h.lastError = lastError;
    }

    /** True while the circuit is open or half-open (its open time is over, a probe may go). */
    public boolean isOpen() {
        return openUntil > 0;
    }

    /**
     * Whether a request may be sent while {@link #isOpen}: before the open time ends, only past the retry budget
     * (to fail it fast); after it, one probe when nothing is in flight.
     */
    public boolean admitsWhileOpen(int inFlight, long now) {
        if (now < openUntil) {
            return givenUp;
        }
        return inFlight == 0;
    }

    /** Any HTTP answer: the host is alive; closes the circuit and resets the count and budget. */
    public void onAnswer() {
        if (openUntil > 0) {
            LOG.info("{} answered again: closing its circuit", host);
        }
        consecutiveFailures = 0;
        opens = 0;
        openUntil = 0;
        givenUp = false;
    }

    /**
     * Counts an attempt that got no HTTP answer; opens the circuit after {@code failures} of them, or re-opens it
     * for twice as long when the half-open probe failed.
     *
     * @param reason the failure's text, quoted by {@link #gaveUp}
     * @return the processing time the circuit is newly open until (also posted to {@link WakeUps}), or 0
     */
    public long onNoAnswer(String reason, long now) {
        if (consecutiveFailures == 0) {
            failingSince = now;
        }
        consecutiveFailures++;
        lastError = reason;
        boolean halfOpenProbeFailed = openUntil > 0 && now >= openUntil;
        boolean tooMany = openUntil == 0 && consecutiveFailures >= settings.failures();
        if (!halfOpenProbeFailed && !tooMany) {
            return 0;
        }
        opens++;
        long interval = settings.open().toMillis() << Math.min(opens - 1, 20);
        interval = Math.min(interval, settings.maxOpen().toMillis());
        openUntil = now + Math.max(1, interval);
        givenUp = now - failingSince >= settings.giveUpAfter().toMillis();
        wakeUps.at(openUntil, host);
        LOG.info(
                "{}: {} attempts without an answer ({}): circuit open for {} ms{}",
                host,
                consecutiveFailures,
                lastError,
                interval,
                givenUp ? ", failing its waiting requests" : "");
        return openUntil;
    }

    /** Present while the circuit is open and the host is past its retry budget: its requests must fail now. */
    public Optional<GaveUp> gaveUp(long now) {
        if (openUntil > 0 && now < openUntil && givenUp) {
            return Optional.of(new GaveUp(lastError, now - failingSince));
        }
        return Optional.empty();
    }
}
