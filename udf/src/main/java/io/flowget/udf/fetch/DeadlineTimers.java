package io.flowget.udf.fetch;

import org.apache.flink.streaming.api.operators.InternalTimer;
import org.apache.flink.streaming.api.operators.InternalTimerService;
import org.apache.flink.streaming.api.operators.Triggerable;

/**
 * The keyed timer service {@value Deadlines#TIMER_SERVICE} (namespace: the request's sequence number) as {@link
 * Deadlines} sees it: {@link Deadlines.Timers} registers and deletes for the current key, and what fires goes to the
 * {@link Fired} the operator passes in, which runs it under {@link Isolation#survive}. Its name and namespace
 * serializer are part of the savepoint.
 *
 * <p>Not thread-safe: task thread only.
 */
final class DeadlineTimers implements Triggerable<String, Long>, Deadlines.Timers {

    /** A request's deadline or no-progress timer fired (the current key is {@code host}). Task thread. */
    @FunctionalInterface
    interface Fired {
        void fired(String host, long seq, long at) throws Exception;
    }

    private final Fired fired;
    private InternalTimerService<Long> service;

    DeadlineTimers(Fired fired) {
        this.fired = fired;
    }

    /** Binds the operator's timer service of this name (created with this instance as its target). */
    void bind(InternalTimerService<Long> service) {
        this.service = service;
    }

    @Override
    public void onProcessingTime(InternalTimer<String, Long> timer) throws Exception {
        fired.fired(timer.getKey(), timer.getNamespace(), timer.getTimestamp());
    }

    @Override
    public void onEventTime(InternalTimer<String, Long> timer) {}

    @Override
    public void register(long seq, long at) {
        service.registerProcessingTimeTimer(seq, at);
    }

    @Override
    public void delete(long seq, long at) {
        service.deleteProcessingTimeTimer(seq, at);
    }
}
