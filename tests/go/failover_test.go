// franz-go producing and consuming one partition while the cluster test
// kills its leader (tests/cluster/test_client_failover.py, which also runs
// the Python clients through tests/clients/failover_client.py; both write the
// same JSON outcome, judged by the test).
//
// Environment: SLUICE_BOOTSTRAP, SLUICE_FAILOVER_TOPIC, SLUICE_FAILOVER_PREFIX,
// SLUICE_FAILOVER_STOP (produce until this file exists), SLUICE_FAILOVER_OUT
// (where the outcome goes). Without them the test fails.
package sluicego

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

type failoverOutcome struct {
	mu            sync.Mutex
	Sent          int               `json:"sent"`
	Acked         map[string]int64  `json:"acked"`
	ProduceErrors []string          `json:"produce_errors"`
	ConsumeErrors []string          `json:"consume_errors"`
	Consumed      map[string]string `json:"consumed"`
}

// errorName is the Kafka error's name when the broker sent one, else the
// client's own error text.
func errorName(err error) string {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Message
	}
	return err.Error()
}

func (o *failoverOutcome) missing() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, off := range o.Acked {
		if _, ok := o.Consumed[strconv.FormatInt(off, 10)]; !ok {
			n++
		}
	}
	return n
}

func failoverEnv(t *testing.T, key string) string {
	v := os.Getenv(key)
	if v == "" {
		t.Fatalf("%s is not set (run via tests/cluster/test_client_failover.py)", key)
	}
	return v
}

func TestFailoverClient(t *testing.T) {
	topic := failoverEnv(t, "SLUICE_FAILOVER_TOPIC")
	prefix := failoverEnv(t, "SLUICE_FAILOVER_PREFIX")
	stopFile := failoverEnv(t, "SLUICE_FAILOVER_STOP")
	outPath := failoverEnv(t, "SLUICE_FAILOVER_OUT")
	out := &failoverOutcome{Acked: map[string]int64{}, Consumed: map[string]string{},
		ProduceErrors: []string{}, ConsumeErrors: []string{}}

	// acks=all is franz-go's default, and so are unlimited retries until the
	// record timeout; one request in flight keeps retries in order. With
	// SLUICE_FAILOVER_IDEMPOTENT=1 the producer keeps franz-go's defaults
	// instead: idempotent, several requests in flight, ordered and deduplicated
	// by the brokers' producer state.
	// SLUICE_BOOTSTRAP lists every node here (host:port,host:port,...).
	seeds := kgo.SeedBrokers(strings.Split(bootstrap(t), ",")...)
	ordering := []kgo.Opt{kgo.DisableIdempotentWrite(), kgo.MaxProduceRequestsInflightPerBroker(1)}
	if os.Getenv("SLUICE_FAILOVER_IDEMPOTENT") == "1" {
		ordering = nil
	}
	producer := newClient(t, append(ordering, seeds, kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(120*time.Second), kgo.MetadataMinAge(200*time.Millisecond),
		kgo.MetadataMaxAge(time.Second), kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))...)
	consumer := newClient(t, seeds, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {0: kgo.NewOffset().At(0)}}), kgo.FetchMaxWait(100*time.Millisecond),
		kgo.MetadataMinAge(200*time.Millisecond), kgo.MetadataMaxAge(time.Second))

	var producing sync.WaitGroup
	producing.Add(1)
	go func() {
		defer producing.Done()
		ctx := context.Background()
		for i := 0; ; i++ {
			if _, err := os.Stat(stopFile); err == nil {
				break
			}
			value := fmt.Sprintf("%s:%d", prefix, i)
			producer.Produce(ctx, &kgo.Record{Partition: 0, Value: []byte(value)},
				func(r *kgo.Record, err error) {
					out.mu.Lock()
					defer out.mu.Unlock()
					if err != nil {
						out.ProduceErrors = append(out.ProduceErrors, errorName(err))
					} else {
						out.Acked[value] = r.Offset
					}
				})
			out.mu.Lock()
			out.Sent = i + 1
			out.mu.Unlock()
			if i%20 == 19 {
				time.Sleep(50 * time.Millisecond)
			}
		}
		fctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		defer cancel()
		if err := producer.Flush(fctx); err != nil {
			t.Errorf("flush: %v", err)
		}
	}()
	done := make(chan struct{})
	go func() { producing.Wait(); close(done) }()

	var deadline time.Time
	lastReport := time.Time{}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		fetches := consumer.PollFetches(ctx)
		cancel()
		out.mu.Lock()
		fetches.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				out.ConsumeErrors = append(out.ConsumeErrors, errorName(err))
			}
		})
		fetches.EachRecord(func(r *kgo.Record) {
			out.Consumed[strconv.FormatInt(r.Offset, 10)] = string(r.Value)
		})
		progress := fmt.Sprintf("acked %d consumed %d", len(out.Acked), len(out.Consumed))
		out.mu.Unlock()
		if time.Since(lastReport) > 500*time.Millisecond {
			fmt.Println(progress)
			lastReport = time.Now()
		}
		select {
		case <-done:
			if deadline.IsZero() {
				deadline = time.Now().Add(60 * time.Second)
			}
			if out.missing() == 0 || time.Now().After(deadline) {
				out.mu.Lock()
				data, err := json.Marshal(out)
				out.mu.Unlock()
				if err != nil {
					t.Fatalf("outcome: %v", err)
				}
				if err := os.WriteFile(outPath, data, 0o644); err != nil {
					t.Fatalf("write %s: %v", outPath, err)
				}
				return
			}
		default:
		}
	}
}
