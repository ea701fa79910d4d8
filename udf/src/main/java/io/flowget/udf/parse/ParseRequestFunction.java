package io.flowget.udf.parse;

import io.flowget.udf.model.DeadLetter;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.RawRequest;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.util.Objects;

/**
 * The parse/validate step of the topology: a valid request event goes to the main output as a
 * {@link FetchRequest}; a bad one produces exactly one FAILED {@link FetchResult} on {@link #FAILED} and exactly
 * one {@link DeadLetter} on {@link #DEAD_LETTERS}, with the same id and reason. It never throws for any input,
 * so bad input cannot restart the job (house style 9: per-record failures go to side outputs).
 *
 * <p>Records whose bytes were not valid UTF-8 ({@link RawRequest#decodeError} set) are rejected with that
 * reason, using the id and url read from the lossy decoding where possible.
 *
 * <p>Metrics: counters {@code requestsAccepted} and {@code requestsRejected}. Rejections are logged at DEBUG
 * only, since bad input is expected and the dead-letter topic is where it is kept.
 *
 * <p>Usage:
 *
 * <pre>{@code
 * SingleOutputStreamOperator<FetchRequest> requests =
 *     raw.process(new ParseRequestFunction()).uid("parse").name("parse");
 * DataStream<FetchResult> rejected = requests.getSideOutput(ParseRequestFunction.FAILED);
 * DataStream<DeadLetter> deadLetters = requests.getSideOutput(ParseRequestFunction.DEAD_LETTERS);
 * }</pre>
 */
public class ParseRequestFunction extends ProcessFunction<RawRequest, FetchRequest> {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(ParseRequestFunction.class);

    /** FAILED results of rejected events. */
    public static final OutputTag<FetchResult> FAILED =
            new OutputTag<>("rejected-requests", TypeInformation.of(FetchResult.class));

    /** Dead-letter records of rejected events. */
    public static final OutputTag<DeadLetter> DEAD_LETTERS =
            new OutputTag<>("dead-letters", TypeInformation.of(DeadLetter.class));

    private final RequestParser parser;
    private final Clock clock;

    private transient Counter accepted;
    private transient Counter rejected;

    public ParseRequestFunction() {
        this(new RequestParser(), Clock.systemUTC());
    }

    /** @param clock stamps dead letters; must be serialisable (the JDK's system and fixed clocks are) */
    public ParseRequestFunction(RequestParser parser, Clock clock) {
        this.parser = Objects.requireNonNull(parser);
        this.clock = Objects.requireNonNull(clock);
    }

    @Override
    public void open(OpenContext openContext) throws Exception {
        accepted = getRuntimeContext().getMetricGroup().counter("requestsAccepted");
        rejected = getRuntimeContext().getMetricGroup().counter("requestsRejected");
    }

    @Override
    public void processElement(RawRequest raw, Context ctx, Collector<FetchRequest> out) {
        ParseOutcome outcome = parse(raw);
        if (outcome.isOk()) {
            out.collect(outcome.request());
            accepted.inc();
            return;
        }
        ctx.output(FAILED, outcome.toFailedResult());
        DeadLetter dead = DeadLetter.of(raw, outcome.id(), outcome.reason(), clock.millis());
        dead.value = HeaderRedaction.redact(dead.value); // literal header values (tokens) never reach the topic
        ctx.output(DEAD_LETTERS, dead);
        rejected.inc();
        LOG.debug(
                "Rejected request {} from {}-{}@{}: {}",
                outcome.id(),
                raw.topic,
                raw.partition,
                raw.offset,
                outcome.reason());
    }

    private ParseOutcome parse(RawRequest raw) {
        try {
            ParseOutcome outcome = parser.parse(raw.key, raw.value);
            if (raw.decodeError != null) {
                return ParseOutcome.failed(outcome.id(), outcome.url(), raw.decodeError);
            }
            return outcome;
        } catch (RuntimeException e) {
            // A bug in the parser must not turn one bad event into a restart loop of the whole job.
            LOG.warn("Parser failed on record {}-{}@{}", raw.topic, raw.partition, raw.offset, e);
            return ParseOutcome.failed(
                    RequestParser.idOfKey(raw.key), null, "internal error while parsing: " + e);
        }
    }
}
