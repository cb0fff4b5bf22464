// kafkajs scenarios for the Riacho integration tests (driven by test_kafkajs.py).
//
// Usage: node clientcheck.js <bootstrap> <topic-prefix> [all|group-consume]
// Prints one JSON object on stdout; kafkajs logs go to stderr.
//   all:            admin (create/list/metadata/delete + errors), produce (default
//                   producer, keyed records with headers and timestamps), idempotent
//                   producer, fetchTopicOffsets / fetchTopicOffsetsByTimestamp, and
//                   one produce per codec (gzip, snappy, lz4, zstd) for Python to read back.
//   group-consume:  a consumer group reading <prefix>-data from the beginning
//                   (needs consumer groups; bounded to 25 s).
'use strict';

const { Kafka, CompressionTypes, CompressionCodecs, logLevel } = require('kafkajs');
const SnappyCodec = require('kafkajs-snappy');
const lz4 = require('lz4js');
const xxh32 = require('lz4js/xxh32.js');
const { ZstdCodec } = require('zstd-codec');

const BASE_TS = 1700000000000;
const N = 20;

function codecs() {
  CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec;
  // Kafka accepts only LZ4 frames with the block-independence flag (a dependent-block
  // frame is answered with UNKNOWN_SERVER_ERROR). lz4js writes one block for our
  // small batches, so setting the flag and re-sealing the header checksum is truthful.
  CompressionCodecs[CompressionTypes.LZ4] = () => ({
    async compress(encoder) {
      const frame = Buffer.from(lz4.compress(encoder.buffer));
      if (encoder.buffer.length > 4 * 1024 * 1024) throw new Error('lz4: one block only');
      frame[4] |= 0x20;
      frame[6] = (xxh32.hash(0, frame, 4, 2) >> 8) & 0xff;
      return frame;
    },
    async decompress(buffer) { return Buffer.from(lz4.decompress(buffer)); },
  });
  return new Promise((resolve) => ZstdCodec.run((zstd) => {
    const simple = new zstd.Simple();
    CompressionCodecs[CompressionTypes.ZSTD] = () => ({
      async compress(encoder) { return Buffer.from(simple.compress(encoder.buffer)); },
      async decompress(buffer) { return Buffer.from(simple.decompress(buffer)); },
    });
    resolve();
  }));
}

function messages(n, tag) {
  const out = [];
  for (let i = 0; i < n; i++) {
    out.push({
      partition: 0,
      key: `key-${i}`,
      value: `kafkajs-${tag}-value-${i}-` + 'abc'.repeat(10),
      headers: { h1: `x${i}`, seq: `${i}` },
      timestamp: String(BASE_TS + i * 1000),
    });
  }
  return out;
}

async function scenario(fn) {
  try {
    return await fn();
  } catch (e) {
    return { error: `${e.name}: ${e.message}`, type: e.type };
  }
}

async function errorType(fn) {
  try {
    await fn();
    return 'none';
  } catch (e) {
    if (e.errors && e.errors.length) return e.errors[0].type || e.errors[0].name;
    return e.type || e.name;
  }
}

const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

// createTopics + wait until metadata shows a leader for every partition. kafkajs'
// own waitForLeaders retries only LEADER_NOT_AVAILABLE, but a KRaft broker may
// briefly answer UNKNOWN_TOPIC_OR_PARTITION for a topic it has just created.
async function ensureTopics(adm, topics, numPartitions = 1) {
  const created = await adm.createTopics({
    topics: topics.map((topic) => ({ topic, numPartitions, replicationFactor: 1 })),
    waitForLeaders: false });
  const deadline = Date.now() + 30000;
  for (;;) {
    try {
      const md = await adm.fetchTopicMetadata({ topics });
      if (md.topics.every((t) => t.partitions.length === numPartitions
          && t.partitions.every((p) => p.leader >= 0))) return created;
    } catch (e) {
      if (Date.now() > deadline) throw e;
    }
    if (Date.now() > deadline) throw new Error(`topics ${topics} not ready in 30 s`);
    await sleep(100);
  }
}

