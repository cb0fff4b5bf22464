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
 * <p>Usage: {@code java -jar clientcheck-all.jar <bootstrap> <topic-prefix> [transactions]}, or
 * {@code ... <bootstrap> <topic> failover <seconds>} (see {@link Failover}). With
 * "transactions" only the exactly-once scenario runs (see {@link Txn}). Scenarios: admin
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
    if (args.length > 3 && args[2].equals("failover")) {
      out.put("failover", run(() -> Failover.run(bootstrap, prefix, Integer.parseInt(args[3]))));
      System.out.println(Json.write(out));
      System.out.flush();
      System.exit(0);
    }
    if (args.length > 2 && args[2].equals("transactions")) {
      try (Admin admin = Admin.create(adminProps(bootstrap))) {
        out.put("transactions", run(() -> Txn.all(admin, bootstrap, prefix)));
      }
      System.out.println(Json.write(out));
      System.out.flush();
      System.exit(0);
    }
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

  /**
   * The exactly-once scenario: consume-transform-produce with a real consumer group
   * (sendOffsetsToTransaction), a committed, an aborted (with offsets) and a retried committed
   * transaction; what read_committed and read_uncommitted consumers see; fencing by a second
   * producer with the same transactional.id; and the transaction Admin APIs (listTransactions,
   * describeTransactions, describeProducers, abortTransaction of a hanging transaction).
   */
  static final class Txn {
    static Properties producerProps(String bootstrap, String txnId) {
      Properties p = new Properties();
      p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
      p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
      p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
      p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
      if (txnId != null) p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, txnId);
      return p;
    }

    static KafkaConsumer<String, String> consumer(String bootstrap, String isolation,
        String group) {
      Properties p = new Properties();
      p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
      p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
      p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
      p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
      p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
      p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
      if (group != null) p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
      return new KafkaConsumer<>(p);
    }

    static List<TopicPartition> partitions(String topic, int n) {
      List<TopicPartition> tps = new ArrayList<>();
      for (int i = 0; i < n; i++) tps.add(new TopicPartition(topic, i));
      return tps;
    }

    /** Every record of the partitions from the beginning up to the consumer's end offsets
     * (the last stable offset for read_committed): [partition, offset, value] each. */
    static List<Object> readAll(String bootstrap, String isolation, List<TopicPartition> tps) {
      List<Object> recs = new ArrayList<>();
      try (KafkaConsumer<String, String> c = consumer(bootstrap, isolation, null)) {
        c.assign(tps);
        c.seekToBeginning(tps);
        Map<TopicPartition, Long> end = c.endOffsets(tps);
        long deadline = System.currentTimeMillis() + 30000;
        while (System.currentTimeMillis() < deadline) {
          boolean done = true;
          for (TopicPartition tp : tps) {
            if (c.position(tp) < end.get(tp)) done = false;
          }
          if (done) break;
          for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
            recs.add(List.of(r.partition(), r.offset(), r.value()));
          }
        }
      }
      return recs;
    }

    static Map<String, Object> endOffsets(String bootstrap, String isolation,
        List<TopicPartition> tps) {
      Map<String, Object> r = new LinkedHashMap<>();
      try (KafkaConsumer<String, String> c = consumer(bootstrap, isolation, null)) {
        for (var e : c.endOffsets(tps).entrySet()) r.put(e.getKey().toString(), e.getValue());
      }
      return new java.util.TreeMap<>(r);
    }

    static Map<TopicPartition, Long> committed(Admin admin, String group) throws Exception {
      Map<TopicPartition, Long> r = new java.util.TreeMap<>(
          java.util.Comparator.comparing(TopicPartition::toString));
      // requireStable: the offsets of a transaction that is committing (markers not yet
      // written) are UNSTABLE_OFFSET_COMMIT, retried, rather than missing.
      var opts = new org.apache.kafka.clients.admin.ListConsumerGroupOffsetsOptions()
          .requireStable(true);
      for (var e : admin.listConsumerGroupOffsets(group, opts).partitionsToOffsetAndMetadata()
          .get().entrySet()) {
        if (e.getValue() != null) r.put(e.getKey(), e.getValue().offset());
      }
      return r;
    }

    static Map<String, Object> named(Map<TopicPartition, Long> m) {
      Map<String, Object> r = new java.util.TreeMap<>();
      for (var e : m.entrySet()) r.put(e.getKey().toString(), e.getValue());
      return r;
    }

    /** Polls until n records arrived; returns them in arrival order. */
    static List<ConsumerRecord<String, String>> pollN(KafkaConsumer<String, String> c, int n) {
      List<ConsumerRecord<String, String>> got = new ArrayList<>();
      long deadline = System.currentTimeMillis() + 60000;
      while (got.size() < n && System.currentTimeMillis() < deadline) {
        for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(100))) got.add(r);
      }
      return got;
    }

    static Map<TopicPartition, org.apache.kafka.clients.consumer.OffsetAndMetadata> positions(
        KafkaConsumer<String, String> c) {
      Map<TopicPartition, org.apache.kafka.clients.consumer.OffsetAndMetadata> m = new HashMap<>();
      for (TopicPartition tp : c.assignment()) {
        m.put(tp, new org.apache.kafka.clients.consumer.OffsetAndMetadata(c.position(tp)));
      }
      return m;
    }

    static Object all(Admin admin, String bootstrap, String prefix) throws Exception {
      String in = prefix + "-txn-in";
      String out = prefix + "-txn-out";
      String fence = prefix + "-txn-fence";
      String hang = prefix + "-txn-hang";
      String timeout = prefix + "-txn-timeout";
      admin.createTopics(List.of(new NewTopic(in, 2, (short) 1), new NewTopic(out, 3, (short) 1),
          new NewTopic(fence, 1, (short) 1), new NewTopic(hang, 2, (short) 1),
          new NewTopic(timeout, 1, (short) 1), new NewTopic(timeout + "-abort", 1, (short) 1)))
          .all().get();
      Map<String, Object> r = new LinkedHashMap<>();
      r.put("ctp", ctp(admin, bootstrap, prefix, in, out));
      r.put("fence", fence(bootstrap, prefix, fence));
      r.put("admin", adminApis(admin, bootstrap, prefix, out, hang));
      r.put("timeout", timeout(bootstrap, prefix, timeout));
      return r;
    }

    /** A transaction open past its transaction.timeout.ms (2 s) is aborted by the broker: the
     * LSO passes its abort marker, then the producer ends it (commitTransaction in "commit",
     * abortTransaction in "abort"), and a new producer with the same transactional.id works. */
    static Object timeout(String bootstrap, String prefix, String topic) throws Exception {
      Map<String, Object> r = new LinkedHashMap<>();
      r.put("commit", timeoutCase(bootstrap, prefix + "-txn-timeout", topic, true));
      r.put("abort", timeoutCase(bootstrap, prefix + "-txn-timeout-abort", topic + "-abort",
          false));
      return r;
    }

    static Object timeoutCase(String bootstrap, String txnId, String topic, boolean commit)
        throws Exception {
      Map<String, Object> r = new LinkedHashMap<>();
      List<TopicPartition> tps = partitions(topic, 1);
      String key = tps.get(0).toString();
      Properties p = producerProps(bootstrap, txnId);
      p.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, 2000);
      KafkaProducer<String, String> a = new KafkaProducer<>(p);
      long began = System.currentTimeMillis();
      try {
        a.initTransactions();
        a.beginTransaction();
        a.send(new ProducerRecord<>(topic, 0, "t", "t1")).get();
        r.put("lso_open", endOffsets(bootstrap, "read_committed", tps).get(key));
        long deadline = System.currentTimeMillis() + 40000;
        Object lso = null;
        while (System.currentTimeMillis() < deadline) {
          lso = endOffsets(bootstrap, "read_committed", tps).get(key);
          if (((Long) lso) >= 2) break;
          Thread.sleep(100);
        }
        r.put("lso_after_timeout", lso);
        r.put("aborted_after_ms_at_least_timeout", System.currentTimeMillis() - began >= 2000);
        String err = "none";
        try {
          if (commit) {
            a.commitTransaction();
          } else {
            a.abortTransaction();
          }
        } catch (Exception e) {
          err = exceptionName(e);
        }
        r.put("end_error", err);
      } finally {
        a.close(Duration.ZERO);
      }
      try (KafkaProducer<String, String> b = new KafkaProducer<>(producerProps(bootstrap, txnId))) {
        b.initTransactions();
        b.beginTransaction();
        b.send(new ProducerRecord<>(topic, 0, "t", "t2"));
        b.commitTransaction();
      }
      r.put("read_committed", readAll(bootstrap, "read_committed", tps));
      r.put("read_uncommitted", readAll(bootstrap, "read_uncommitted", tps));
      return r;
    }

    /** Consume-transform-produce: commit c1 (10 records + offsets), abort "ab" (5 records +
     * offsets), seek back to the committed offsets and commit c2 (the same 5 again). */
    static Object ctp(Admin admin, String bootstrap, String prefix, String in, String out)
        throws Exception {
      String group = prefix + "-txn-group";
      String txnId = prefix + "-txn-ctp";
      Map<String, Object> r = new LinkedHashMap<>();
      try (KafkaProducer<String, String> plain = new KafkaProducer<>(producerProps(bootstrap, null));
           KafkaProducer<String, String> tx = new KafkaProducer<>(producerProps(bootstrap, txnId));
           KafkaConsumer<String, String> c = consumer(bootstrap, "read_committed", group)) {
        for (int i = 0; i < 10; i++) plain.send(new ProducerRecord<>(in, i % 2, "k" + i, "v" + i));
        plain.flush();
        tx.initTransactions();
        c.subscribe(List.of(in));
        List<ConsumerRecord<String, String>> batch = pollN(c, 10);
        r.put("c1_input", batch.size());
        tx.beginTransaction();
        for (var rec : batch) {
          int n = Integer.parseInt(rec.key().substring(1));
          tx.send(new ProducerRecord<>(out, n % 3, rec.key(), "c1:" + rec.value()));
        }
        tx.sendOffsetsToTransaction(positions(c), c.groupMetadata());
        tx.commitTransaction();
        r.put("committed_after_c1", named(committed(admin, group)));

        for (int i = 10; i < 15; i++) plain.send(new ProducerRecord<>(in, i % 2, "k" + i, "v" + i));
        plain.flush();
        batch = pollN(c, 5);
        r.put("ab_input", batch.size());
        tx.beginTransaction();
        for (var rec : batch) {
          int n = Integer.parseInt(rec.key().substring(1));
          tx.send(new ProducerRecord<>(out, n % 3, rec.key(), "ab:" + rec.value()));
        }
        tx.sendOffsetsToTransaction(positions(c), c.groupMetadata());
        tx.flush();
        tx.abortTransaction();
        Map<TopicPartition, Long> afterAbort = committed(admin, group);
        r.put("committed_after_abort", named(afterAbort));

        for (var e : afterAbort.entrySet()) c.seek(e.getKey(), e.getValue());
        batch = pollN(c, 5);
        r.put("c2_input", batch.size());
        tx.beginTransaction();
        for (var rec : batch) {
          int n = Integer.parseInt(rec.key().substring(1));
          tx.send(new ProducerRecord<>(out, n % 3, rec.key(), "c2:" + rec.value()));
        }
        tx.sendOffsetsToTransaction(positions(c), c.groupMetadata());
        tx.commitTransaction();
        r.put("committed_after_c2", named(committed(admin, group)));
      }
      r.put("read_committed", readAll(bootstrap, "read_committed", partitions(out, 3)));
      r.put("read_uncommitted", readAll(bootstrap, "read_uncommitted", partitions(out, 3)));
      r.put("end_offsets_committed", endOffsets(bootstrap, "read_committed", partitions(out, 3)));
      r.put("end_offsets_uncommitted",
          endOffsets(bootstrap, "read_uncommitted", partitions(out, 3)));
      return r;
    }

    static String exceptionName(Throwable e) {
      while ((e instanceof ExecutionException || e instanceof org.apache.kafka.common.KafkaException
          && e.getClass() == org.apache.kafka.common.KafkaException.class) && e.getCause() != null) {
        e = e.getCause();
      }
      return e.getClass().getSimpleName();
    }

    /** A second producer with the same transactional.id fences the first. */
    static Object fence(String bootstrap, String prefix, String topic) throws Exception {
      String txnId = prefix + "-txn-fence";
      Map<String, Object> r = new LinkedHashMap<>();
      KafkaProducer<String, String> a = new KafkaProducer<>(producerProps(bootstrap, txnId));
      try {
        a.initTransactions();
        a.beginTransaction();
        a.send(new ProducerRecord<>(topic, 0, "a", "a1")).get();
        try (KafkaProducer<String, String> b =
                 new KafkaProducer<>(producerProps(bootstrap, txnId))) {
          b.initTransactions();
          b.beginTransaction();
          b.send(new ProducerRecord<>(topic, 0, "b", "b1"));
          b.commitTransaction();
        }
        String err = "none";
        try {
          a.send(new ProducerRecord<>(topic, 0, "a", "a2"));
          a.commitTransaction();
        } catch (Exception e) {
          err = exceptionName(e);
        }
        r.put("old_producer_error", err);
      } finally {
        a.close(Duration.ZERO);
      }
      r.put("read_committed", readAll(bootstrap, "read_committed", partitions(topic, 1)));
      r.put("read_uncommitted", readAll(bootstrap, "read_uncommitted", partitions(topic, 1)));
      return r;
    }

    static Map<String, Object> describeTxn(
        org.apache.kafka.clients.admin.TransactionDescription d) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("state", d.state().toString());
      m.put("producer_id", d.producerId());
      m.put("producer_epoch", d.producerEpoch());
      m.put("timeout_ms", d.transactionTimeoutMs());
      m.put("start_time_ms", d.transactionStartTimeMs().isPresent()
          ? d.transactionStartTimeMs().getAsLong() : null);
      m.put("partitions", d.topicPartitions().stream().map(TopicPartition::toString).sorted()
          .toList());
      return m;
    }

    static Map<String, Object> producers(Admin admin, List<TopicPartition> tps) throws Exception {
      Map<String, Object> r = new java.util.TreeMap<>();
      var res = admin.describeProducers(tps);
      for (TopicPartition tp : tps) {
        List<Object> ps = new ArrayList<>();
        for (var p : res.partitionResult(tp).get().activeProducers()) {
          Map<String, Object> m = new LinkedHashMap<>();
          m.put("producer_id", p.producerId());
          m.put("producer_epoch", p.producerEpoch());
          m.put("last_sequence", p.lastSequence());
          m.put("last_timestamp", p.lastTimestamp());
          m.put("coordinator_epoch", p.coordinatorEpoch().isPresent()
              ? p.coordinatorEpoch().getAsInt() : null);
          m.put("txn_start_offset", p.currentTransactionStartOffset().isPresent()
              ? p.currentTransactionStartOffset().getAsLong() : null);
          ps.add(m);
        }
        ps.sort(java.util.Comparator.comparing(o -> (Long) ((Map<?, ?>) o).get("producer_id")));
        r.put(tp.toString(), ps);
      }
      return r;
    }

    static Map<String, Object> listed(Admin admin, String prefix,
        org.apache.kafka.clients.admin.ListTransactionsOptions opts) throws Exception {
      Map<String, Object> r = new java.util.TreeMap<>();
      for (var l : admin.listTransactions(opts).all().get()) {
        if (l.transactionalId().startsWith(prefix + "-")) {
          r.put(l.transactionalId(), List.of(l.state().toString(), l.producerId()));
        }
      }
      return r;
    }

    /** A hanging transaction (its producer gone without ending it, long timeout) seen through
     * the Admin API and aborted with abortTransaction (WriteTxnMarkers). */
    static Object adminApis(Admin admin, String bootstrap, String prefix, String out, String hang)
        throws Exception {
      String txnId = prefix + "-txn-hang";
      Map<String, Object> r = new LinkedHashMap<>();
      Properties hp = producerProps(bootstrap, txnId);
      hp.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, 600000);
      KafkaProducer<String, String> h = new KafkaProducer<>(hp);
      h.initTransactions();
      h.beginTransaction();
      h.send(new ProducerRecord<>(hang, 0, "h", "h0"));
      h.send(new ProducerRecord<>(hang, 1, "h", "h1"));
      h.flush();
      // Left without commit or abort: a force close sends no EndTxn.
      h.close(Duration.ZERO);
      try (KafkaProducer<String, String> plain =
               new KafkaProducer<>(producerProps(bootstrap, null))) {
        plain.send(new ProducerRecord<>(hang, 0, "p", "after")).get();
      }
      List<TopicPartition> hangTps = partitions(hang, 2);
      r.put("lso_before", endOffsets(bootstrap, "read_committed", hangTps));
      r.put("leo_before", endOffsets(bootstrap, "read_uncommitted", hangTps));

      var defaults = new org.apache.kafka.clients.admin.ListTransactionsOptions();
      r.put("list_all", listed(admin, prefix, defaults));
      r.put("list_ongoing", listed(admin, prefix,
          new org.apache.kafka.clients.admin.ListTransactionsOptions().filterStates(
              List.of(org.apache.kafka.clients.admin.TransactionState.ONGOING))));
      String ctpId = prefix + "-txn-ctp";
      Map<String, Object> described = new LinkedHashMap<>();
      var descs = admin.describeTransactions(List.of(ctpId, txnId)).all().get();
      described.put("ctp", describeTxn(descs.get(ctpId)));
      described.put("hang", describeTxn(descs.get(txnId)));
      r.put("describe", described);
      long hangPid = descs.get(txnId).producerId();
      r.put("list_by_producer_id", listed(admin, prefix,
          new org.apache.kafka.clients.admin.ListTransactionsOptions().filterProducerIds(
              List.of(hangPid))));

      List<TopicPartition> descTps = new ArrayList<>(hangTps);
      descTps.add(new TopicPartition(out, 0));
      Map<String, Object> before = producers(admin, descTps);
      r.put("producers_before", before);

      List<Object> aborted = new ArrayList<>();
      var res = admin.describeProducers(hangTps);
      for (TopicPartition tp : hangTps) {
        for (var p : res.partitionResult(tp).get().activeProducers()) {
          if (p.currentTransactionStartOffset().isPresent()) {
            admin.abortTransaction(new org.apache.kafka.clients.admin.AbortTransactionSpec(tp,
                p.producerId(), (short) p.producerEpoch(), p.coordinatorEpoch().orElse(0)))
                .all().get();
            aborted.add(tp.toString());
          }
        }
      }
      r.put("aborted", aborted);
      r.put("producers_after", producers(admin, hangTps));
      r.put("lso_after", endOffsets(bootstrap, "read_committed", hangTps));
      r.put("read_committed_after", readAll(bootstrap, "read_committed", hangTps));
      r.put("read_uncommitted_after", readAll(bootstrap, "read_uncommitted", hangTps));
      return r;
    }
  }

  private ClientCheck() {}

}
