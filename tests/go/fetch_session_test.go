// franz-go over many partitions with incremental fetch sessions (KIP-227):
// franz-go opens a session with its first fetch and then sends and receives
// only what changed. Records produced in rounds to a few partitions at a
// time, while one consumer polls all of them, must each arrive exactly once
// and in order.
//
// Run from tests/cluster/test_fetch_sessions.py, which starts the broker
// (at debug level, to see the sessions in its log) and sets SLUICE_BOOTSTRAP.
package sluicego

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestIncrementalFetchManyPartitions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*timeout)
	defer cancel()
	adm := kadm.NewClient(newClient(t))
	topic := topicName(t, "sessions")
	const partitions = 300
	createTopic(ctx, t, adm, topic, partitions)
	waitForPartitions(ctx, t, adm, topic, partitions)

	offsets := map[int32]kgo.Offset{}
	for p := int32(0); p < partitions; p++ {
		offsets[p] = kgo.NewOffset().AtStart()
	}
	consumer := newClient(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchMaxWait(200*time.Millisecond))

	next := map[int32]int64{} // per partition: the next offset the consumer must see
	want := 0
	for round := 0; round < 20; round++ {
		// A few partitions per round, a different few each time.
		var records []*kgo.Record
		for k := 0; k < 3; k++ {
			p := int32((round*37 + k*101) % partitions)
			for i := 0; i < 5; i++ {
				records = append(records, &kgo.Record{Topic: topic, Partition: p,
					Value: []byte(fmt.Sprintf("r%d-p%d-%d", round, p, i))})
			}
		}
		// Manual partitioning: franz-go's default partitioner would spread them.
		pcl := newClient(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
		if err := pcl.ProduceSync(ctx, records...).FirstErr(); err != nil {
			t.Fatalf("produce round %d: %v", round, err)
		}
		want += len(records)
		got := 0
		for got < len(records) {
			fetches := consumer.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("round %d: consumed %d of %d records before the deadline", round, got, len(records))
			}
			fetches.EachError(func(topic string, p int32, err error) {
				t.Fatalf("fetch %s[%d]: %v", topic, p, err)
			})
			fetches.EachRecord(func(r *kgo.Record) {
				if r.Offset != next[r.Partition] {
					t.Fatalf("partition %d: offset %d, want %d (lost or repeated)", r.Partition, r.Offset, next[r.Partition])
				}
				next[r.Partition]++
				got++
			})
		}
		if got != len(records) {
			t.Fatalf("round %d: %d records, want %d", round, got, len(records))
		}
	}
	total := int64(0)
	for _, n := range next {
		total += n
	}
	if total != int64(want) {
		t.Fatalf("consumed %d records, want %d", total, want)
	}
}
