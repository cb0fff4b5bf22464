package riacho.it;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * {@code ClientCheck <bootstrap> <topic> failover <seconds>}: the Java client through a leader
 * failover. The default producer (idempotent, acks=all) writes keyed records to an existing
 * topic for the given seconds while the test kills a broker, and a consumer in a group
 * (subscribe, auto commit) reads them meanwhile. Afterwards every partition is read from the
 * start. The JSON says how many records were acknowledged and failed, how many acknowledged
 * ones are missing from the log or in it twice, and how many the group's consumer never saw.
 */
final class Failover {
  private Failover() {}

  static Map<String, Object> run(String bootstrap, String topic, int seconds) throws Exception {
    Set<String> acked = ConcurrentHashMap.newKeySet();
    AtomicInteger failed = new AtomicInteger();
    AtomicReference<String> firstError = new AtomicReference<>("");
    Map<String, Integer> consumed = new ConcurrentHashMap<>();
    AtomicBoolean producing = new AtomicBoolean(true);
    Thread reader = new Thread(() -> consumeInGroup(bootstrap, topic, acked, consumed, producing));
    reader.start();

    Properties pp = new Properties();
    pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    pp.put(ProducerConfig.METADATA_MAX_AGE_CONFIG, "1000");
    long deadline = System.currentTimeMillis() + seconds * 1000L;
    try (KafkaProducer<String, String> producer = new KafkaProducer<>(pp)) {
      for (int i = 0; System.currentTimeMillis() < deadline; i++) {
        String key = "k" + i;
        producer.send(new ProducerRecord<>(topic, key, "v" + key), (md, e) -> {
          if (e != null) {
            failed.incrementAndGet();
            firstError.compareAndSet("", e.toString());
          } else {
            acked.add(key);
          }
        });
        Thread.sleep(1);
      }
      producer.flush();
    }
    producing.set(false);
    reader.join(120_000);

    Map<String, Integer> inLog = readAll(bootstrap, topic, acked.size());
    int missing = 0;
    int groupMissed = 0;
    for (String k : acked) {
      missing += inLog.containsKey(k) ? 0 : 1;
      groupMissed += consumed.containsKey(k) ? 0 : 1;
    }
    int duplicates = 0;
    for (int c : inLog.values()) {
      duplicates += c > 1 ? 1 : 0;
    }
    Map<String, Object> r = new LinkedHashMap<>();
    r.put("acked", acked.size());
    r.put("failed", failed.get());
    r.put("first_error", firstError.get());
    r.put("missing", missing);
    r.put("duplicates", duplicates);
    r.put("group_missed", groupMissed);
    return r;
  }

  private static Properties consumerProps(String bootstrap, String group) {
    Properties cp = new Properties();
    cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    if (group != null) {
      cp.put(ConsumerConfig.GROUP_ID_CONFIG, group);
    }
    cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    cp.put(ConsumerConfig.METADATA_MAX_AGE_CONFIG, "1000");
    return cp;
  }

  /** Polls in a group until the producer is done and every acknowledged key was seen. */
  private static void consumeInGroup(String bootstrap, String topic, Set<String> acked,
      Map<String, Integer> consumed, AtomicBoolean producing) {
    long giveUp = Long.MAX_VALUE;
    try (KafkaConsumer<String, String> c =
        new KafkaConsumer<>(consumerProps(bootstrap, topic + "-java-group"))) {
      c.subscribe(List.of(topic));
      while (System.currentTimeMillis() < giveUp) {
        for (ConsumerRecord<String, String> rec : c.poll(Duration.ofMillis(200))) {
          consumed.merge(rec.key(), 1, Integer::sum);
        }
        if (!producing.get()) {
          giveUp = Math.min(giveUp, System.currentTimeMillis() + 90_000);
          if (consumed.keySet().containsAll(acked)) {
            break;
          }
        }
      }
    }
  }

  /** Every record of every partition, from the start up to the end offsets. */
  private static Map<String, Integer> readAll(String bootstrap, String topic, int expected) {
    Map<String, Integer> seen = new HashMap<>();
    try (KafkaConsumer<String, String> c = new KafkaConsumer<>(consumerProps(bootstrap, null))) {
      List<TopicPartition> parts = new ArrayList<>();
      for (PartitionInfo p : c.partitionsFor(topic)) {
        parts.add(new TopicPartition(topic, p.partition()));
      }
      c.assign(parts);
      c.seekToBeginning(parts);
      Map<TopicPartition, Long> end = c.endOffsets(parts);
      long deadline = System.currentTimeMillis() + 60_000;
      while (System.currentTimeMillis() < deadline) {
        for (ConsumerRecord<String, String> rec : c.poll(Duration.ofMillis(200))) {
          seen.merge(rec.key(), 1, Integer::sum);
        }
        boolean done = true;
        for (TopicPartition tp : parts) {
          done &= c.position(tp) >= end.get(tp);
        }
        if (done) {
          break;
        }
      }
    }
    return seen;
  }
}
