// ElectLeaders (KIP-460) through kadm against a running broker: a partition
// its preferred replica leads needs no election, an unknown partition or
// topic is reported per partition, and a null list (every partition) finds
// nothing to do when the preferred replicas lead.
package sluicego

import (
	"context"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func TestElectPreferredLeaders(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cl := newClient(t)
	adm := kadm.NewClient(cl)
	topic := topicName(t, "elect")
	createTopic(ctx, t, adm, topic, 2)
	waitForPartitions(ctx, t, adm, topic, 2)

	set := kadm.TopicsSet{}
	set.Add(topic, 0, 1, 7)
	set.Add(topic+"-missing", 0)
	res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, set)
	if err != nil {
		t.Fatalf("ElectLeaders: %v", err)
	}
	want := map[string]map[int32]error{
		topic:              {0: kerr.ElectionNotNeeded, 1: kerr.ElectionNotNeeded, 7: kerr.UnknownTopicOrPartition},
		topic + "-missing": {0: kerr.UnknownTopicOrPartition},
	}
	for tp, parts := range want {
		for p, wantErr := range parts {
			got, ok := res[tp][p]
			if !ok {
				t.Fatalf("no result for %s[%d] in %+v", tp, p, res)
			}
			if !errors.Is(got.Err, wantErr) {
				t.Fatalf("%s[%d]: %v (%s), want %v", tp, p, got.Err, got.ErrMessage, wantErr)
			}
		}
	}
	if n := len(res[topic]) + len(res[topic+"-missing"]); n != 4 {
		t.Fatalf("%d results, want 4: %+v", n, res)
	}

	// Every partition: the preferred replicas lead already, nothing to elect.
	all, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, nil)
	if err != nil {
		t.Fatalf("ElectLeaders (all): %v", err)
	}
	if _, ok := all[topic]; ok {
		t.Fatalf("all-partitions election lists %s, led by its preferred replica: %+v", topic, all)
	}

	// Sluice never elects outside the ISR: UNCLEAN is refused per partition.
	one := kadm.TopicsSet{}
	one.Add(topic, 0)
	unclean, err := adm.ElectLeaders(ctx, kadm.ElectLiveReplica, one)
	if err != nil {
		t.Fatalf("ElectLeaders (unclean): %v", err)
	}
	if got := unclean[topic][0]; !errors.Is(got.Err, kerr.InvalidRequest) {
		t.Fatalf("unclean election of %s[0]: %v, want INVALID_REQUEST", topic, got.Err)
	}
}
