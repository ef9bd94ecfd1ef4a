// sarama (IBM/sarama) against a running broker: metadata, admin
// create/delete, and a produce/consume round trip for every codec sarama
// offers, each with sarama's default configuration otherwise (Kafka version
// sarama.DefaultVersion, acks=WaitForLocal).
//
// Run from tests/cluster/test_franz_go.py, which starts the broker and sets
// SLUICE_BOOTSTRAP=host:port. Without it the tests fail rather than pass.
package sluicego

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

func saramaConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.ClientID = "sluice-sarama-test"
	cfg.Producer.Return.Successes = true
	cfg.Metadata.RefreshFrequency = 0
	return cfg
}

func saramaAdmin(t *testing.T) sarama.ClusterAdmin {
	adm, err := sarama.NewClusterAdmin([]string{bootstrap(t)}, saramaConfig())
	if err != nil {
		t.Fatalf("sarama admin: %v", err)
	}
	t.Cleanup(func() { adm.Close() })
	return adm
}

func saramaTopic(suffix string) string {
	return fmt.Sprintf("sarama-%s-%d", suffix, time.Now().UnixNano())
}

func saramaCreate(t *testing.T, adm sarama.ClusterAdmin, topic string, partitions int32) {
	err := adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false)
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// saramaWaitPartitions polls metadata (a fresh client each time, so no cache
// answers) until topic has n partitions, each with a leader; n = 0: gone.
func saramaWaitPartitions(t *testing.T, topic string, n int) {
	deadline := time.Now().Add(timeout)
	for {
		got, err := saramaPartitions(t, topic)
		if err == nil && got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic %s: want %d partitions with leaders, have %d (err %v)", topic, n, got, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func saramaPartitions(t *testing.T, topic string) (int, error) {
	cl, err := sarama.NewClient([]string{bootstrap(t)}, saramaConfig())
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	topics, err := cl.Topics()
	if err != nil {
		return 0, err
	}
	found := false
	for _, name := range topics {
		found = found || name == topic
	}
	if !found {
		return 0, nil
	}
	parts, err := cl.Partitions(topic)
	if err != nil {
		return 0, err
	}
	for _, p := range parts {
		if _, err := cl.Leader(topic, p); err != nil {
			return 0, err
		}
	}
	return len(parts), nil
}

func TestSaramaMetadata(t *testing.T) {
	adm := saramaAdmin(t)
	topic := saramaTopic("meta")
	saramaCreate(t, adm, topic, 3)
	saramaWaitPartitions(t, topic, 3)

	brokers, controller, err := adm.DescribeCluster()
	if err != nil || len(brokers) == 0 {
		t.Fatalf("describe cluster: %d brokers, err %v", len(brokers), err)
	}
	if controller == -1 {
		t.Fatalf("describe cluster: no controller id")
	}
	meta, err := adm.DescribeTopics([]string{topic})
	if err != nil || len(meta) != 1 {
		t.Fatalf("describe topics: %v (%d topics)", err, len(meta))
	}
	if !errors.Is(meta[0].Err, sarama.ErrNoError) || len(meta[0].Partitions) != 3 {
		t.Fatalf("describe %s: err %v, %d partitions, want 3", topic, meta[0].Err, len(meta[0].Partitions))
	}
	for _, p := range meta[0].Partitions {
		if p.Leader < 0 || len(p.Replicas) != 1 || len(p.Isr) != 1 {
			t.Fatalf("partition %d: leader %d replicas %v isr %v", p.ID, p.Leader, p.Replicas, p.Isr)
		}
	}
	listed, err := adm.ListTopics()
	if err != nil || listed[topic].NumPartitions != 3 {
		t.Fatalf("list topics: %v, %s has %d partitions", err, topic, listed[topic].NumPartitions)
	}
}

func TestSaramaAdminCreateDeleteTopic(t *testing.T) {
	adm := saramaAdmin(t)
	topic := saramaTopic("admin")
	saramaCreate(t, adm, topic, 2)
	saramaWaitPartitions(t, topic, 2)

	err := adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1}, false)
	if !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		t.Fatalf("second create: want TOPIC_ALREADY_EXISTS, got %v", err)
	}
	if err := adm.DeleteTopic(topic); err != nil {
		t.Fatalf("delete topic: %v", err)
	}
	saramaWaitPartitions(t, topic, 0)
	if err := adm.DeleteTopic(topic); !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		t.Fatalf("second delete: want UNKNOWN_TOPIC_OR_PARTITION, got %v", err)
	}
}

