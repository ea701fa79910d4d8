package io.flowget.job.cli;

import org.apache.flink.client.program.StreamContextEnvironment;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

/**
 * Under {@code flink run} or the Kubernetes operator, the cluster's configuration (a FlinkDeployment's
 * {@code flinkConfiguration}) carries the {@code flowget.*} keys of a job; this takes them, then lets the
 * command line's own settings win. In a plain JVM there is no cluster configuration and nothing changes.
 *
 * <p>Stateless; any thread (the command's).
 */
final class ClusterSettings {
    private ClusterSettings() {}

    /**
     * True when this program was started by a Flink client, which installs a context environment before calling
     * {@code main}: {@code flink run} (attached or detached) and application mode (the JobManager itself runs
     * {@code main}). False in a plain JVM ({@code java -jar}, tests), where the environment is a local one.
     */
    static boolean insideFlinkClient() {
        return StreamExecutionEnvironment.getExecutionEnvironment() instanceof StreamContextEnvironment;
    }

    static Configuration withClusterFlowgetKeys(Configuration commandLine) {
        StreamExecutionEnvironment probe = StreamExecutionEnvironment.getExecutionEnvironment(commandLine);
        Configuration effective = new Configuration();
        if (probe.getConfiguration() instanceof Configuration cluster) {
            cluster.toMap().forEach((k, v) -> {
                if (k.startsWith("flowget.")) {
                    effective.setString(k, v);
                }
            });
        }
        effective.addAll(commandLine);
        return effective;
    }
}