async function admin(adm, t) {
  const r = {};
  r.created = await ensureTopics(adm, [t], 3);
  r.listed = (await adm.listTopics()).includes(t);
  const md = await adm.fetchTopicMetadata({ topics: [t] });
  r.partitions = md.topics[0].partitions
    .map((p) => ({ partition: p.partitionId, leader: p.leader, replicas: p.replicas, isr: p.isr }))
    .sort((a, b) => a.partition - b.partition);
  // kafkajs answers false (no throw) when every topic already exists
  r.already_exists_result = await adm.createTopics({ topics: [{ topic: t, numPartitions: 1 }] });
  r.invalid_name_error = await errorType(() => adm.createTopics({
    topics: [{ topic: 'bad name!', numPartitions: 1, replicationFactor: 1 }] }));
  r.zero_partitions_error = await errorType(() => adm.createTopics({
    topics: [{ topic: `${t}-zero`, numPartitions: 0, replicationFactor: 1 }] }));
  await adm.deleteTopics({ topics: [t], timeout: 15000 });
  const deadline = Date.now() + 15000;
  r.deleted = false;
  while (!r.deleted && Date.now() < deadline) {
    r.deleted = !(await adm.listTopics()).includes(t);
    if (!r.deleted) await sleep(100);
  }
  return r;
}

async function produce(kafka, topic, opts, batches, tag, compression) {
  const producer = kafka.producer(opts);
  await producer.connect();
  try {
    const all = messages(N, tag);
    const per = Math.ceil(N / batches);
    const baseOffsets = [];
    for (let i = 0; i < N; i += per) {
      const res = await producer.send({ topic, acks: -1, compression,
        messages: all.slice(i, i + per) });
      baseOffsets.push(Number(res[0].baseOffset));
      if (res[0].errorCode !== 0) throw new Error(`errorCode ${res[0].errorCode}`);
    }
    return { base_offsets: baseOffsets };
  } finally {
    await producer.disconnect();
  }
}

async function offsets(adm, topic) {
  const r = {};
  r.topic_offsets = (await adm.fetchTopicOffsets(topic))
    .map((p) => ({ partition: p.partition, low: Number(p.low), high: Number(p.high) }));
  for (const delta of [0, 5000, 5500, 1000000000]) {
    const res = await adm.fetchTopicOffsetsByTimestamp(topic, BASE_TS + delta);
    r[`ts+${delta}`] = res.map((p) => Number(p.offset));
  }
  return r;
}

async function groupConsume(kafka, topic) {
  const consumer = kafka.consumer({ groupId: `${topic}-group`, sessionTimeout: 10000 });
  const records = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timeout: ${records.length} records`)), 25000);
      consumer.run({
        eachMessage: async ({ message }) => {
          records.push({
            offset: Number(message.offset), key: message.key.toString(),
            value: message.value.toString(), timestamp: Number(message.timestamp),
            headers: Object.fromEntries(Object.entries(message.headers)
              .map(([k, v]) => [k, v.toString()])),
          });
          if (records.length >= N) { clearTimeout(timer); resolve(); }
        },
      }).catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return { records };
}

async function main() {
  const [bootstrap, prefix, mode = 'all'] = process.argv.slice(2);
  if (!bootstrap || !prefix) {
    console.error('usage: node clientcheck.js <bootstrap> <topic-prefix> [all|group-consume]');
    process.exit(2);
  }
  await codecs();
  const kafka = new Kafka({
    clientId: 'riacho-it-kafkajs', brokers: [bootstrap], logLevel: logLevel.WARN,
    retry: { retries: 8, initialRetryTime: 100, maxRetryTime: 2000 },
    logCreator: () => ({ namespace, label, log }) =>
      process.stderr.write(`${label} ${namespace} ${log.message} ${log.error || ''}\n`),
  });
  const out = { client: 'kafkajs', version: require('kafkajs/package.json').version };
  if (mode === 'group-consume') {
    out.group_consume = await scenario(() => groupConsume(kafka, `${prefix}-data`));
  } else {
    const adm = kafka.admin();
    await adm.connect();
    try {
      out.admin = await scenario(() => admin(adm, `${prefix}-admin`));
      const data = `${prefix}-data`;
      const idem = `${prefix}-idem`;
      await ensureTopics(adm, [data, idem]);
      out.produce = await scenario(() => produce(kafka, data, {}, 1, 'none'));
      out.idempotent = await scenario(() => produce(kafka, idem,
        { idempotent: true, maxInFlightRequests: 1 }, 4, 'idem'));
      out.offsets = await scenario(() => offsets(adm, data));
      out.compression = {};
      for (const [name, type] of [['gzip', CompressionTypes.GZIP],
        ['snappy', CompressionTypes.Snappy], ['lz4', CompressionTypes.LZ4],
        ['zstd', CompressionTypes.ZSTD]]) {
        const t = `${prefix}-${name}`;
        out.compression[name] = await scenario(async () => {
          await ensureTopics(adm, [t]);
          return produce(kafka, t, {}, 1, name, type);
        });
      }
    } finally {
      await adm.disconnect();
    }
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().then(() => process.exit(0), (e) => {
  console.error(e);
  process.exit(1);
});
