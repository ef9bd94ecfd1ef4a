// DescribeLogDirs (KIP-113, KIP-827) through kadm against a broker one of
// whose log directories went offline (run by tests/cluster/
// test_log_dir_failure.py, which fills that directory's disk): the offline
// directory is reported with KAFKA_STORAGE_ERROR and no partitions, the
// other one with its partitions' sizes and its volume's total and usable
// bytes, and a request naming partitions gets only those.
package sluicego

import (
	"context"
	"errors"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func envOrFail(t *testing.T, name string) string {
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set (run via tests/cluster/test_log_dir_failure.py)", name)
	}
	return v
}

func TestDescribeLogDirs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	broker, err := strconv.Atoi(envOrFail(t, "SLUICE_LOGDIRS_BROKER"))
	if err != nil {
		t.Fatal(err)
	}
	offline := envOrFail(t, "SLUICE_LOGDIR_OFFLINE")
	online := envOrFail(t, "SLUICE_LOGDIR_ONLINE")
	topic := envOrFail(t, "SLUICE_LOGDIRS_TOPIC")
	var want []int32
	for _, s := range strings.Split(envOrFail(t, "SLUICE_LOGDIR_ONLINE_PARTITIONS"), ",") {
		p, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, int32(p))
	}
	adm := kadm.NewClient(newClient(t))

	dirs, err := adm.DescribeBrokerLogDirs(ctx, int32(broker), nil)
	if err != nil {
		t.Fatalf("DescribeBrokerLogDirs: %v", err)
	}
	if len(dirs) != 2 {
		t.Fatalf("%d log dirs, want 2: %+v", len(dirs), dirs)
	}
	bad, ok := dirs[offline]
	if !ok || !errors.Is(bad.Err, kerr.KafkaStorageError) || len(bad.Topics) != 0 {
		t.Fatalf("offline dir %s: %+v, want KAFKA_STORAGE_ERROR and no topics", offline, bad)
	}
	good, ok := dirs[online]
	if !ok || good.Err != nil {
		t.Fatalf("online dir %s: %+v", online, good)
	}
	if good.TotalBytes <= 0 || good.UsableBytes <= 0 || good.UsableBytes > good.TotalBytes {
		t.Fatalf("online dir sizes total=%d usable=%d", good.TotalBytes, good.UsableBytes)
	}
	var got []int32
	for p, d := range good.Topics[topic] {
		if d.Size <= 0 || d.OffsetLag < 0 || d.Dir != online {
			t.Fatalf("%s[%d] in %s: %+v", topic, p, online, d)
		}
		got = append(got, p)
	}
	sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
	if len(got) != len(want) {
		t.Fatalf("%s partitions in %s: %v, want %v", topic, online, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s partitions in %s: %v, want %v", topic, online, got, want)
		}
	}

	// Naming partitions: only those (one hosted here, one that does not exist).
	set := kadm.TopicsSet{}
	set.Add(topic, want[0], 999)
	some, err := adm.DescribeBrokerLogDirs(ctx, int32(broker), set)
	if err != nil {
		t.Fatalf("DescribeBrokerLogDirs(set): %v", err)
	}
	parts := some[online].Topics[topic]
	if _, ok := parts[want[0]]; !ok || len(parts) != 1 {
		t.Fatalf("asked for %s[%d,999], got %+v", topic, want[0], parts)
	}
}
