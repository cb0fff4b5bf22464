// Command clientcheck drives a broker with franz-go (kgo + kadm) in its default
// configuration and prints one JSON object; test_franz_go.py asserts on it.
//
// Usage: clientcheck <bootstrap> <topic-prefix>
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
