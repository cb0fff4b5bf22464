package riacho.it;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.AppInfoParser;

/**
 * Drives a broker with the Java client in its default configuration and prints one JSON object
 * with what it saw; the pytest side (test_java.py) asserts on it.
 *
 * <p>Usage: {@code java -jar clientcheck-all.jar <bootstrap> <topic-prefix>}. Scenarios: admin
 * (create/list/describe/delete and three error cases), produce (default idempotent acks=all
 * producer, keyed records with headers and explicit timestamps), consume (assign +
 * seekToBeginning, no group), offsets_for_times, compression (each codec, produce + consume),
 * and with kafka-clients 4.x consumer_protocol (two group.protocol=consumer members on three
 * partitions: disjoint assignments, every record once, commits, describeConsumerGroups).
 * A failing scenario reports {"error": "..."} and the others still run.
 */
public final class ClientCheck {
  static final long BASE_TS = 1_700_000_000_000L;
  static final int N = 20;

  public static void main(String[] args) throws Exception {
    if (args.length < 2) {
      System.err.println("usage: ClientCheck <bootstrap> <topic-prefix>");
      System.exit(2);
    }
    String bootstrap = args[0];
    String prefix = args[1];
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("client", "java");
    out.put("version", AppInfoParser.getVersion());
    try (Admin admin = Admin.create(adminProps(bootstrap))) {
      out.put("admin", run(() -> admin(admin, prefix + "-admin")));
      String data = prefix + "-data";
      admin.createTopics(List.of(new NewTopic(data, 1, (short) 1))).all().get();
      out.put("produce", run(() -> produce(bootstrap, data, "none", N)));
      out.put("consume", run(() -> consume(bootstrap, data, N)));
      out.put("offsets_for_times", run(() -> offsetsForTimes(bootstrap, data)));
      Map<String, Object> comp = new LinkedHashMap<>();
      for (String codec : List.of("gzip", "snappy", "lz4", "zstd")) {
        String t = prefix + "-" + codec;
        comp.put(codec, run(() -> {
          admin.createTopics(List.of(new NewTopic(t, 1, (short) 1))).all().get();
          Map<String, Object> r = new LinkedHashMap<>();
          r.put("produce", produce(bootstrap, t, codec, 10));
          r.put("consume", consume(bootstrap, t, 10));
          return r;
        }));
      }
      out.put("compression", comp);
      if (AppInfoParser.getVersion().startsWith("4.")) {
        String groupTopic = prefix + "-kip848";
        out.put("consumer_protocol", run(() -> consumerProtocol(admin, bootstrap, groupTopic)));
      }
    }
    System.out.println(Json.write(out));
    System.out.flush();
    System.exit(0);
  }

  /** Two KIP-848 members (group.protocol=consumer) share three partitions. */
  static Object consumerProtocol(Admin admin, String bootstrap, String topic) throws Exception {
    admin.createTopics(List.of(new NewTopic(topic, 3, (short) 1))).all().get();
    String group = topic + "-group";
    Properties cp = new Properties();
    cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    cp.put(ConsumerConfig.GROUP_ID_CONFIG, group);
    cp.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer");
    cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    Map<String, Object> r = new LinkedHashMap<>();
    try (KafkaConsumer<String, String> a = new KafkaConsumer<>(cp);
         KafkaConsumer<String, String> b = new KafkaConsumer<>(cp)) {
      a.subscribe(List.of(topic));
      b.subscribe(List.of(topic));
      long deadline = System.currentTimeMillis() + 60_000;
      while (System.currentTimeMillis() < deadline) {
        a.poll(Duration.ofMillis(100));
        b.poll(Duration.ofMillis(100));
        if (a.assignment().size() + b.assignment().size() == 3 && !a.assignment().isEmpty()
            && !b.assignment().isEmpty()) {
          break;
        }
      }
      List<Integer> pa = a.assignment().stream().map(TopicPartition::partition).sorted().toList();
      List<Integer> pb = b.assignment().stream().map(TopicPartition::partition).sorted().toList();
      r.put("assignment_a", pa);
      r.put("assignment_b", pb);
      Properties pp = new Properties();
      pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
      pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
      pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
      try (KafkaProducer<String, String> p = new KafkaProducer<>(pp)) {
        for (int i = 0; i < 30; i++) {
          p.send(new ProducerRecord<>(topic, i % 3, "k" + i, "v" + i));
        }
        p.flush();
      }
      List<String> seen = new ArrayList<>();
      deadline = System.currentTimeMillis() + 60_000;
      while (seen.size() < 30 && System.currentTimeMillis() < deadline) {
        for (KafkaConsumer<String, String> c : List.of(a, b)) {
          for (ConsumerRecord<String, String> rec : c.poll(Duration.ofMillis(100))) {
            seen.add(rec.partition() + ":" + rec.offset());
          }
        }
      }
      a.commitSync();
      b.commitSync();
      r.put("records", seen.size());
      r.put("distinct_records", seen.stream().distinct().count());
      var description = admin.describeConsumerGroups(List.of(group)).all().get().get(group);
      r.put("group_type", String.valueOf(description.type()));
      r.put("members", description.members().size());
      long committed = 0;
      for (var e : admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get()
          .values()) {
        committed += e.offset();
      }
      r.put("committed_total", committed);
    }
    return r;
  }

