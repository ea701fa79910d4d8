package io.flowget.job.kafka;

import org.apache.flink.annotation.Internal;
import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.operators.ProcessingTimeService;
import org.apache.flink.connector.kafka.sink.TwoPhaseCommittingStatefulSink.PrecommittingStatefulSinkWriter;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.util.Collection;
import java.util.List;

/**
 * A Kafka sink writer that flushes its producer once no record has come for {@code idle}: records batched by a
 * long {@code linger.ms} go to the broker as soon as the stream pauses instead of when the linger ends. Everything
 * else (the transaction, its state, the commit) is the wrapped writer's.
 *
 * <p>Why (issue 16): the results and dead-letter producers batch for up to 100 ms ({@code FlowgetJob}), which cut
 * the broker's CPU per result, and a run's tail waits for its last results to reach the results topic ({@code
 * TailCheckpoint} triggers the committing checkpoint when a {@code read_uncommitted} reader has seen every one).
 * Under a steady stream the writer never pauses for {@code idle} and the producer batches as configured; at the end
 * of a run, or after a burst, the last records leave after {@code idle} instead of after the linger. {@code idle}
 * must be longer than the gaps of a steady stream: records reach the sink in network buffers, which upstream sends
 * at least every {@code execution.buffer-timeout.interval}, so a slow stream arrives in bursts that far apart
 * ({@code FlowgetJob.sinkIdleFlush}). A flush waits for the broker's acknowledgement of what it sends (one round
 * trip, the same flush the writer does before every checkpoint's commit); it happens at most once per pause.
 *
 * <p>Owned by the sink's task thread: {@link #write}, the writer's other calls and the idle timer (a processing-time
 * timer, whose callback Flink runs in the task's mailbox) all run there, so nothing here is shared.
 */
@Internal
final class IdleFlushingWriter<IN, S, C> implements PrecommittingStatefulSinkWriter<IN, S, C> {
    private static final Logger LOG = LoggerFactory.getLogger(IdleFlushingWriter.class);

    private final PrecommittingStatefulSinkWriter<IN, S, C> delegate;
    private final ProcessingTimeService time;
    private final long idleMillis;
    /** Processing time of the last record written. */
    private long lastWrite;
    /** Records written since the last flush (ours or the checkpoint's). */
    private long unflushed;
    private boolean timerSet;
    private boolean closed;

    IdleFlushingWriter(PrecommittingStatefulSinkWriter<IN, S, C> delegate, ProcessingTimeService time, Duration idle) {
        this.delegate = delegate;
        this.time = time;
        this.idleMillis = Math.max(1, idle.toMillis());
    }

    @Override
    public void write(IN element, Context context) throws IOException, InterruptedException {
        delegate.write(element, context);
        lastWrite = time.getCurrentProcessingTime();
        unflushed++;
        if (!timerSet) {
            timerSet = true;
            time.registerTimer(lastWrite + idleMillis, this::onTimer);
        }
    }

    private void onTimer(long now) throws IOException, InterruptedException {
        timerSet = false;
        if (closed || unflushed == 0) {
            return;
        }
        if (now - lastWrite >= idleMillis) {
            LOG.debug("No record for {} ms: flushing the last {}", idleMillis, unflushed);
            flush(false);
        } else {
            timerSet = true; // records came meanwhile: look again one idle period after the last one
            time.registerTimer(lastWrite + idleMillis, this::onTimer);
        }
    }

    @Override
    public void flush(boolean endOfInput) throws IOException, InterruptedException {
        unflushed = 0;
        delegate.flush(endOfInput);
    }

    @Override
    public void writeWatermark(Watermark watermark) throws IOException, InterruptedException {
        delegate.writeWatermark(watermark);
    }

    @Override
    public Collection<C> prepareCommit() throws IOException, InterruptedException {
        return delegate.prepareCommit();
    }

    @Override
    public List<S> snapshotState(long checkpointId) throws IOException {
        return delegate.snapshotState(checkpointId);
    }

    @Override
    public void close() throws Exception {
        closed = true;
        delegate.close();
    }
}
