// franz-go consumer groups (kgo.ConsumerGroup, its default cooperative-sticky
// balancer): consume through a group, commit, a second client resumes from
// the committed offsets; kadm lists and describes the group.
package sluicego

import (
	"context"
	"sort"
	"strconv"
	"sync"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func produceInts(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, from, to int) {
	for i := from; i < to; i++ {
		r := &kgo.Record{Topic: topic, Partition: int32(i % 2), Value: []byte(strconv.Itoa(i))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
}

// consumeGroup reads n records through group `group`, commits and leaves.
func consumeGroup(ctx context.Context, t *testing.T, topic, group string, n int) []int {
	cl := newClient(t, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	var got []int
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("group %s: %d of %d records before the deadline", group, len(got), n)
		}
		fs.EachRecord(func(r *kgo.Record) {
			v, _ := strconv.Atoi(string(r.Value))
			got = append(got, v)
		})
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	cl.Close()
	sort.Ints(got)
	return got
}

func TestConsumerGroupResumes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*timeout)
	defer cancel()
	admin := newClient(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	adm := kadm.NewClient(admin)
	topic := topicName(t, "group")
	group := topic + "-g"
	createTopic(ctx, t, adm, topic, 2)
	waitForPartitions(ctx, t, adm, topic, 2)
	produceInts(ctx, t, admin, topic, 0, 20)

	got := consumeGroup(ctx, t, topic, group, 20)
	for i, v := range got {
		if v != i {
			t.Fatalf("first consumer: got %v", got)
		}
	}
	offsets, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetch offsets: %v", err)
	}
	for p := int32(0); p < 2; p++ {
		o, ok := offsets.Lookup(topic, p)
		if !ok || o.At != 10 {
			t.Fatalf("committed offset of partition %d: %+v (present %v)", p, o, ok)
		}
	}
	groups, err := adm.ListGroups(ctx)
	if err != nil || !containsGroup(groups.Groups(), group) {
		t.Fatalf("list groups: %v %v", groups.Groups(), err)
	}
	// KIP-518 states filter (ListGroups v4): the group is Empty, not Stable.
	if empty, err := adm.ListGroups(ctx, "Empty"); err != nil || !containsGroup(empty.Groups(), group) {
		t.Fatalf("list Empty groups: %v %v", empty.Groups(), err)
	}
	if stable, err := adm.ListGroups(ctx, "Stable"); err != nil || containsGroup(stable.Groups(), group) {
		t.Fatalf("list Stable groups: %v %v", stable.Groups(), err)
	}
	// Several groups in one OffsetFetch (v8) and batched FindCoordinator (v4).
	other := group + "-other"
	many := adm.FetchManyOffsets(ctx, group, other)
	if many.AllFailed() || many[group].Err != nil || many[other].Err != nil {
		t.Fatalf("fetch many offsets: %+v", many)
	}
	if o, ok := many[group].Fetched.Lookup(topic, 0); !ok || o.At != 10 {
		t.Fatalf("fetch many offsets: partition 0 of %s: %+v", group, o)
	}
	if len(many[other].Fetched) != 0 {
		t.Fatalf("a group that never committed has offsets: %+v", many[other].Fetched)
	}

	// OffsetDelete (KIP-496) of a partition nobody consumes now.
	del, err := adm.DeleteOffsets(ctx, group, kadm.TopicsSet{topic: {1: {}}})
	if err != nil || del.Error() != nil {
		t.Fatalf("delete offsets: %v %v", err, del.Error())
	}
	offsets, err = adm.FetchOffsets(ctx, group)
	if _, ok := offsets.Lookup(topic, 1); err != nil || ok {
		t.Fatalf("partition 1 still has an offset after OffsetDelete (err %v)", err)
	}
	if o, ok := offsets.Lookup(topic, 0); !ok || o.At != 10 {
		t.Fatalf("partition 0 lost its offset: %+v", o)
	}
	// The second consumer restarts partition 1 from the beginning.
	produceInts(ctx, t, admin, topic, 20, 26)
	got = consumeGroup(ctx, t, topic, group, 16)
	want := []int{1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 24, 25}
	if len(got) != len(want) {
		t.Fatalf("second consumer: got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("second consumer: got %v, want %v", got, want)
		}
	}
}

func containsGroup(groups []string, g string) bool {
	for _, x := range groups {
		if x == g {
			return true
		}
	}
	return false
}

// sarama's consumer group (its default range balancer) over the same
// protocol: consume, commit on the way out, a second group member resumes.
type saramaHandler struct {
	mu   sync.Mutex
	got  []int
	want int
	done context.CancelFunc
}

func (h *saramaHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		v, _ := strconv.Atoi(string(m.Value))
		s.MarkMessage(m, "")
		h.mu.Lock()
		h.got = append(h.got, v)
		if len(h.got) >= h.want {
			h.done()
		}
		h.mu.Unlock()
	}
	return nil
}

func saramaConsumeGroup(ctx context.Context, t *testing.T, topic, group string, n int) []int {
	cfg := saramaConfig()
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cg, err := sarama.NewConsumerGroup([]string{bootstrap(t)}, group, cfg)
	if err != nil {
		t.Fatalf("sarama consumer group: %v", err)
	}
	run, cancel := context.WithCancel(ctx)
	defer cancel()
	h := &saramaHandler{want: n, done: cancel}
	for run.Err() == nil {
		if err := cg.Consume(run, []string{topic}, h); err != nil && run.Err() == nil {
			t.Fatalf("sarama consume: %v", err)
		}
	}
	if err := cg.Close(); err != nil { // commits what was marked
		t.Fatalf("sarama close: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("group %s: %d of %d records before the deadline", group, len(h.got), n)
	}
	sort.Ints(h.got)
	return h.got
}

func TestSaramaConsumerGroupResumes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*timeout)
	defer cancel()
	admin := newClient(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	adm := kadm.NewClient(admin)
	topic := saramaTopic("group")
	group := topic + "-g"
	createTopic(ctx, t, adm, topic, 2)
	waitForPartitions(ctx, t, adm, topic, 2)
	produceInts(ctx, t, admin, topic, 0, 10)
	if got := saramaConsumeGroup(ctx, t, topic, group, 10); len(got) != 10 || got[9] != 9 {
		t.Fatalf("first consumer: got %v", got)
	}
	produceInts(ctx, t, admin, topic, 10, 14)
	got := saramaConsumeGroup(ctx, t, topic, group, 4)
	if len(got) != 4 || got[0] != 10 || got[3] != 13 {
		t.Fatalf("second consumer: got %v, want [10 11 12 13]", got)
	}
}
