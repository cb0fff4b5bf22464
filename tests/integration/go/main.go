// Command clientcheck drives a broker with franz-go (kgo + kadm) in its default
// configuration and prints one JSON object; test_franz_go.py asserts on it.
//
// Usage: clientcheck <bootstrap> <topic-prefix> [transactions]
//
//	clientcheck <bootstrap> <topic> failover <seconds>
//
// With "transactions" only the transactional scenario runs (see transactions). With
// "failover" the default producer writes keyed records to an existing topic for <seconds>
// (while the test kills brokers), then every partition is read from the start: the JSON
// says how many records were acknowledged, failed, missing from the log or read twice.
//
// Scenarios: admin (kadm create/list/describe/delete and three error cases),
// produce (kgo default producer: idempotent, acks=all; keyed records with
// headers and explicit timestamps), consume (ConsumePartitions from the start,
// no group), offsets (start/end and by timestamp), compression (each codec:
// produce + consume). A failing scenario reports {"error": "..."}.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	baseTS = int64(1_700_000_000_000)
	n      = 20
)

type obj = map[string]any

func scenario(f func() (any, error)) any {
	v, err := f()
	if err != nil {
		return obj{"error": err.Error()}
	}
	return v
}

func errName(err error) string {
	if err == nil {
		return "none"
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Message
	}
	return err.Error()
}

func admin(ctx context.Context, adm *kadm.Client, t string) (any, error) {
	r := obj{}
	resp, err := adm.CreateTopics(ctx, 3, 1, nil, t)
	if err != nil {
		return nil, err
	}
	if err := resp[t].Err; err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		return nil, err
	}
	r["listed"] = topics.Has(t)
	det, err := adm.ListTopics(ctx, t)
	if err != nil {
		return nil, err
	}
	td := det[t]
	r["topic_id"] = td.ID.String()
	var parts []obj
	for _, p := range td.Partitions.Sorted() {
		parts = append(parts, obj{"partition": p.Partition, "leader": p.Leader,
			"replicas": p.Replicas, "isr": p.ISR})
	}
	r["partitions"] = parts
	meta, err := adm.BrokerMetadata(ctx)
	if err != nil {
		return nil, err
	}
	var ports []int32
	for _, b := range meta.Brokers {
		ports = append(ports, b.Port)
	}
	r["broker_ports"] = ports
	dup, err := adm.CreateTopics(ctx, 1, 1, nil, t)
	if err != nil {
		return nil, err
	}
	r["duplicate_error"] = errName(dup[t].Err)
	bad, err := adm.CreateTopics(ctx, 1, 1, nil, "bad name!")
	if err != nil {
		return nil, err
	}
	r["invalid_name_error"] = errName(bad["bad name!"].Err)
	zero, err := adm.CreateTopics(ctx, 0, 1, nil, t+"-zero")
	if err != nil {
		return nil, err
	}
	r["zero_partitions_error"] = errName(zero[t+"-zero"].Err)
	del, err := adm.DeleteTopics(ctx, t)
	if err != nil {
		return nil, err
	}
	if err := del[t].Err; err != nil {
		return nil, fmt.Errorf("delete: %w", err)
	}
	gone := false
	for deadline := time.Now().Add(15 * time.Second); !gone && time.Now().Before(deadline); {
		lt, err := adm.ListTopics(ctx)
		if err != nil {
			return nil, err
		}
		if gone = !lt.Has(t); !gone {
			time.Sleep(100 * time.Millisecond)
		}
	}
	r["deleted"] = gone
	return r, nil
}

func produce(ctx context.Context, bootstrap, topic, tag string, count int, opts ...kgo.Opt) (any, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(bootstrap),
		kgo.RecordPartitioner(kgo.ManualPartitioner())}, opts...)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i := 0; i < count; i++ {
		recs = append(recs, &kgo.Record{
			Topic: topic, Partition: 0,
			Key:   []byte(fmt.Sprintf("key-%d", i)),
			Value: []byte(fmt.Sprintf("franz-%s-value-%d-%s", tag, i, strings.Repeat("abc", 10))),
			Headers: []kgo.RecordHeader{{Key: "h1", Value: []byte(fmt.Sprintf("x%d", i))},
				{Key: "seq", Value: []byte(fmt.Sprint(i))}},
			Timestamp: time.UnixMilli(baseTS + int64(i)*1000),
		})
	}
	res := cl.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); err != nil {
		return nil, err
	}
	var offsets []int64
	for _, pr := range res {
		offsets = append(offsets, pr.Record.Offset)
	}
	return obj{"offsets": offsets}, nil
}

