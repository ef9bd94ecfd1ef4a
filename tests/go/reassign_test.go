// ListPartitionReassignments (KIP-455) through kadm while a reassignment is
// held in progress by test_partition_moves.py (its new replica's broker is
// down): the partition is listed with the replicas being added and removed.
package sluicego

import (
	"context"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
)

func envInts(t *testing.T, key string) []int32 {
	var out []int32
	for _, s := range strings.Split(os.Getenv(key), ",") {
		v, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("%s=%q: %v", key, os.Getenv(key), err)
		}
		out = append(out, int32(v))
	}
	return out
}

func TestListReassignmentsInProgress(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	adm := kadm.NewClient(newClient(t))
	topic := os.Getenv("SLUICE_REASSIGN_TOPIC")
	partition := envInts(t, "SLUICE_REASSIGN_PARTITION")[0]
	set := kadm.TopicsSet{}
	set.Add(topic, partition)
	res, err := adm.ListPartitionReassignments(ctx, set)
	if err != nil {
		t.Fatalf("ListPartitionReassignments: %v", err)
	}
	got, ok := res[topic][partition]
	if !ok {
		t.Fatalf("%s[%d] not listed as being reassigned: %+v", topic, partition, res)
	}
	want := kadm.ListPartitionReassignmentsResponse{
		Topic: topic, Partition: partition,
		Replicas:         envInts(t, "SLUICE_REASSIGN_REPLICAS"),
		AddingReplicas:   envInts(t, "SLUICE_REASSIGN_ADDING"),
		RemovingReplicas: envInts(t, "SLUICE_REASSIGN_REMOVING"),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("listed %+v, want %+v", got, want)
	}
}
