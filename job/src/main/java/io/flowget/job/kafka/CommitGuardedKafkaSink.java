package io.flowget.job.kafka;

import org.apache.flink.annotation.Internal;
import org.apache.flink.api.connector.sink2.Committer;
import org.apache.flink.api.connector.sink2.CommitterInitContext;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.connector.kafka.sink.KafkaCommittable;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.sink.KafkaWriterState;
import org.apache.flink.connector.kafka.sink.TwoPhaseCommittingStatefulSink;
import org.apache.flink.core.io.SimpleVersionedSerializer;
import org.apache.flink.streaming.api.connector.sink2.CommittableMessage;
import org.apache.flink.streaming.api.connector.sink2.SupportsPostCommitTopology;
import org.apache.flink.streaming.api.datastream.DataStream;

import org.apache.kafka.common.errors.ProducerFencedException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * A {@link KafkaSink} whose failed commits fail the job instead of being counted (issue 15), and whose writer may
 * flush its producer when the stream pauses ({@link IdleFlushingWriter}, issue 16). Everything else — the writer's
 * records and transactions, its state, the committable serializer, the writer/committer co-location — is the
 * wrapped sink's.
 *
 * <p>The connector's committer ends a commit that the broker refuses ({@code InvalidTxnStateException}: the
 * transaction was aborted, typically because it outlived {@code transaction.timeout.ms};
 * {@code UnknownProducerIdException}; {@code ProducerFencedException} of a live transaction) with
 * {@code signalFailedWithKnownReason}, which Flink only counts in {@code numCommittablesFailure}: the results of
 * that transaction are gone while their requests have already left the fetch operator's state. This wrapper turns
 * such a failure into {@code signalFailedWithUnknownReason}, which throws and fails the job over, with an ERROR
 * naming the transaction. A restore then retries the commit from the checkpoint; if the transaction is really gone
 * the job keeps failing loudly (alert on restarts), never silently.
 *
 * <p>One case stays counted, as the connector intends: with the POOLING naming strategy a transactional id is
 * reused, so re-committing a restored committable whose id a later transaction already took is fenced although the
 * old transaction was committed long ago (KafkaCommitter's "expected in some cases" warning). A restored committable
 * carries no live producer; only those are let through when fenced.
 *
 * <p>Serializable like every sink; the committer runs on the committer subtask's task thread.
 */
@Internal
public final class CommitGuardedKafkaSink<IN>
        implements TwoPhaseCommittingStatefulSink<IN, KafkaWriterState, KafkaCommittable>,
                SupportsPostCommitTopology<KafkaCommittable> {
    private static final long serialVersionUID = 1L;

    private final KafkaSink<IN> delegate;
    /** Flush the producer after this long without a record; null: only when the wrapped writer does. */
    private final Duration idleFlush;

    public CommitGuardedKafkaSink(KafkaSink<IN> delegate) {
        this(delegate, null);
    }

    /**
     * @param idleFlush flush the writer's producer once no record has come for this long (see {@link
     *     IdleFlushingWriter}); null for only the wrapped writer's own flushes
     */
    public CommitGuardedKafkaSink(KafkaSink<IN> delegate, Duration idleFlush) {
        this.delegate = delegate;
        this.idleFlush = idleFlush;
    }

    @Override
    public PrecommittingStatefulSinkWriter<IN, KafkaWriterState, KafkaCommittable> createWriter(
            WriterInitContext context) throws IOException {
        return idleFlushing(delegate.createWriter(context), context);
    }

    @Override
    public PrecommittingStatefulSinkWriter<IN, KafkaWriterState, KafkaCommittable> restoreWriter(
            WriterInitContext context, Collection<KafkaWriterState> recoveredState) throws IOException {
        return idleFlushing(delegate.restoreWriter(context, recoveredState), context);
    }

    private PrecommittingStatefulSinkWriter<IN, KafkaWriterState, KafkaCommittable> idleFlushing(
            PrecommittingStatefulSinkWriter<IN, KafkaWriterState, KafkaCommittable> writer, WriterInitContext context) {
        return idleFlush == null
                ? writer
                : new IdleFlushingWriter<>(writer, context.getProcessingTimeService(), idleFlush);
    }

    @Override
    public SimpleVersionedSerializer<KafkaWriterState> getWriterStateSerializer() {
        return delegate.getWriterStateSerializer();
    }

    @Override
    public Committer<KafkaCommittable> createCommitter(CommitterInitContext context) throws IOException {
        return new FailLoudCommitter(delegate.createCommitter(context));
    }

    @Override
    public SimpleVersionedSerializer<KafkaCommittable> getCommittableSerializer() {
        return delegate.getCommittableSerializer();
    }

    @Override
    public void addPostCommitTopology(DataStream<CommittableMessage<KafkaCommittable>> committables) {
        delegate.addPostCommitTopology(committables);
    }

    /** Escalates the connector's counted commit failures; see the class comment. */
    static final class FailLoudCommitter implements Committer<KafkaCommittable> {
        private static final Logger LOG = LoggerFactory.getLogger(FailLoudCommitter.class);

        private final Committer<KafkaCommittable> delegate;

        FailLoudCommitter(Committer<KafkaCommittable> delegate) {
            this.delegate = delegate;
        }

        @Override
        public void commit(Collection<CommitRequest<KafkaCommittable>> requests)
                throws IOException, InterruptedException {
            List<CommitRequest<KafkaCommittable>> guarded = new ArrayList<>(requests.size());
            for (CommitRequest<KafkaCommittable> r : requests) {
                guarded.add(new Guarded(r));
            }
            delegate.commit(guarded);
        }

        @Override
        public void close() throws Exception {
            delegate.close();
        }

        /** Whether a known commit failure means lost results (see the class comment). */
        static boolean losesResults(KafkaCommittable committable, Throwable t) {
            boolean restored = committable.getProducer().isEmpty();
            return !(t instanceof ProducerFencedException && restored);
        }

        private record Guarded(CommitRequest<KafkaCommittable> r) implements CommitRequest<KafkaCommittable> {
            @Override
            public KafkaCommittable getCommittable() {
                return r.getCommittable();
            }

            @Override
            public int getNumberOfRetries() {
                return r.getNumberOfRetries();
            }

            @Override
            public void signalFailedWithKnownReason(Throwable t) {
                if (!losesResults(r.getCommittable(), t)) {
                    r.signalFailedWithKnownReason(t);
                    return;
                }
                LOG.error(
                        "Results transaction {} could not be committed: its results would be lost. Failing the job"
                                + " instead (see flowget.kafka.transaction-timeout and the broker's"
                                + " transaction.max.timeout.ms)",
                        r.getCommittable(),
                        t);
                r.signalFailedWithUnknownReason(
                        new IllegalStateException(
                                "results transaction " + r.getCommittable().getTransactionalId()
                                        + " could not be committed (" + t + "); failing instead of losing its results",
                                t));
            }

            @Override
            public void signalFailedWithUnknownReason(Throwable t) {
                r.signalFailedWithUnknownReason(t);
            }

            @Override
            public void retryLater() {
                r.retryLater();
            }

            @Override
            public void updateAndRetryLater(KafkaCommittable committable) {
                r.updateAndRetryLater(committable);
            }

            @Override
            public void signalAlreadyCommitted() {
                r.signalAlreadyCommitted();
            }
        }
    }
}
