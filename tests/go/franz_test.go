// franz-go against a running broker: produce with the client's defaults
// (snappy, idempotent by default), consume by partition, admin create/delete.
//
// Run from tests/cluster/test_franz_go.py, which starts the broker and sets
// SLUICE_BOOTSTRAP=host:port. Without it the tests fail rather than pass.
package sluicego

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

const timeout = 30 * time.Second

func bootstrap(t *testing.T) string {
	addr := os.Getenv("SLUICE_BOOTSTRAP")
	if addr == "" {
		t.Fatal("SLUICE_BOOTSTRAP is not set (run via tests/cluster/test_franz_go.py)")
	}
	return addr
}

func newClient(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	opts = append([]kgo.Opt{
		kgo.SeedBrokers(bootstrap(t)),
		kgo.RequestTimeoutOverhead(10 * time.Second),
		kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelInfo, nil)),
	}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func topicName(t *testing.T, suffix string) string {
	return fmt.Sprintf("franz-%s-%d", suffix, time.Now().UnixNano())
}

func createTopic(ctx context.Context, t *testing.T, adm *kadm.Client, topic string, partitions int32) {
	resp, err := adm.CreateTopic(ctx, partitions, 1, nil, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic %s: %v / %v", topic, err, resp.Err)
	}
}

// waitForPartitions polls metadata until the topic shows n partitions (n = 0: gone).
// It lists all topics, in which a deleted topic is simply absent.
func waitForPartitions(ctx context.Context, t *testing.T, adm *kadm.Client, topic string, n int) {
	for {
		details, err := adm.ListTopics(ctx)
		got := 0
		if err == nil {
			if d, ok := details[topic]; ok && d.Err == nil {
				got = len(d.Partitions)
			}
		}
		if err == nil && got == n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("topic %s: want %d partitions, have %d (err %v)", topic, n, got, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func TestAdminCreateDeleteTopic(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// kadm answers ListTopics from metadata up to MetadataMinAge old (5s by
	// default); polling for the deletion wants fresh answers.
	adm := kadm.NewClient(newClient(t, kgo.MetadataMinAge(50*time.Millisecond)))
	topic := topicName(t, "admin")

	createTopic(ctx, t, adm, topic, 2)
	waitForPartitions(ctx, t, adm, topic, 2)

	// kadm returns the topic's error both in the response and as err.
	resp, err := adm.CreateTopic(ctx, 2, 1, nil, topic)
	if !errors.Is(resp.Err, kerr.TopicAlreadyExists) || (err != nil && !errors.Is(err, kerr.TopicAlreadyExists)) {
		t.Fatalf("second create: want TOPIC_ALREADY_EXISTS, got %v / %v", err, resp.Err)
	}

	dresp, err := adm.DeleteTopics(ctx, topic)
	if err != nil || dresp[topic].Err != nil {
		t.Fatalf("delete topic: %v / %v", err, dresp[topic].Err)
	}
	waitForPartitions(ctx, t, adm, topic, 0)
}

type sent struct {
	key, value []byte
	headers    []kgo.RecordHeader
}

func makeRecord(topic string, i int) *kgo.Record {
	value := bytes.Repeat([]byte{byte(i), byte(i >> 8), 'v'}, i%400)
	r := &kgo.Record{Topic: topic, Value: value}
	if i%5 != 0 {
		r.Key = []byte(fmt.Sprintf("key-%d", i))
	}
	if i%2 == 0 {
		r.Headers = []kgo.RecordHeader{{Key: "i", Value: []byte(fmt.Sprint(i))}}
	}
	return r
}

// produceAll produces n records with the default producer settings and
// returns what landed where, keyed by partition and offset.
func produceAll(ctx context.Context, t *testing.T, topic string, n int) map[[2]int64]sent {
	cl := newClient(t, kgo.DefaultProduceTopic(topic))
	records := make([]*kgo.Record, n)
	for i := range records {
		records[i] = makeRecord(topic, i)
	}
	if err := cl.ProduceSync(ctx, records...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	where := map[[2]int64]sent{}
	next := map[int32]int64{}
	for _, r := range records {
		// Records of one partition are acknowledged in order, offsets dense.
		if r.Offset != next[r.Partition] {
			t.Fatalf("partition %d: offset %d, want %d", r.Partition, r.Offset, next[r.Partition])
		}
		next[r.Partition]++
		where[[2]int64{int64(r.Partition), r.Offset}] = sent{r.Key, r.Value, r.Headers}
	}
	// franz-go is idempotent by default: it got a producer id from
	// InitProducerId and every batch carries it, with epoch 0.
	pid := records[0].ProducerID
	for _, r := range records {
		if r.ProducerID < 0 || r.ProducerID != pid || r.ProducerEpoch != 0 {
			t.Fatalf("record at %d/%d: producer id %d epoch %d, want one id >= 0 throughout, epoch 0",
				r.Partition, r.Offset, r.ProducerID, r.ProducerEpoch)
		}
	}
	return where
}

func consumeAll(ctx context.Context, t *testing.T, topic string, partitions int32, n int) map[[2]int64]sent {
	offsets := map[int32]kgo.Offset{}
	for p := int32(0); p < partitions; p++ {
		offsets[p] = kgo.NewOffset().AtStart()
	}
	cl := newClient(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchMaxWait(500*time.Millisecond))
	got := map[[2]int64]sent{}
	for len(got) < n {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records before the deadline", len(got), n)
		}
		fetches.EachError(func(topic string, p int32, err error) {
			t.Fatalf("fetch %s[%d]: %v", topic, p, err)
		})
		fetches.EachRecord(func(r *kgo.Record) {
			got[[2]int64{int64(r.Partition), r.Offset}] = sent{r.Key, r.Value, r.Headers}
		})
	}
	return got
}

func TestProduceConsumeWithDefaults(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	adm := kadm.NewClient(newClient(t))
	topic := topicName(t, "roundtrip")
	const partitions, n = 3, 5000
	createTopic(ctx, t, adm, topic, partitions)
	waitForPartitions(ctx, t, adm, topic, partitions)

	want := produceAll(ctx, t, topic, n)
	got := consumeAll(ctx, t, topic, partitions, n)
	if len(got) != n {
		t.Fatalf("consumed %d records, want %d", len(got), n)
	}
	for pos, w := range want {
		g, ok := got[pos]
		if !ok {
			t.Fatalf("partition %d offset %d never consumed", pos[0], pos[1])
		}
		if !bytes.Equal(g.key, w.key) || !bytes.Equal(g.value, w.value) || !sameHeaders(g.headers, w.headers) {
			t.Fatalf("partition %d offset %d: contents differ", pos[0], pos[1])
		}
	}
}

func sameHeaders(a, b []kgo.RecordHeader) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || !bytes.Equal(a[i].Value, b[i].Value) {
			return false
		}
	}
	return true
}
