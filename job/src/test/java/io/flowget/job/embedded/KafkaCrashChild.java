package io.flowget.job.embedded;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;

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
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "crash-tx");
        p.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, 600_000);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        KafkaProducer<String, String> producer = new KafkaProducer<>(p);
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
