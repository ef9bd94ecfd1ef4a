// OffsetForLeaderEpoch (KIP-320) against a running broker: the raw API with
// its leader-epoch fencing, and franz-go's consumer validating a start
// position that carries an epoch (it asks OffsetForLeaderEpoch first).
package sluicego

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// leaderEpoch reads partition 0's leader epoch from metadata.
func leaderEpoch(ctx context.Context, t *testing.T, cl *kgo.Client, topic string) int32 {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) == 0 {
		t.Fatalf("metadata %s: %v", topic, err)
	}
	return resp.Topics[0].Partitions[0].LeaderEpoch
}

type epochAsk struct {
	topic     string
	partition int32
	current   int32 // current_leader_epoch, -1: unchecked
	epoch     int32 // the epoch whose end is asked
}

type epochAnswer struct {
	err         error
	leaderEpoch int32
	endOffset   int64
}

func askEndOffset(ctx context.Context, t *testing.T, cl *kgo.Client, a epochAsk) epochAnswer {
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.ReplicaID = -1
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = a.topic
	rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	rp.Partition = a.partition
	rp.CurrentLeaderEpoch = a.current
	rp.LeaderEpoch = a.epoch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("OffsetForLeaderEpoch %+v: %v", a, err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("OffsetForLeaderEpoch %+v: malformed response %+v", a, resp)
	}
	p := resp.Topics[0].Partitions[0]
	return epochAnswer{kerr.ErrorForCode(p.ErrorCode), p.LeaderEpoch, p.EndOffset}
}

func TestOffsetForLeaderEpoch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cl := newClient(t)
	adm := kadm.NewClient(cl)
	topic := topicName(t, "epoch")
	createTopic(ctx, t, adm, topic, 1)
	waitForPartitions(ctx, t, adm, topic, 1)
	const n = 50
	produceAll(ctx, t, topic, n)
	epoch := leaderEpoch(ctx, t, cl, topic)
	if epoch < 0 {
		t.Fatalf("metadata gives no leader epoch (%d)", epoch)
	}

	check := func(a epochAsk, wantErr error, wantEpoch int32, wantEnd int64) {
		t.Helper()
		got := askEndOffset(ctx, t, cl, a)
		if !errors.Is(got.err, wantErr) && !(wantErr == nil && got.err == nil) {
			t.Fatalf("%+v: error %v, want %v", a, got.err, wantErr)
		}
		if got.leaderEpoch != wantEpoch || got.endOffset != wantEnd {
			t.Fatalf("%+v: (epoch %d, end %d), want (%d, %d)", a, got.leaderEpoch, got.endOffset,
				wantEpoch, wantEnd)
		}
	}
	// The current epoch ends at the log end.
	check(epochAsk{topic, 0, epoch, epoch}, nil, epoch, n)
	check(epochAsk{topic, 0, -1, epoch}, nil, epoch, n)
	// An epoch newer than any the log holds is unknown: -1/-1, no error.
	check(epochAsk{topic, 0, -1, epoch + 7}, nil, -1, -1)
	// An older epoch than the first one ends where the first begins (0 here).
	if epoch > 0 {
		check(epochAsk{topic, 0, -1, epoch - 1}, nil, epoch-1, 0)
		check(epochAsk{topic, 0, epoch - 1, epoch}, kerr.FencedLeaderEpoch, -1, -1)
	}
	// A client ahead of the broker's metadata is told to wait.
	check(epochAsk{topic, 0, epoch + 1, epoch}, kerr.UnknownLeaderEpoch, -1, -1)

	// franz-go validates a position carrying an epoch with OffsetForLeaderEpoch
	// before fetching from it (KIP-320); it must then read from there.
	consumer := newClient(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {0: kgo.NewOffset().At(n - 5).WithEpoch(epoch)},
	}))
	var got []int64
	for len(got) < 5 {
		fetches := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed offsets %v before the deadline, want %d..%d", got, n-5, n-1)
		}
		fetches.EachError(func(tp string, p int32, err error) {
			t.Fatalf("fetch %s[%d]: %v", tp, p, err)
		})
		fetches.EachRecord(func(r *kgo.Record) { got = append(got, r.Offset) })
	}
	if fmt.Sprint(got) != fmt.Sprint([]int64{n - 5, n - 4, n - 3, n - 2, n - 1}) {
		t.Fatalf("consumed offsets %v, want %d..%d", got, n-5, n-1)
	}
}

// fetchAt sends one Fetch (v12, the broker's highest: franz-go picks it) of
// partition 0 at `offset`, naming `lastEpoch` as the epoch of the last batch
// fetched, and returns the partition's answer.
func fetchAt(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, offset int64,
	lastEpoch int32) kmsg.FetchResponseTopicPartition {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = 100
	req.MaxBytes = 1 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = 0
	rp.CurrentLeaderEpoch = -1
	rp.FetchOffset = offset
	rp.LastFetchedEpoch = lastEpoch
	rp.LogStartOffset = -1
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch %s@%d: %v", topic, offset, err)
	}
	if resp.Version < 12 {
		t.Fatalf("fetch answered at v%d: the broker must offer v12", resp.Version)
	}
	return resp.Topics[0].Partitions[0]
}

// Fetch v12 (KIP-320): a position past where its last fetched epoch ends in
// the leader's log gets that end back as the diverging epoch, with no
// records; an epoch the log never had is OFFSET_OUT_OF_RANGE.
func TestFetchDivergingEpoch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cl := newClient(t)
	adm := kadm.NewClient(cl)
	topic := topicName(t, "diverge")
	createTopic(ctx, t, adm, topic, 1)
	waitForPartitions(ctx, t, adm, topic, 1)
	const n = 50
	producer := newClient(t, kgo.DefaultProduceTopic(topic))
	records := make([]*kgo.Record, n)
	for i := range records {
		records[i] = &kgo.Record{Value: []byte(fmt.Sprint(i))}
	}
	if err := producer.ProduceSync(ctx, records...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	epoch := leaderEpoch(ctx, t, cl, topic)

	// In step with the log: records, no divergence.
	p := fetchAt(ctx, t, cl, topic, n-5, epoch)
	if p.ErrorCode != 0 || p.DivergingEpoch.Epoch != -1 || len(p.RecordBatches) == 0 {
		t.Fatalf("in step: error %d, diverging %+v, %d record bytes", p.ErrorCode,
			p.DivergingEpoch, len(p.RecordBatches))
	}
	// A position past the end of its epoch: the epoch's end, no records.
	p = fetchAt(ctx, t, cl, topic, n+10, epoch)
	if p.ErrorCode != 0 || p.DivergingEpoch.Epoch != epoch || p.DivergingEpoch.EndOffset != n ||
		len(p.RecordBatches) != 0 {
		t.Fatalf("past the end: error %d, diverging %+v, %d record bytes; want (%d, %d)",
			p.ErrorCode, p.DivergingEpoch, len(p.RecordBatches), epoch, n)
	}
	// An epoch newer than any in the log.
	p = fetchAt(ctx, t, cl, topic, 10, epoch+3)
	if !errors.Is(kerr.ErrorForCode(p.ErrorCode), kerr.OffsetOutOfRange) {
		t.Fatalf("unknown epoch: error %d, want OFFSET_OUT_OF_RANGE", p.ErrorCode)
	}
	// franz-go's own consumer fetches at v12 with last_fetched_epoch set.
	got := consumeAll(ctx, t, topic, 1, n)
	if len(got) != n {
		t.Fatalf("consumed %d records, want %d", len(got), n)
	}
}
