// segmentio/kafka-go consumer groups (kafka.Reader with a GroupID, its own
// range and round-robin balancers): consume through a group committing each
// message, and a second reader of the group resumes from the committed
// offsets, reading nothing twice.
package sluicego

import (
	"context"
	"sort"
	"strconv"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kafkagoConsume reads n records through group `group` with kafka-go,
// committing each synchronously, then leaves the group.
func kafkagoConsume(ctx context.Context, t *testing.T, topic, group string, n int) []int {
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers:           []string{bootstrap(t)},
		GroupID:           group,
		Topic:             topic,
		StartOffset:       kafkago.FirstOffset,
		MaxWait:           500 * time.Millisecond,
		HeartbeatInterval: 500 * time.Millisecond,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  500 * time.Millisecond,
	})
	defer r.Close()
	var got []int
	for len(got) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("group %s: fetch after %d of %d records: %v", group, len(got), n, err)
		}
		v, _ := strconv.Atoi(string(m.Value))
		got = append(got, v)
		if err := r.CommitMessages(ctx, m); err != nil {
			t.Fatalf("group %s: commit offset %d of partition %d: %v", group, m.Offset,
				m.Partition, err)
		}
	}
	sort.Ints(got)
	return got
}

func TestKafkaGoConsumerGroupResumes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*timeout)
	defer cancel()
	admin := newClient(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	adm := kadm.NewClient(admin)
	topic := topicName(t, "kafkago")
	group := topic + "-g"
	createTopic(ctx, t, adm, topic, 2)
	waitForPartitions(ctx, t, adm, topic, 2)
	produceInts(ctx, t, admin, topic, 0, 20)

	first := kafkagoConsume(ctx, t, topic, group, 20)
	for i, v := range first {
		if v != i {
			t.Fatalf("first reader got %v, want 0..19 once each", first)
		}
	}
	produceInts(ctx, t, admin, topic, 20, 30)
	second := kafkagoConsume(ctx, t, topic, group, 10)
	for i, v := range second {
		if v != 20+i {
			t.Fatalf("second reader got %v, want 20..29 (resuming from the commits)", second)
		}
	}
	offsets, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetch offsets: %v", err)
	}
	total := int64(0)
	for _, p := range []int32{0, 1} {
		o, ok := offsets.Lookup(topic, p)
		if !ok || o.Err != nil {
			t.Fatalf("no committed offset for partition %d: %+v", p, o)
		}
		total += o.At
	}
	if total != 30 {
		t.Fatalf("committed offsets sum to %d, want 30 (every record)", total)
	}
}
