package io.flowget.job.diff;

import io.flowget.job.kafka.KafkaClients;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Test helper: write records with chosen timestamps, read a topic's committed records to its end. */
public final class Topics {
    private Topics() {}

    /** One record to write: key, JSON value, Kafka timestamp (ms). */
    record Rec(String key, String value, long timestamp) {}

    static void produce(String servers, String topic, List<Rec> records) {
        try (KafkaProducer<String, String> producer = KafkaClients.producer(servers).build()) {
            for (Rec r : records) {
                producer.send(new ProducerRecord<>(topic, null, r.timestamp(), r.key(), r.value()));
            }
            producer.flush();
        }
    }

    /** Every committed value of the topic, read until its end offsets (bounded by 30 s). */
    public static List<String> readAll(String servers, String topic) {
        List<String> out = new ArrayList<>();
        try (KafkaConsumer<String, String> c = KafkaClients.committedConsumer(servers).build()) {
            List<TopicPartition> parts = KafkaClients.assignFromBeginning(c, topic);
            Map<TopicPartition, Long> end = c.endOffsets(parts);
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (parts.stream().anyMatch(tp -> c.position(tp) < end.get(tp))) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("could not read " + topic + " to its end in 30 s");
                }
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                    out.add(r.value());
                }
            }
        }
        return out;
    }
}