// One round trip per codec: produce n records through a SyncProducer (acks
// and batching at sarama's defaults), consume every partition from the
// start, compare key, value and headers at each acknowledged offset.
func TestSaramaProduceConsumeCodecs(t *testing.T) {
	codecs := []sarama.CompressionCodec{sarama.CompressionNone, sarama.CompressionGZIP,
		sarama.CompressionSnappy, sarama.CompressionLZ4, sarama.CompressionZSTD}
	for _, codec := range codecs {
		t.Run(codec.String(), func(t *testing.T) { saramaRoundTrip(t, codec) })
	}
}

func saramaRoundTrip(t *testing.T, codec sarama.CompressionCodec) {
	const partitions, n = 3, 600
	adm := saramaAdmin(t)
	topic := saramaTopic(codec.String())
	saramaCreate(t, adm, topic, partitions)
	saramaWaitPartitions(t, topic, partitions)

	want := saramaProduce(t, topic, codec, n)
	got := saramaConsume(t, topic, partitions, want)
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

func saramaProduce(t *testing.T, topic string, codec sarama.CompressionCodec, n int) map[[2]int64]sent {
	cfg := saramaConfig()
	cfg.Producer.Compression = codec
	// Batches of many records, so the codec compresses more than one.
	cfg.Producer.Flush.Messages = 50
	cfg.Producer.Flush.Frequency = 20 * time.Millisecond
	producer, err := sarama.NewSyncProducer([]string{bootstrap(t)}, cfg)
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	defer producer.Close()
	msgs := make([]*sarama.ProducerMessage, n)
	for i := range msgs {
		r := makeRecord(topic, i)
		m := &sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(r.Value)}
		if r.Key != nil {
			m.Key = sarama.ByteEncoder(r.Key)
		}
		for _, h := range r.Headers {
			m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
		}
		msgs[i] = m
	}
	if err := producer.SendMessages(msgs); err != nil {
		t.Fatalf("produce (%s): %v", codec, err)
	}
	where := map[[2]int64]sent{}
	for i, m := range msgs {
		pos := [2]int64{int64(m.Partition), m.Offset}
		if _, dup := where[pos]; dup {
			t.Fatalf("two records acknowledged at partition %d offset %d", pos[0], pos[1])
		}
		r := makeRecord(topic, i)
		where[pos] = sent{r.Key, r.Value, r.Headers}
	}
	return where
}

// saramaConsume reads every partition from the start until each position
// of `want` has been read, not until n records have: a producer that is not
// idempotent may write a batch twice (a retry of a request whose answer it
// did not get), and the log then holds more records than were acknowledged.
func saramaConsume(t *testing.T, topic string, partitions int32, want map[[2]int64]sent) map[[2]int64]sent {
	cfg := saramaConfig()
	cfg.Consumer.MaxWaitTime = 500 * time.Millisecond
	consumer, err := sarama.NewConsumer([]string{bootstrap(t)}, cfg)
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	defer consumer.Close()
	msgs := make(chan *sarama.ConsumerMessage)
	errs := make(chan error, partitions)
	for p := int32(0); p < partitions; p++ {
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("consume partition %d: %v", p, err)
		}
		defer pc.AsyncClose()
		go func() {
			for m := range pc.Messages() {
				msgs <- m
			}
		}()
		go func() {
			for e := range pc.Errors() {
				errs <- e
			}
		}()
	}
	got := map[[2]int64]sent{}
	missing := len(want)
	deadline := time.After(timeout)
	for missing > 0 {
		select {
		case m := <-msgs:
			var hs []kgo.RecordHeader
			for _, h := range m.Headers {
				hs = append(hs, kgo.RecordHeader{Key: string(h.Key), Value: h.Value})
			}
			pos := [2]int64{int64(m.Partition), m.Offset}
			if _, seen := got[pos]; !seen {
				if _, wanted := want[pos]; wanted {
					missing--
				}
			}
			got[pos] = sent{nilIfEmpty(m.Key), m.Value, hs}
		case e := <-errs:
			t.Fatalf("consume: %v", e)
		case <-deadline:
			t.Fatalf("read %d of the %d acknowledged records before the deadline", len(want)-missing, len(want))
		}
	}
	if extra := len(got) - len(want); extra > 0 {
		t.Logf("%d records read besides the acknowledged ones (a retried batch written twice)", extra)
	}
	go func() {
		for range msgs {
		}
	}()
	return got
}

// sarama hands a null key back as nil and an empty value as empty: the
// records of makeRecord have either no key or a non-empty one.
func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
