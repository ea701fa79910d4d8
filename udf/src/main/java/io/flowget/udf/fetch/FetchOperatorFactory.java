package io.flowget.udf.fetch;

import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.api.operators.AbstractStreamOperatorFactory;
import org.apache.flink.streaming.api.operators.OneInputStreamOperatorFactory;
import org.apache.flink.streaming.api.operators.StreamOperator;
import org.apache.flink.streaming.api.operators.StreamOperatorParameters;

/**
 * Builds {@link FetchOperator}s and hands them the operator's {@code MailboxExecutor}, through which HTTP
 * completions come back to the task thread. Apply with
 * {@code keyedByHost.transform("fetch", TypeInformation.of(FetchResult.class), new FetchOperatorFactory(conf))}.
 */
public class FetchOperatorFactory extends AbstractStreamOperatorFactory<FetchResult>
        implements OneInputStreamOperatorFactory<FetchRequest, FetchResult> {

    private static final long serialVersionUID = 1L;

    private final Configuration config;

    /** @param config the flowget options (see {@code FlowgetOptions}); copied */
    public FetchOperatorFactory(Configuration config) {
        this.config = new Configuration(config);
    }

    @Override
    @SuppressWarnings("unchecked")
    public <T extends StreamOperator<FetchResult>> T createStreamOperator(
            StreamOperatorParameters<FetchResult> parameters) {
        return (T) new FetchOperator(parameters, config, parameters.getMailboxExecutor());
    }

    @Override
    public Class<? extends StreamOperator> getStreamOperatorClass(ClassLoader classLoader) {
        return FetchOperator.class;
    }
}
