package io.flowget.job;

import io.flowget.udf.config.FlowgetOptions;

import org.apache.flink.api.dag.Transformation;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.transformations.PartitionTransformation;
import org.apache.flink.streaming.api.transformations.SideOutputTransformation;
import org.apache.flink.streaming.api.transformations.UnionTransformation;

import org.junit.jupiter.api.Test;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/** Every stateful operator of the job graph has a stable uid (savepoint compatibility), as STYLE.md #8 asks. */
class UidsTest {
    @Test
    void everyOperatorHasAUid() {
        Configuration conf = new Configuration();
        conf.set(JobOptions.KAFKA_BOOTSTRAP_SERVERS, "127.0.0.1:9");
        conf.set(FlowgetOptions.STORAGE_OUT_DIR, "/nonexistent-never-opened");
        conf.set(PipelineOptions.AUTO_GENERATE_UIDS, false);
        conf.set(PipelineOptions.GENERIC_TYPES, false);
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        FlowgetJob.kafka(conf, false).build(env);

        List<String> missing = new ArrayList<>();
        Set<String> uids = new HashSet<>();
        Deque<Transformation<?>> todo = new ArrayDeque<>(env.getTransformations());
        Set<Transformation<?>> seen = new HashSet<>();
        while (!todo.isEmpty()) {
            Transformation<?> t = todo.pop();
            if (!seen.add(t)) {
                continue;
            }
            todo.addAll(t.getInputs());
            // keyBy, side outputs and unions are not operators: they cannot carry a uid
            if (t instanceof PartitionTransformation
                    || t instanceof SideOutputTransformation
                    || t instanceof UnionTransformation) {
                continue;
            }
            if (t.getUid() == null) {
                missing.add(t.getName());
            } else {
                assertThat(uids.add(t.getUid())).as("uid %s is unique", t.getUid()).isTrue();
            }
        }
        assertThat(missing).as("operators without uid").isEmpty();
        assertThat(uids).contains(
                FlowgetJob.Uids.SOURCE,
                FlowgetJob.Uids.PARSE,
                FlowgetJob.Uids.FETCH,
                FlowgetJob.Uids.RESULTS_SINK,
                FlowgetJob.Uids.DEAD_LETTER_SINK);
        // With generated uids off and generic types off, building the graph fails on any gap.
        assertThat(env.getStreamGraph().getJobGraph().getNumberOfVertices()).isPositive();
    }
}
