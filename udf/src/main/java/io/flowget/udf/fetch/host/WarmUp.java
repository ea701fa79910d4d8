package io.flowget.udf.fetch.host;

import org.apache.flink.annotation.Internal;
import org.apache.flink.util.clock.Clock;

import javax.annotation.concurrent.NotThreadSafe;

import java.util.concurrent.TimeUnit;

/**
 * Limits one host to a single request in flight until its first attempt has finished or an HTTP/1.1 response head
 * of it arrived, or for at most {@link #MAX_NANOS} once that attempt is sent, and for a further {@link #GRACE_NANOS}
 * after a first answer over HTTP/2.
 *
 * <p>Why: an HTTP/2 origin then serves all later requests as streams of that one connection (HttpClient shares a
 * connection only once it knows the protocol), and an HTTP/1.1 origin resumes that connection's TLS session. The
 * cap keeps a host whose first file is large from waiting for all of it; an HTTP/1.1 head ends it at once (issue 16:
 * a large file's chunk connections open while its first answer streams), since that connection is busy with its
 * body until the end and its TLS session is already established for the next ones to resume. The grace exists
 * because HttpClient reports the response before it puts the connection back in its pool; leases made in that
 * window would open new connections.
 *
 * <p>Time is the injected {@link Clock}'s {@link Clock#relativeTimeNanos() relative nanoseconds} (the wall
 * clock, not the operator's processing time). When a warm-up starts, the host is posted to {@link
 * WakeUps#whenWarm} so the operator's sweep puts it back in the ring when {@link #isOver()}. State is in memory
 * only: a restarted operator, or a host evicted from the in-memory gates, warms up again.
 *
 * <p>Not thread-safe: one instance per host, owned by {@code HostPoliteness}, task thread only.
 */
@Internal
@NotThreadSafe
public final class WarmUp {
    /** Time for HttpClient to return a connection to its pool after the response callback. */
    public static final long GRACE_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
    /** Longest warm-up while the first request has not finished yet. */
    public static final long MAX_NANOS = TimeUnit.SECONDS.toNanos(1);

    private final String host;
    private final Clock clock;
    private final WakeUps wakeUps;
    /** True once an attempt to the host has finished (answer or failure). */
    private boolean answered;
    /** True once an HTTP/1.1 response head of the host arrived: the warm-up is over. */
    private boolean headSeen;
    /** Clock nanos before which the host still warms up; 0 when it has not started or ended without grace. */
    private long warmAtNanos;

    public WarmUp(String host, Clock clock, WakeUps wakeUps) {
        this.host = host;
        this.clock = clock;
        this.wakeUps = wakeUps;
    }

    /** True while the host's limit is one: nothing sent yet, first request unfinished (within the cap), or grace. */
    public boolean pinsToOne() {
        if (warmAtNanos != 0 && clock.relativeTimeNanos() - warmAtNanos < 0) {
            return true; // warming up: the first request (or the first HTTP/2 answer's grace)
        }
        return !answered && !headSeen && warmAtNanos == 0; // nothing sent yet
    }

    /** A request to the host is being sent: the first one starts the warm-up. */
    public void onIssued() {
        if (!answered && !headSeen && warmAtNanos == 0) {
            // The warm-up lasts until the first answer, but no longer than MAX_NANOS: a host whose first file is
            // large must not wait for all of it.
            warmAtNanos = clock.relativeTimeNanos() + MAX_NANOS;
            wakeUps.whenWarm(host);
        }
    }

    /** An attempt to the host finished; the first one ends the warm-up, or starts the grace if it was HTTP/2. */
    public void onFinished(boolean http2) {
        if (!answered && !headSeen) {
            warmAtNanos = http2 ? clock.relativeTimeNanos() + GRACE_NANOS : 0;
            if (http2) {
                wakeUps.whenWarm(host);
            }
        }
        answered = true;
    }

    /**
     * A response head of the host arrived while its body still streams. Over HTTP/1.1 this ends the warm-up (no
     * connection to share: this one carries the body to its end); over HTTP/2 it changes nothing (the later requests
     * are to share this connection, which the answer's grace waits for). Returns true when the warm-up ended.
     */
    public boolean onHead(boolean http2) {
        if (http2 || answered || headSeen) {
            return false;
        }
        headSeen = true;
        warmAtNanos = 0;
        return true;
    }

    /** True when the warm-up's time (cap or grace) has passed: the sweep may wake the host. */
    public boolean isOver() {
        return clock.relativeTimeNanos() - warmAtNanos >= 0;
    }

    /** True once an attempt to the host has finished. */
    public boolean answered() {
        return answered;
    }
}
