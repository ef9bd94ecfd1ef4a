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
