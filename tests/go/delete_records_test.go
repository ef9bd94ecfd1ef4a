// DeleteRecords through kadm (franz-go's admin client) against an RF=3
// cluster that tests/cluster/test_delete_records_replicas.py controls (it
// pauses a follower between runs): one call for partition 0 of
// $SLUICE_DR_TOPIC up to $SLUICE_DR_OFFSET with the request's timeout_ms
// $SLUICE_DR_TIMEOUT_MS. $SLUICE_DR_WANT says what Kafka answers:
// "low_watermark" (no error, the low watermark is the offset asked for:
// every live replica's log start reached it), "timed_out"
// (REQUEST_TIMED_OUT: a live follower's log start is still below it) or
// "unknown_topic" (UNKNOWN_TOPIC_OR_PARTITION: the topic was deleted while
// the request waited; the client's retry may say so itself once its
// metadata no longer has the topic). $SLUICE_DR_DEADLINE_MS (optional)
// bounds the whole call, to assert an answer well before a long
// timeout_ms.
package sluicego

import (
	"context"
	"errors"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func envInt(t *testing.T, key string) int64 {
	v, err := strconv.ParseInt(os.Getenv(key), 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", key, os.Getenv(key), err)
	}
	return v
}

func TestDeleteRecordsLowWatermark(t *testing.T) {
	deadline := timeout
	if os.Getenv("SLUICE_DR_DEADLINE_MS") != "" {
		deadline = time.Duration(envInt(t, "SLUICE_DR_DEADLINE_MS")) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	topic, want := os.Getenv("SLUICE_DR_TOPIC"), os.Getenv("SLUICE_DR_WANT")
	offset := envInt(t, "SLUICE_DR_OFFSET")
	adm := kadm.NewClient(newClient(t))
	adm.SetTimeoutMillis(int32(envInt(t, "SLUICE_DR_TIMEOUT_MS")))
	offsets := kadm.Offsets{}
	offsets.Add(kadm.Offset{Topic: topic, Partition: 0, At: offset})
	res, err := adm.DeleteRecords(ctx, offsets)
	if want == "unknown_topic" && errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Logf("DeleteRecords %s[0] to %d: %v", topic, offset, err)
		return
	}
	if err != nil {
		t.Fatalf("DeleteRecords: %v", err)
	}
	r, ok := res.Lookup(topic, 0)
	if !ok {
		t.Fatalf("no result for %s[0] in %+v", topic, res)
	}
	t.Logf("DeleteRecords %s[0] to %d: low_watermark=%d err=%v", topic, offset, r.LowWatermark, r.Err)
	switch want {
	case "low_watermark":
		if r.Err != nil || r.LowWatermark != offset {
			t.Fatalf("want low watermark %d, got %d err=%v", offset, r.LowWatermark, r.Err)
		}
	case "timed_out":
		if !errors.Is(r.Err, kerr.RequestTimedOut) {
			t.Fatalf("want REQUEST_TIMED_OUT, got low watermark %d err=%v", r.LowWatermark, r.Err)
		}
	case "unknown_topic":
		if !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
			t.Fatalf("want UNKNOWN_TOPIC_OR_PARTITION, got low watermark %d err=%v", r.LowWatermark, r.Err)
		}
	default:
		t.Fatalf("SLUICE_DR_WANT=%q: low_watermark, timed_out or unknown_topic", want)
	}
}
