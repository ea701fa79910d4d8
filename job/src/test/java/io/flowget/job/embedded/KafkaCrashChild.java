package io.flowget.job.embedded;

import io.flowget.job.kafka.KafkaClients;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Child JVM for {@link EmbeddedKafkaITCase}'s crash test: starts a broker on {@code args[0]}, commits {@code args[2]}
 * records to topic {@code args[1]} in one transaction, leaves a second transaction open, writes the file
 * {@code args[3]} and then waits to be killed with SIGKILL.
 */
public final class KafkaCrashChild {
    private KafkaCrashChild() {}

    public static void main(String[] args) throws Exception {
        Path dataDir = Path.of(args[0]);
        String topic = args[1];
        int count = Integer.parseInt(args[2]);
        Path ready = Path.of(args[3]);

        EmbeddedKafka kafka = EmbeddedKafka.start(dataDir);
        kafka.createTopics(1, topic);
        KafkaProducer<String, String> producer =
                KafkaClients.producer(kafka.bootstrapServers())
                        .transactionalId("crash-tx")
                        .transactionTimeout(Duration.ofMinutes(10))
                        .build();
        producer.initTransactions();
        producer.beginTransaction();
        for (int i = 0; i < count; i++) {
            producer.send(new ProducerRecord<>(topic, "committed-" + i));
        }
        producer.commitTransaction();
        producer.beginTransaction();
        producer.send(new ProducerRecord<>(topic, "open-0"));
        producer.flush();
        Files.writeString(ready, kafka.bootstrapServers());
        Thread.sleep(Long.MAX_VALUE); // the test kills this JVM
    }
}
