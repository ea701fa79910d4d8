package io.flowget.udf.fetch;

import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.base.LongSerializer;
import org.apache.flink.runtime.state.VoidNamespace;
import org.apache.flink.runtime.state.VoidNamespaceSerializer;
import org.apache.flink.streaming.api.operators.InternalTimer;
import org.apache.flink.streaming.api.operators.InternalTimerService;
import org.apache.flink.streaming.api.operators.Triggerable;

/**
 * The operator's two keyed processing-time timer services, whose names and namespace serializers are part of the
 * savepoint: {@value #RETRIES} (namespace {@link VoidNamespace}: a retry's due time or a paused host's wake-up,
 * {@link #retryAt}) and {@value Deadlines#TIMER_SERVICE} (namespace: the request's sequence number, registered and
 * deleted by {@link Deadlines} through {@link Deadlines.Timers}). What fires goes to the callbacks the operator
 * passes in, which run it under {@link Isolation#survive}: no exception of a timer reaches the task.
 *
 * <p>Not thread-safe: task thread only, for the current key.
 */
final class FetchTimers implements Deadlines.Timers {
    /** Timer service of retries and host wake-ups. */
    static final String RETRIES = "fetch-retries";

    /** A timer of {@value #RETRIES} fired: due retries and resumed hosts are promoted. Task thread. */
    @FunctionalInterface
    interface RetryFired {
        void fired() throws Exception;
    }

    /** A request's deadline or no-progress timer fired (the current key is {@code host}). Task thread. */
    @FunctionalInterface
    interface DeadlineFired {
        void fired(String host, long seq, long at) throws Exception;
    }

    /** Binds a timer service of the operator to the target that receives its firings. */
    @FunctionalInterface
    interface Services {
        <N> InternalTimerService<N> get(String name, TypeSerializer<N> namespace, Triggerable<String, N> target);
    }

    private final InternalTimerService<VoidNamespace> retries;
    private final InternalTimerService<Long> deadlines;

    FetchTimers(Services services, RetryFired retryFired, DeadlineFired deadlineFired) {
        retries = services.get(RETRIES, VoidNamespaceSerializer.INSTANCE, new Target<>(timer -> retryFired.fired()));
        deadlines = services.get(Deadlines.TIMER_SERVICE, LongSerializer.INSTANCE,
                new Target<>(timer -> deadlineFired.fired(timer.getKey(), timer.getNamespace(), timer.getTimestamp())));
    }

    /** A retry or a paused host's wake-up due at processing time {@code at}, for the current key. */
    void retryAt(long at) {
        retries.registerProcessingTimeTimer(VoidNamespace.INSTANCE, at);
    }

    @Override
    public void register(long seq, long at) {
        deadlines.registerProcessingTimeTimer(seq, at);
    }

    @Override
    public void delete(long seq, long at) {
        deadlines.deleteProcessingTimeTimer(seq, at);
    }

    /** One service's processing-time firings to a callback; event time is not used. */
    private static final class Target<N> implements Triggerable<String, N> {
        private final OnTimer<N> onTimer;

        Target(OnTimer<N> onTimer) {
            this.onTimer = onTimer;
        }

        @Override
        public void onProcessingTime(InternalTimer<String, N> timer) throws Exception {
            onTimer.fired(timer);
        }

        @Override
        public void onEventTime(InternalTimer<String, N> timer) {}
    }

    @FunctionalInterface
    private interface OnTimer<N> {
        void fired(InternalTimer<String, N> timer) throws Exception;
    }
}
