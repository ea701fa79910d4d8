package io.flowget.udf.fetch;

import io.flowget.udf.http.Attempt;

import java.time.Duration;

/**
 * The low-speed guard ({@code flowget.fetch.low-speed-limit} bytes/s over {@code flowget.fetch.low-speed-time},
 * curl's {@code --speed-limit}/{@code --speed-time}): an attempt whose body has arrived slower than the limit, on
 * average, for the whole time since its last progress mark is crawling and must end. The idle timeout cannot see
 * a trickle (every byte resets it); this can.
 *
 * <p>The window ({@link Attempt#paceFrom}, {@link Attempt#paceBytes}) opens when a sweep first sees the response
 * head (the wait for the head is the response timeout's); each {@link #check} moves it to now when the bytes since
 * its start meet the limit over the time since it. Being on pace also moves the attempt's progress mark
 * ({@link Attempt#progressMark}, first the attempt's start): the time since that mark is what a failed attempt adds
 * to its request's no-progress budget ({@link Attempt#stalledMillis}). With the limit off (0), any byte is on
 * pace.
 *
 * <p>Immutable; {@link #check} writes the attempt's mark and runs on the task thread (the sweep).
 */
final class LowSpeedGuard {
    private final long bytesPerSecond;
    private final long timeMillis;

    LowSpeedGuard(long bytesPerSecond, Duration time) {
        this.bytesPerSecond = Math.max(0, bytesPerSecond);
        this.timeMillis = Math.max(1, time.toMillis());
    }

    /** True when the attempt has crawled for the guard's time: cancel it with {@link #reason}. */
    boolean check(Attempt a, long nowMillis) {
        if (!a.headersReceived) {
            return false; // the response timeout governs the wait for the head
        }
        long received = a.received;
        if (a.paceFrom == 0) {
            a.paceFrom = nowMillis;
            a.paceBytes = received;
            return false;
        }
        long bytes = received - a.paceBytes;
        long elapsed = nowMillis - a.paceFrom;
        boolean onPace = bytesPerSecond == 0 ? bytes > 0 : bytes > 0 && bytes * 1000 >= bytesPerSecond * elapsed;
        if (onPace) {
            a.paceFrom = nowMillis;
            a.paceBytes = received;
            a.progressMark = nowMillis;
            return false;
        }
        return bytesPerSecond > 0 && elapsed >= timeMillis;
    }

    /** The FAILED/retry reason of a crawling attempt. */
    String reason() {
        return "timeout: below " + bytesPerSecond + " bytes/s for " + Failures.seconds(Duration.ofMillis(timeMillis));
    }
}