func consume(ctx context.Context, bootstrap, topic string, count int) (any, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ConsumePartitions(
		map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var recs []obj
	for len(recs) < count {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("timeout after %d records", len(recs))
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) { ferr = fmt.Errorf("%s[%d]: %w", t, p, err) })
		if ferr != nil {
			return nil, ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			var hs [][2]string
			for _, h := range r.Headers {
				hs = append(hs, [2]string{h.Key, string(h.Value)})
			}
			recs = append(recs, obj{"offset": r.Offset, "key": string(r.Key),
				"value": string(r.Value), "headers": hs, "timestamp": r.Timestamp.UnixMilli()})
		})
	}
	return obj{"records": recs}, nil
}

func offsets(ctx context.Context, adm *kadm.Client, topic string) (any, error) {
	r := obj{}
	start, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	end, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	s, _ := start.Lookup(topic, 0)
	e, _ := end.Lookup(topic, 0)
	if s.Err != nil || e.Err != nil {
		return nil, fmt.Errorf("list offsets: %v %v", s.Err, e.Err)
	}
	r["start"], r["end"] = s.Offset, e.Offset
	for _, delta := range []int64{0, 5000, 5500, 1_000_000_000} {
		lo, err := adm.ListOffsetsAfterMilli(ctx, baseTS+delta, topic)
		if err != nil {
			return nil, err
		}
		o, _ := lo.Lookup(topic, 0)
		if o.Err != nil {
			return nil, o.Err
		}
		r[fmt.Sprintf("ts+%d", delta)] = []int64{o.Offset, o.Timestamp}
	}
	return r, nil
}

