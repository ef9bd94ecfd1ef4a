// sarama's idempotent producer (Idempotent=true, MaxOpenRequests=1,
// acks=all, as sarama requires): InitProducerId, then every batch carries
// the producer id; each record lands exactly once.
package sluicego

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestSaramaIdempotentProducer(t *testing.T) {
	const partitions, n = 3, 900
	adm := saramaAdmin(t)
	topic := saramaTopic("idempotent")
	saramaCreate(t, adm, topic, partitions)
	saramaWaitPartitions(t, topic, partitions)

	cfg := saramaConfig()
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Retry.Max = 10
	cfg.Producer.Flush.Messages = 50
	cfg.Producer.Flush.Frequency = 20 * time.Millisecond
	producer, err := sarama.NewSyncProducer([]string{bootstrap(t)}, cfg)
	if err != nil {
		t.Fatalf("idempotent producer: %v", err)
	}
	defer producer.Close()
	msgs := make([]*sarama.ProducerMessage, n)
	for i := range msgs {
		msgs[i] = &sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(fmt.Sprintf("v%d", i))}
	}
	if err := producer.SendMessages(msgs); err != nil {
		t.Fatalf("produce: %v", err)
	}

	// Read back with franz-go, which shows each record's producer id.
	offsets := map[int32]kgo.Offset{}
	for p := int32(0); p < partitions; p++ {
		offsets[p] = kgo.NewOffset().AtStart()
	}
	cl := newClient(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchMaxWait(500*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	seen := map[string]bool{}
	for len(seen) < n {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records", len(seen), n)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if r.ProducerID < 0 {
				t.Fatalf("record at %d/%d has no producer id", r.Partition, r.Offset)
			}
			if seen[string(r.Value)] {
				t.Fatalf("%s written twice", r.Value)
			}
			seen[string(r.Value)] = true
		})
	}
	for i, m := range msgs {
		if !seen[fmt.Sprintf("v%d", i)] {
			t.Fatalf("v%d acknowledged at %d/%d but not consumed", i, m.Partition, m.Offset)
		}
	}
}
