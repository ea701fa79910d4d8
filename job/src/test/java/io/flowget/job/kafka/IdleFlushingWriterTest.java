package io.flowget.job.kafka;

import org.apache.flink.api.common.operators.ProcessingTimeService;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.connector.kafka.sink.TwoPhaseCommittingStatefulSink.PrecommittingStatefulSinkWriter;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.PriorityQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Delayed;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link IdleFlushingWriter} on a manual processing-time clock: a steady stream of records is never flushed by it
 * (the producer's batches stay whole), a pause of the idle period flushes once, and nothing flushes after close.
 */
class IdleFlushingWriterTest {
    private static final Duration IDLE = Duration.ofMillis(5);

    private final ManualTime time = new ManualTime();
    private final RecordingWriter kafka = new RecordingWriter();
    private final IdleFlushingWriter<String, Void, Void> writer = new IdleFlushingWriter<>(kafka, time, IDLE);

    @Test
    void aSteadyStreamIsNotFlushedAndItsPauseIsFlushedOnce() throws Exception {
        for (int ms = 0; ms < 1_000; ms++) { // one record per millisecond for a second
            time.advanceTo(ms);
            writer.write("r" + ms, null);
        }
        assertThat(kafka.flushes).isZero();
        assertThat(kafka.written).hasSize(1_000);

        time.advanceTo(999 + IDLE.toMillis() - 1);
        assertThat(kafka.flushes).isZero();

        time.advanceTo(999 + IDLE.toMillis());
        assertThat(kafka.flushes).isEqualTo(1);

        time.advanceTo(60_000);
        assertThat(kafka.flushes).as("nothing new, no more flushes").isEqualTo(1);
        assertThat(time.pending()).isZero();
    }

    @Test
    void eachBurstAfterAPauseIsFlushedOnceAndACheckpointsFlushCountsAsOne() throws Exception {
        writer.write("a", null);
        time.advanceTo(100);
        assertThat(kafka.flushes).isEqualTo(1);

        time.advanceTo(200);
        writer.write("b", null);
        writer.flush(false); // the checkpoint's flush before its commit: nothing left for the timer
        time.advanceTo(300);
        assertThat(kafka.flushes).isEqualTo(2);

        writer.write("c", null);
        time.advanceTo(400);
        assertThat(kafka.flushes).isEqualTo(3);
    }

    @Test
    void aClosedWriterIsNotFlushed() throws Exception {
        writer.write("a", null);
        writer.close();
        time.advanceTo(100);

        assertThat(kafka.flushes).isZero();
        assertThat(kafka.closed).isTrue();
    }

    /** The wrapped writer: records what it is asked to do. */
    private static final class RecordingWriter implements PrecommittingStatefulSinkWriter<String, Void, Void> {
        final List<String> written = new ArrayList<>();
        int flushes;
        boolean closed;

        @Override
        public void write(String element, SinkWriter.Context context) {
            written.add(element);
        }

        @Override
        public void flush(boolean endOfInput) {
            flushes++;
        }

        @Override
        public Collection<Void> prepareCommit() {
            return List.of();
        }

        @Override
        public List<Void> snapshotState(long checkpointId) {
            return List.of();
        }

        @Override
        public void close() {
            closed = true;
        }
    }

    /** Processing time that moves only when the test says; due timers fire in time order on the caller's thread. */
    private static final class ManualTime implements ProcessingTimeService {
        private record Timer(long at, long seq, ProcessingTimeCallback callback) {}

        private final PriorityQueue<Timer> timers =
                new PriorityQueue<>(Comparator.comparingLong(Timer::at).thenComparingLong(Timer::seq));
        private long now;
        private long seq;

        @Override
        public long getCurrentProcessingTime() {
            return now;
        }

        @Override
        public ScheduledFuture<?> registerTimer(long timestamp, ProcessingTimeCallback callback) {
            timers.add(new Timer(timestamp, seq++, callback));
            return new Done(timestamp - now);
        }

        void advanceTo(long t) throws Exception {
            while (!timers.isEmpty() && timers.peek().at() <= t) {
                Timer next = timers.poll();
                now = Math.max(now, next.at());
                next.callback().onProcessingTime(now);
            }
            now = t;
        }

        int pending() {
            return timers.size();
        }
    }

    /** The handle {@link ManualTime} returns; the writer never uses it. */
    private static final class Done extends CompletableFuture<Object> implements ScheduledFuture<Object> {
        private final long delayMillis;

        Done(long delayMillis) {
            this.delayMillis = delayMillis;
        }

        @Override
        public long getDelay(TimeUnit unit) {
            return unit.convert(delayMillis, TimeUnit.MILLISECONDS);
        }

        @Override
        public int compareTo(Delayed o) {
            return Long.compare(getDelay(TimeUnit.MILLISECONDS), o.getDelay(TimeUnit.MILLISECONDS));
        }
    }
}