// failover produces keyed records for `d` with the default (idempotent, acks=all) producer
// while the test kills brokers, then reads every partition back from the start.
func failover(bootstrap, topic string, d time.Duration) (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d+90*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(bootstrap, ",")...),
		kgo.MetadataMinAge(500*time.Millisecond), kgo.MetadataMaxAge(time.Second))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var mu sync.Mutex
	acked := map[string]bool{}
	failed := 0
	firstError := ""
	deadline := time.Now().Add(d)
	for i := 0; time.Now().Before(deadline); i++ {
		key := fmt.Sprintf("k%d", i)
		cl.Produce(ctx, &kgo.Record{Topic: topic, Key: []byte(key), Value: []byte("v" + key)},
			func(r *kgo.Record, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed++
					if firstError == "" {
						firstError = err.Error()
					}
					return
				}
				acked[string(r.Key)] = true
			})
		time.Sleep(time.Millisecond)
	}
	if err := cl.Flush(ctx); err != nil {
		return nil, fmt.Errorf("flush: %w", err)
	}
	rd, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(bootstrap, ",")...),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	seen := map[string]int{}
	for missing := len(acked); missing > 0 && ctx.Err() == nil; {
		fetches := rd.PollFetches(ctx)
		fetches.EachRecord(func(r *kgo.Record) {
			k := string(r.Key)
			seen[k]++
			if seen[k] == 1 && acked[k] {
				missing--
			}
		})
	}
	missing, duplicates := 0, 0
	for k := range acked {
		if seen[k] == 0 {
			missing++
		}
	}
	for _, c := range seen {
		if c > 1 {
			duplicates++
		}
	}
	return obj{"acked": len(acked), "failed": failed, "first_error": firstError,
		"missing": missing, "duplicates": duplicates}, nil
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: clientcheck <bootstrap> <topic-prefix>")
		os.Exit(2)
	}
	bootstrap, prefix := os.Args[1], os.Args[2]
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	out := obj{"client": "franz-go"}
	if len(os.Args) > 4 && os.Args[3] == "failover" {
		seconds, err := time.ParseDuration(os.Args[4] + "s")
		if err != nil {
			fmt.Fprintln(os.Stderr, "seconds:", err)
			os.Exit(2)
		}
		out["failover"] = scenario(func() (any, error) { return failover(bootstrap, prefix, seconds) })
		if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 3 && os.Args[3] == "transactions" {
		out["transactions"] = scenario(func() (any, error) { return transactions(ctx, adm, bootstrap, prefix) })
		if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	out["admin"] = scenario(func() (any, error) { return admin(ctx, adm, prefix+"-admin") })
	data := prefix + "-data"
	create := func(t string) error {
		resp, err := adm.CreateTopics(ctx, 1, 1, nil, t)
		if err != nil {
			return err
		}
		return resp[t].Err
	}
	if err := create(data); err != nil {
		fmt.Fprintln(os.Stderr, "create data topic:", err)
		os.Exit(1)
	}
	out["produce"] = scenario(func() (any, error) { return produce(ctx, bootstrap, data, "none", n) })
	out["consume"] = scenario(func() (any, error) { return consume(ctx, bootstrap, data, n) })
	out["offsets"] = scenario(func() (any, error) { return offsets(ctx, adm, data) })
	comp := obj{}
	for _, c := range []struct {
		name  string
		codec kgo.CompressionCodec
	}{{"gzip", kgo.GzipCompression()}, {"snappy", kgo.SnappyCompression()},
		{"lz4", kgo.Lz4Compression()}, {"zstd", kgo.ZstdCompression()}} {
		t := prefix + "-" + c.name
		comp[c.name] = scenario(func() (any, error) {
			if err := create(t); err != nil {
				return nil, err
			}
			p, err := produce(ctx, bootstrap, t, c.name, 10, kgo.ProducerBatchCompression(c.codec))
			if err != nil {
				return nil, err
			}
			r, err := consume(ctx, bootstrap, t, 10)
			if err != nil {
				return nil, err
			}
			return obj{"produce": p, "consume": r}, nil
		})
	}
	out["compression"] = comp
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// readUntilEnd reads partitions 0..parts-1 of topic from the start with the given isolation
// level until the record whose value is "end" arrived on every partition; returns
// [partition, offset, value] for each record before it.
func readUntilEnd(ctx context.Context, bootstrap, topic string, parts int32, level kgo.IsolationLevel) ([][]any, error) {
	offs := map[int32]kgo.Offset{}
	for p := int32(0); p < parts; p++ {
		offs[p] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.FetchIsolationLevel(level),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offs}))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	recs := [][]any{}
	ended := map[int32]bool{}
	for len(ended) < int(parts) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("timeout after %d records (ended: %v)", len(recs), ended)
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) { ferr = fmt.Errorf("%s[%d]: %w", t, p, err) })
		if ferr != nil {
			return nil, ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Value) == "end" {
				ended[r.Partition] = true
			} else if !ended[r.Partition] {
				recs = append(recs, []any{r.Partition, r.Offset, string(r.Value)})
			}
		})
	}
	return recs, nil
}

// txnProduce produces the values to partition i % parts each, synchronously, and returns
// [partition, offset] for each.
func txnProduce(ctx context.Context, cl *kgo.Client, topic string, parts int, values []string) ([][]int64, error) {
	var recs []*kgo.Record
	for i, v := range values {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % parts), Value: []byte(v)})
	}
	res := cl.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); err != nil {
		return nil, err
	}
	var out [][]int64
	for _, pr := range res {
		out = append(out, []int64{int64(pr.Record.Partition), pr.Record.Offset})
	}
	return out, nil
}

func vals(tag string, count int) []string {
	var out []string
	for i := 0; i < count; i++ {
		out = append(out, fmt.Sprintf("%s-%d", tag, i))
	}
	return out
}