  interface Scenario {
    Object call() throws Exception;
  }

  static Object run(Scenario s) {
    try {
      return s.call();
    } catch (Throwable e) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("error", e.toString());
      return m;
    }
  }

  static Properties adminProps(String bootstrap) {
    Properties p = new Properties();
    p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30000);
    return p;
  }

  static String errorName(Scenario s) {
    try {
      s.call();
      return "none";
    } catch (ExecutionException e) {
      return e.getCause().getClass().getSimpleName();
    } catch (Exception e) {
      return e.getClass().getSimpleName();
    }
  }

  static Object admin(Admin admin, String t) throws Exception {
    Map<String, Object> r = new LinkedHashMap<>();
    admin.createTopics(List.of(new NewTopic(t, 3, (short) 1))).all().get();
    r.put("listed", admin.listTopics().names().get().contains(t));
    TopicDescription d = admin.describeTopics(List.of(t)).allTopicNames().get().get(t);
    List<Object> parts = new ArrayList<>();
    for (var p : d.partitions()) {
      Map<String, Object> pm = new LinkedHashMap<>();
      pm.put("partition", p.partition());
      pm.put("leader", p.leader() == null ? -1 : p.leader().id());
      pm.put("replicas", p.replicas().stream().map(n -> n.id()).toList());
      pm.put("isr", p.isr().stream().map(n -> n.id()).toList());
      parts.add(pm);
    }
    r.put("partitions", parts);
    r.put("topic_id", d.topicId() == null ? null : d.topicId().toString());
    r.put("cluster_nodes", admin.describeCluster().nodes().get().stream().map(n -> n.port()).toList());
    r.put("duplicate_error",
        errorName(() -> admin.createTopics(List.of(new NewTopic(t, 1, (short) 1))).all().get()));
    r.put("invalid_name_error", errorName(
        () -> admin.createTopics(List.of(new NewTopic("bad name!", 1, (short) 1))).all().get()));
    r.put("zero_partitions_error", errorName(
        () -> admin.createTopics(List.of(new NewTopic(t + "-zero", 0, (short) 1))).all().get()));
    admin.deleteTopics(List.of(t)).all().get();
    long deadline = System.currentTimeMillis() + 15000;
    boolean gone = false;
    while (!gone && System.currentTimeMillis() < deadline) {
      gone = !admin.listTopics().names().get().contains(t);
      if (!gone) Thread.sleep(100);
    }
    r.put("deleted", gone);
    return r;
  }

  static Object produce(String bootstrap, String topic, String codec, int n) throws Exception {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec);
    p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
    Map<String, Object> r = new LinkedHashMap<>();
    try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
      List<Future<RecordMetadata>> fs = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        List<Header> headers = List.of(
            new RecordHeader("h1", ("x" + i).getBytes(StandardCharsets.UTF_8)),
            new RecordHeader("seq", Integer.toString(i).getBytes(StandardCharsets.UTF_8)));
        fs.add(producer.send(new ProducerRecord<>(topic, 0, BASE_TS + i * 1000L, "key-" + i,
            "java-" + codec + "-value-" + i + "-" + "abc".repeat(10), headers)));
      }
      producer.flush();
      List<Long> offsets = new ArrayList<>();
      for (var f : fs) offsets.add(f.get().offset());
      r.put("offsets", offsets);
    }
    return r;
  }

  static KafkaConsumer<String, String> consumer(String bootstrap) {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    return new KafkaConsumer<>(p);
  }

  static Object consume(String bootstrap, String topic, int n) {
    List<Object> recs = new ArrayList<>();
    TopicPartition tp = new TopicPartition(topic, 0);
    try (KafkaConsumer<String, String> c = consumer(bootstrap)) {
      c.assign(List.of(tp));
      c.seekToBeginning(List.of(tp));
      long deadline = System.currentTimeMillis() + 30000;
      while (recs.size() < n && System.currentTimeMillis() < deadline) {
        for (ConsumerRecord<String, String> rec : c.poll(Duration.ofMillis(500))) {
          Map<String, Object> m = new LinkedHashMap<>();
          m.put("offset", rec.offset());
          m.put("key", rec.key());
          m.put("value", rec.value());
          List<Object> hs = new ArrayList<>();
          for (Header h : rec.headers()) {
            hs.add(List.of(h.key(), new String(h.value(), StandardCharsets.UTF_8)));
          }
          m.put("headers", hs);
          m.put("timestamp", rec.timestamp());
          m.put("timestamp_type", rec.timestampType().toString());
          recs.add(m);
        }
      }
      Map<String, Object> r = new LinkedHashMap<>();
      r.put("records", recs);
      r.put("end_offset", c.endOffsets(List.of(tp)).get(tp));
      r.put("beginning_offset", c.beginningOffsets(List.of(tp)).get(tp));
      return r;
    }
  }

  static Object offsetsForTimes(String bootstrap, String topic) {
    TopicPartition tp = new TopicPartition(topic, 0);
    Map<String, Object> r = new LinkedHashMap<>();
    try (KafkaConsumer<String, String> c = consumer(bootstrap)) {
      for (long delta : new long[] {0, 5000, 5500, 1_000_000_000L}) {
        Map<TopicPartition, Long> q = new HashMap<>();
        q.put(tp, BASE_TS + delta);
        OffsetAndTimestamp o = c.offsetsForTimes(q).get(tp);
        r.put("ts+" + delta, o == null ? null : List.of(o.offset(), o.timestamp()));
      }
    }
    return r;
  }

  /** Minimal JSON writer for maps, lists, strings, numbers, booleans and null. */
  static final class Json {
    static String write(Object o) {
      StringBuilder sb = new StringBuilder();
      write(sb, o);
      return sb.toString();
    }

    static void write(StringBuilder sb, Object o) {
      if (o == null) {
        sb.append("null");
      } else if (o instanceof String s) {
        sb.append('"');
        for (char ch : s.toCharArray()) {
          switch (ch) {
            case '"' -> sb.append("\\\"");
            case '\\' -> sb.append("\\\\");
            case '\n' -> sb.append("\\n");
            default -> {
              if (ch < 0x20) sb.append(String.format("\\u%04x", (int) ch));
              else sb.append(ch);
            }
          }
        }
        sb.append('"');
      } else if (o instanceof Number || o instanceof Boolean) {
        sb.append(o);
      } else if (o instanceof Map<?, ?> m) {
        sb.append('{');
        boolean first = true;
        for (var e : m.entrySet()) {
          if (!first) sb.append(',');
          first = false;
          write(sb, String.valueOf(e.getKey()));
          sb.append(':');
          write(sb, e.getValue());
        }
        sb.append('}');
      } else if (o instanceof Collection<?> c) {
        sb.append('[');
        boolean first = true;
        for (Object x : c) {
          if (!first) sb.append(',');
          first = false;
          write(sb, x);
        }
        sb.append(']');
      } else {
        write(sb, o.toString());
      }
    }
  }

  private ClientCheck() {}

}
