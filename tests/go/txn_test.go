// Transactional producers of franz-go (kgo.TransactionalID) and sarama
// (Producer.Transaction.ID): a committed transaction, an aborted one and a
// second committed one across two partitions; a read_committed consumer sees
// exactly the committed records, in order, and read_uncommitted sees all.
//
// Run from tests/cluster/test_transactions_e2e.py, which starts a broker
// with a small __transaction_state and sets SLUICE_BOOTSTRAP.
package sluicego

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const txnPartitions = 2

// txnRecords are the values of transaction `name`: n per partition.
func txnRecords(name string, n int) map[int32][]string {
	out := map[int32][]string{}
	for p := int32(0); p < txnPartitions; p++ {
		for i := 0; i < n; i++ {
			out[p] = append(out[p], fmt.Sprintf("%s-p%d-%d", name, p, i))
		}
	}
	return out
}

func mergeRecords(parts ...map[int32][]string) map[int32][]string {
	out := map[int32][]string{}
	for p := int32(0); p < txnPartitions; p++ {
		out[p] = []string{}
		for _, m := range parts {
			out[p] = append(out[p], m[p]...)
		}
	}
	return out
}

// readTopic reads every partition of topic to its end with the given
// isolation level, polling until the records equal want (markers land
// shortly after EndTxn is answered) or the timeout.
func readTopic(t *testing.T, topic string, level kgo.IsolationLevel, want map[int32][]string) map[int32][]string {
	deadline := time.Now().Add(timeout)
	for {
		got := readOnce(t, topic, level)
		if reflect.DeepEqual(got, want) || time.Now().After(deadline) {
			return got
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func readOnce(t *testing.T, topic string, level kgo.IsolationLevel) map[int32][]string {
	offsets := map[int32]kgo.Offset{}
	for p := int32(0); p < txnPartitions; p++ {
		offsets[p] = kgo.NewOffset().AtStart()
	}
	cl := newClient(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchIsolationLevel(level), kgo.FetchMaxWait(200*time.Millisecond))
	defer cl.Close()
	got := map[int32][]string{}
	for p := int32(0); p < txnPartitions; p++ {
		got[p] = []string{}
	}
	// Read until two polls in a row bring nothing new (the end, or the
	// last stable offset for read_committed).
	idle := 0
	for idle < 2 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fetches := cl.PollFetches(ctx)
		cancel()
		n := 0
		fetches.EachRecord(func(r *kgo.Record) {
			got[r.Partition] = append(got[r.Partition], string(r.Value))
			n++
		})
		if n == 0 {
			idle++
		} else {
			idle = 0
		}
	}
	return got
}

// expectCommitAbortCommit: after a committed, an aborted and a committed
// transaction (in that order), read_committed sees exactly the committed
// records, read_uncommitted all of them in log order.
func expectCommitAbortCommit(t *testing.T, topic string, first, aborted, second map[int32][]string) {
	t.Helper()
	want := mergeRecords(first, second)
	if got := readTopic(t, topic, kgo.ReadCommitted(), want); !reflect.DeepEqual(got, want) {
		t.Fatalf("read_committed: got %v, want %v", got, want)
	}
	all := mergeRecords(first, aborted, second)
	if got := readTopic(t, topic, kgo.ReadUncommitted(), all); !reflect.DeepEqual(got, all) {
		t.Fatalf("read_uncommitted: got %v, want %v", got, all)
	}
}

func txnTopic(t *testing.T, prefix string) string {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	adm := kadm.NewClient(newClient(t))
	topic := topicName(t, prefix)
	createTopic(ctx, t, adm, topic, txnPartitions)
	waitForPartitions(ctx, t, adm, topic, txnPartitions)
	return topic
}

func TestFranzTransactions(t *testing.T) {
	topic := txnTopic(t, "txn")
	cl := newClient(t, kgo.TransactionalID("franz-txn"), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionTimeout(30*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 2*timeout)
	defer cancel()
	run := func(records map[int32][]string, commit kgo.TransactionEndTry) {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatalf("begin: %v", err)
		}
		for p := int32(0); p < txnPartitions; p++ {
			for _, v := range records[p] {
				r := &kgo.Record{Value: []byte(v), Partition: p}
				if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
					t.Fatalf("produce: %v", err)
				}
			}
		}
		if err := cl.EndTransaction(ctx, commit); err != nil {
			t.Fatalf("end transaction (commit=%v): %v", commit, err)
		}
	}
	first, aborted, second := txnRecords("c1", 3), txnRecords("ab", 2), txnRecords("c2", 2)
	run(first, kgo.TryCommit)
	run(aborted, kgo.TryAbort)
	run(second, kgo.TryCommit)
	expectCommitAbortCommit(t, topic, first, aborted, second)
}

func TestSaramaTransactions(t *testing.T) {
	topic := txnTopic(t, "sarama-txn")
	cfg := saramaConfig()
	cfg.Version = sarama.V2_6_0_0
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Transaction.ID = "sarama-txn"
	cfg.Producer.Transaction.Timeout = 30 * time.Second
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Net.MaxOpenRequests = 1
	producer, err := sarama.NewSyncProducer([]string{bootstrap(t)}, cfg)
	if err != nil {
		t.Fatalf("transactional producer: %v", err)
	}
	defer producer.Close()
	run := func(records map[int32][]string, commit bool) {
		if err := producer.BeginTxn(); err != nil {
			t.Fatalf("begin: %v", err)
		}
		for p := int32(0); p < txnPartitions; p++ {
			for _, v := range records[p] {
				msg := &sarama.ProducerMessage{Topic: topic, Partition: p, Value: sarama.StringEncoder(v)}
				if _, _, err := producer.SendMessage(msg); err != nil {
					t.Fatalf("produce: %v", err)
				}
			}
		}
		if commit {
			err = producer.CommitTxn()
		} else {
			err = producer.AbortTxn()
		}
		if err != nil {
			t.Fatalf("end transaction (commit=%v): %v", commit, err)
		}
	}
	first, aborted, second := txnRecords("c1", 3), txnRecords("ab", 2), txnRecords("c2", 2)
	run(first, true)
	run(aborted, false)
	run(second, true)
	expectCommitAbortCommit(t, topic, first, aborted, second)
}