// transactions: one transactional client (kgo.TransactionalID) commits c1 (9 records over
// 3 partitions), aborts ab (6), commits c2 (3), then leaves c3 open on partition 0 while
// the last stable offset (kadm ListCommittedOffsets) and the end offset are read, and
// commits it. A plain producer then writes "end" to each partition, and read_committed
// and read_uncommitted consumers read up to it. Then fencing: a second client with the
// same transactional id commits while the first has a transaction open; the first's
// EndTransaction fails. kadm DescribeTransactions reports both ids.
func transactions(ctx context.Context, adm *kadm.Client, bootstrap, prefix string) (any, error) {
	topic, fenceTopic := prefix+"-txn", prefix+"-txn-fence"
	txnID, fenceID := prefix+"-txn", prefix+"-txn-fence"
	resp, err := adm.CreateTopics(ctx, 3, 1, nil, topic)
	if err == nil {
		err = resp[topic].Err
	}
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", topic, err)
	}
	resp, err = adm.CreateTopics(ctx, 1, 1, nil, fenceTopic)
	if err == nil {
		err = resp[fenceTopic].Err
	}
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", fenceTopic, err)
	}
	r := obj{}
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.TransactionalID(txnID),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	for _, step := range []struct {
		tag    string
		count  int
		commit kgo.TransactionEndTry
	}{{"c1", 9, kgo.TryCommit}, {"ab", 6, kgo.TryAbort}, {"c2", 3, kgo.TryCommit}} {
		if err := cl.BeginTransaction(); err != nil {
			return nil, fmt.Errorf("%s begin: %w", step.tag, err)
		}
		offs, err := txnProduce(ctx, cl, topic, 3, vals(step.tag, step.count))
		if err != nil {
			return nil, fmt.Errorf("%s produce: %w", step.tag, err)
		}
		r[step.tag+"_offsets"] = offs
		if err := cl.EndTransaction(ctx, step.commit); err != nil {
			return nil, fmt.Errorf("%s end: %w", step.tag, err)
		}
	}
	// c3: open while the offsets are listed.
	if err := cl.BeginTransaction(); err != nil {
		return nil, err
	}
	offs, err := txnProduce(ctx, cl, topic, 1, []string{"c3-0"})
	if err != nil {
		return nil, fmt.Errorf("c3 produce: %w", err)
	}
	r["c3_offsets"] = offs
	listed := func(f func(context.Context, ...string) (kadm.ListedOffsets, error)) ([]int64, error) {
		lo, err := f(ctx, topic)
		if err != nil {
			return nil, err
		}
		var out []int64
		for p := int32(0); p < 3; p++ {
			o, _ := lo.Lookup(topic, p)
			if o.Err != nil {
				return nil, o.Err
			}
			out = append(out, o.Offset)
		}
		return out, nil
	}
	if r["lso_open"], err = listed(adm.ListCommittedOffsets); err != nil {
		return nil, err
	}
	if r["end_open"], err = listed(adm.ListEndOffsets); err != nil {
		return nil, err
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return nil, fmt.Errorf("c3 end: %w", err)
	}
	// The markers may be written after EndTxn returns (Kafka does so): wait for the LSO to
	// reach the end offsets.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		lso, err := listed(adm.ListCommittedOffsets)
		if err != nil {
			return nil, err
		}
		end, err := listed(adm.ListEndOffsets)
		if err != nil {
			return nil, err
		}
		r["lso_closed"], r["end_closed"] = lso, end
		if fmt.Sprint(lso) == fmt.Sprint(end) || time.Now().After(deadline) {
			break
		}
	}
	plain, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return nil, err
	}
	defer plain.Close()
	if _, err := txnProduce(ctx, plain, topic, 3, []string{"end", "end", "end"}); err != nil {
		return nil, err
	}
	if r["read_committed"], err = readUntilEnd(ctx, bootstrap, topic, 3, kgo.ReadCommitted()); err != nil {
		return nil, fmt.Errorf("read_committed: %w", err)
	}
	if r["read_uncommitted"], err = readUntilEnd(ctx, bootstrap, topic, 3, kgo.ReadUncommitted()); err != nil {
		return nil, fmt.Errorf("read_uncommitted: %w", err)
	}

	// Fencing.
	a, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.TransactionalID(fenceID),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return nil, err
	}
	defer a.Close()
	if err := a.BeginTransaction(); err != nil {
		return nil, err
	}
	if _, err := txnProduce(ctx, a, fenceTopic, 1, []string{"a1"}); err != nil {
		return nil, fmt.Errorf("a1: %w", err)
	}
	b, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.TransactionalID(fenceID),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return nil, err
	}
	defer b.Close()
	if err := b.BeginTransaction(); err != nil {
		return nil, err
	}
	if _, err := txnProduce(ctx, b, fenceTopic, 1, []string{"b1"}); err != nil {
		return nil, fmt.Errorf("b1: %w", err)
	}
	if err := b.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return nil, fmt.Errorf("b commit: %w", err)
	}
	r["old_commit_error"] = errName(a.EndTransaction(ctx, kgo.TryCommit))
	if _, err := txnProduce(ctx, plain, fenceTopic, 1, []string{"end"}); err != nil {
		return nil, err
	}
	if r["fence_read_committed"], err = readUntilEnd(ctx, bootstrap, fenceTopic, 1, kgo.ReadCommitted()); err != nil {
		return nil, err
	}
	if r["fence_read_uncommitted"], err = readUntilEnd(ctx, bootstrap, fenceTopic, 1, kgo.ReadUncommitted()); err != nil {
		return nil, err
	}

	// Timeout: a transaction left open past its 2 s timeout is aborted by the broker.
	timeoutTopic, timeoutID := prefix+"-txn-timeout", prefix+"-txn-timeout"
	resp, err = adm.CreateTopics(ctx, 1, 1, nil, timeoutTopic)
	if err == nil {
		err = resp[timeoutTopic].Err
	}
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", timeoutTopic, err)
	}
	tc, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.TransactionalID(timeoutID),
		kgo.TransactionTimeout(2*time.Second), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return nil, err
	}
	defer tc.Close()
	if err := tc.BeginTransaction(); err != nil {
		return nil, err
	}
	if _, err := txnProduce(ctx, tc, timeoutTopic, 1, []string{"t1"}); err != nil {
		return nil, fmt.Errorf("t1: %w", err)
	}
	lsoOf := func() (int64, error) {
		lo, err := adm.ListCommittedOffsets(ctx, timeoutTopic)
		if err != nil {
			return 0, err
		}
		o, _ := lo.Lookup(timeoutTopic, 0)
		return o.Offset, o.Err
	}
	lso, err := lsoOf()
	if err != nil {
		return nil, err
	}
	r["timeout_lso_open"] = lso
	for deadline := time.Now().Add(40 * time.Second); lso < 2 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if lso, err = lsoOf(); err != nil {
			return nil, err
		}
	}
	r["timeout_lso_after"] = lso
	r["timeout_commit_error"] = errName(tc.EndTransaction(ctx, kgo.TryCommit))
	tc2, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.TransactionalID(timeoutID),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return nil, err
	}
	defer tc2.Close()
	if err := tc2.BeginTransaction(); err != nil {
		return nil, err
	}
	if _, err := txnProduce(ctx, tc2, timeoutTopic, 1, []string{"t2"}); err != nil {
		return nil, fmt.Errorf("t2: %w", err)
	}
	if err := tc2.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return nil, fmt.Errorf("t2 commit: %w", err)
	}
	if _, err := txnProduce(ctx, plain, timeoutTopic, 1, []string{"end"}); err != nil {
		return nil, err
	}
	if r["timeout_read_committed"], err = readUntilEnd(ctx, bootstrap, timeoutTopic, 1, kgo.ReadCommitted()); err != nil {
		return nil, err
	}
	if r["timeout_read_uncommitted"], err = readUntilEnd(ctx, bootstrap, timeoutTopic, 1, kgo.ReadUncommitted()); err != nil {
		return nil, err
	}

	described, err := adm.DescribeTransactions(ctx, txnID, fenceID)
	if err != nil {
		return nil, fmt.Errorf("describe transactions: %w", err)
	}
	desc := obj{}
	for _, id := range []string{txnID, fenceID} {
		d, err := described.On(id, nil)
		if err == nil {
			err = d.Err
		}
		if err != nil {
			return nil, fmt.Errorf("describe %s: %w", id, err)
		}
		desc[id] = obj{"state": d.State, "producer_id": d.ProducerID,
			"timeout_ms": d.TimeoutMillis, "partitions": len(d.Topics),
			"start_ms": d.StartTimestamp}
	}
	r["describe"] = desc
	return r, nil
}
