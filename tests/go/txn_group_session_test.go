// franz-go's GroupTransactSession: consume-transform-produce with the
// consumer group's offsets committed inside each transaction
// (AddOffsetsToTxn + TxnOffsetCommit), read_committed input and
// RequireStableFetchOffsets (KIP-447). One transaction is aborted on
// purpose: its records must be consumed again and appear in the output
// exactly once. A second session of the same group picks up where the first
// committed.
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

	"github.com/twmb/franz-go/pkg/kgo"
)

// runGroupSession transforms records of in into out until it has committed
// `want` of them, aborting its first transaction that holds records when
// abortFirst is set. Returns how many records it committed.
func runGroupSession(t *testing.T, in, out, group string, want int, abortFirst bool) int {
	s, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(bootstrap(t)),
		kgo.RequestTimeoutOverhead(10*time.Second),
		kgo.TransactionalID("franz-gts"),
		kgo.TransactionTimeout(30*time.Second),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(in),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.DefaultProduceTopic(out),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	)
	if err != nil {
		t.Fatalf("group transact session: %v", err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 4*timeout)
	defer cancel()
	committed := 0
	for committed < want {
		if ctx.Err() != nil {
			t.Fatalf("committed %d of %d records before the deadline", committed, want)
		}
		pollCtx, pollCancel := context.WithTimeout(ctx, 2*time.Second)
		fetches := s.PollFetches(pollCtx)
		pollCancel()
		var records []*kgo.Record
		fetches.EachRecord(func(r *kgo.Record) { records = append(records, r) })
		if len(records) == 0 {
			continue
		}
		if err := s.Begin(); err != nil {
			t.Fatalf("begin: %v", err)
		}
		for _, r := range records {
			o := &kgo.Record{Value: []byte("out-" + string(r.Value)), Partition: r.Partition}
			if err := s.ProduceSync(ctx, o).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
		}
		try := kgo.TryCommit
		if abortFirst {
			try, abortFirst = kgo.TryAbort, false
		}
		ok, err := s.End(ctx, try)
		if err != nil {
			t.Fatalf("end transaction: %v", err)
		}
		if ok && try == kgo.TryCommit {
			committed += len(records)
		}
	}
	return committed
}

func TestFranzGroupTransactSession(t *testing.T) {
	in, out := txnTopic(t, "gts-in"), txnTopic(t, "gts-out")
	group := fmt.Sprintf("franz-gts-%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	producer := newClient(t, kgo.DefaultProduceTopic(in),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	defer producer.Close()
	send := func(name string, n int) map[int32][]string {
		values := txnRecords(name, n)
		for p := int32(0); p < txnPartitions; p++ {
			for _, v := range values[p] {
				r := &kgo.Record{Value: []byte(v), Partition: p}
				if err := producer.ProduceSync(ctx, r).FirstErr(); err != nil {
					t.Fatalf("produce input: %v", err)
				}
			}
		}
		return values
	}
	first := send("a", 20)
	if n := runGroupSession(t, in, out, group, 2*20, true); n != 2*20 {
		t.Fatalf("first session committed %d records, want %d", n, 2*20)
	}
	second := send("b", 10)
	// A new session of the group starts from the offsets committed in the
	// first one's transactions: exactly the new records.
	if n := runGroupSession(t, in, out, group, 2*10, false); n != 2*10 {
		t.Fatalf("second session committed %d records, want %d", n, 2*10)
	}
	want := map[int32][]string{}
	for p, vs := range mergeRecords(first, second) {
		for _, v := range vs {
			want[p] = append(want[p], "out-"+v)
		}
	}
	if got := readTopic(t, out, kgo.ReadCommitted(), want); !reflect.DeepEqual(got, want) {
		t.Fatalf("read_committed output: got %v, want %v", got, want)
	}
}
