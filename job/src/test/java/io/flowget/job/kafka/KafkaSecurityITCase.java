package io.flowget.job.kafka;

import io.flowget.job.JobOptions;
import io.flowget.job.diff.Canary;
import io.flowget.job.diff.DiffJob;
import io.flowget.job.diff.DiffOptions;
import io.flowget.job.embedded.EmbeddedFlink;
import io.flowget.job.embedded.EmbeddedKafka;
import io.flowget.job.run.LocalRun;
import io.flowget.job.run.RunSummary;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.runtime.jobmaster.JobResult;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

import com.fasterxml.jackson.databind.JsonNode;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * {@code flowget.kafka.properties.*} reach every Kafka client flowget creates: the embedded broker gets a
 * SASL_PLAINTEXT (PLAIN) listener, and {@code run} against it (its producer, admin and results reader, the job's
 * source and sinks), then a bounded {@code diff} job and the canary's reader over its results all authenticate
 * with the configured settings. A wrong password is refused, so the listener really checks.
 */
class KafkaSecurityITCase {
    private static final EmbeddedKafka.SaslPlain USER = new EmbeddedKafka.SaslPlain("flowget", "s3cr3t-pw");

    @TempDir Path tmp;

    @Test
    void everyClientAuthenticatesWithTheConfiguredProperties() throws Exception {
        try (EmbeddedKafka kafka = EmbeddedKafka.start(tmp.resolve("kafka"), USER);
                TestOrigin origin = TestOrigin.start("127.0.0.1")) {
            String sasl = kafka.saslBootstrapServers();
            Configuration settings = new Configuration();
            sasl(settings, USER.password());

            // The listener checks: a wrong password fails authentication.
            Properties wrong = KafkaProperties.of(sasl(new Configuration(), "wrong"));
            wrong.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "20000");
            wrong.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "20000");
            try (Admin admin = KafkaClients.admin(sasl, wrong)) {
                assertThatThrownBy(() -> admin.listTopics().names().get(30, TimeUnit.SECONDS))
                        .isInstanceOf(ExecutionException.class)
                        .hasCauseInstanceOf(SaslAuthenticationException.class);
            }

            // run: its own producer, admin and reader, the job's source and sinks.
            for (int i = 0; i < 3; i++) {
                origin.file("/f" + i, TestOrigin.content("f" + i, 1000 + i));
            }
            Path urls = tmp.resolve("urls.txt");
            Files.write(urls, List.of(origin.url("/f0"), origin.url("/f1"), origin.url("/f2")));
            RunSummary summary =
                    new LocalRun(
                                    new LocalRun.Request(
                                            urls, null, tmp.resolve("out"), tmp.resolve("results.jsonl"),
                                            tmp.resolve("state"), 1, sasl, settings, true, false,
                                            Duration.ofMinutes(3)),
                                    new PrintStream(new ByteArrayOutputStream()))
                            .execute();
            assertThat(summary.ok()).as("%s", summary).isEqualTo(3);
            assertThat(Files.readAllLines(tmp.resolve("results.jsonl"))).hasSize(3);

            // diff (bounded) over the results topic against itself, then the canary's reader of its summaries.
            Properties props = KafkaProperties.of(settings);
            try (Admin admin = KafkaClients.admin(sasl, props)) {
                admin.createTopics(List.of(new NewTopic("diffs", 1, (short) 1), new NewTopic("summary", 1, (short) 1)))
                        .all()
                        .get(60, TimeUnit.SECONDS);
            }
            try (EmbeddedFlink flink = EmbeddedFlink.start(new Configuration(), tmp.resolve("checkpoints"), 1)) {
                Configuration c = flink.configuration();
                c.addAll(settings);
                c.set(JobOptions.KAFKA_BOOTSTRAP_SERVERS, sasl);
                c.set(DiffOptions.PRIMARY_TOPIC, "flowget.results");
                c.set(DiffOptions.CANDIDATE_TOPIC, "flowget.results");
                c.set(DiffOptions.DIFFS_TOPIC, "diffs");
                c.set(DiffOptions.SUMMARY_TOPIC, "summary");
                c.set(CoreOptions.DEFAULT_PARALLELISM, 1);
                c.set(PipelineOptions.AUTO_GENERATE_UIDS, false);
                StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(c);
                DiffJob diff = new DiffJob(c, true);
                assertThat(String.join("\n", diff.statements()))
                        .contains("'properties.security.protocol' = 'SASL_PLAINTEXT'");
                diff.build(env);
                JobID job = flink.submit(env);
                JobResult r = flink.await(job, Duration.ofMinutes(3));
                assertThat(r.isSuccess()).as("diff job: %s", r.getSerializedThrowable()).isTrue();
            }
            List<JsonNode> summaries = Canary.readSummaries(sasl, props, "summary", Duration.ofSeconds(60));
            long compared = summaries.stream().mapToLong(s -> s.get("compared").asLong()).sum();
            assertThat(compared).as("the diff compared every result (read with SASL)").isEqualTo(3);
        }
    }

    /** The client settings of a SASL/PLAIN login as flowget options. */
    private static Configuration sasl(Configuration c, String password) {
        c.setString(KafkaProperties.PREFIX + "security.protocol", "SASL_PLAINTEXT");
        c.setString(KafkaProperties.PREFIX + "sasl.mechanism", "PLAIN");
        c.setString(
                KafkaProperties.PREFIX + "sasl.jaas.config",
                "org.apache.kafka.common.security.plain.PlainLoginModule required username=\""
                        + USER.user() + "\" password=\"" + password + "\";");
        return c;
    }
}
