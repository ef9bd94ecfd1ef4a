// KIP-368 re-authentication: franz-go reads SaslAuthenticate's
// session_lifetime_ms and authenticates again on the same connection before
// it runs out. Run from tests/cluster/test_reauth.py (broker with
// connections.max.reauth.ms and debug logging), which sets:
//
//	SLUICE_BOOTSTRAP      the SASL_PLAINTEXT listener
//	SLUICE_SASL_USER, SLUICE_SASL_PASSWORD
//	SLUICE_BROKER_LOG     the broker's log, where each re-authentication is a line
package sluicego

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

func reauthCount(t *testing.T, path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("broker log: %v", err)
	}
	return strings.Count(string(data), "SASL re-authenticated peer=")
}

func TestFranzReauthenticates(t *testing.T) {
	logPath := os.Getenv("SLUICE_BROKER_LOG")
	if logPath == "" {
		t.Fatal("SLUICE_BROKER_LOG is not set (run via tests/cluster/test_reauth.py)")
	}
	auth := scram.Auth{User: os.Getenv("SLUICE_SASL_USER"), Pass: os.Getenv("SLUICE_SASL_PASSWORD")}
	cl, err := kgo.NewClient(kgo.SeedBrokers(os.Getenv("SLUICE_BOOTSTRAP")),
		kgo.SASL(auth.AsSha256Mechanism()), kgo.AllowAutoTopicCreation(),
		kgo.DefaultProduceTopic("reauth"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	before := reauthCount(t, logPath)
	// Keep producing on the same connections until the broker has seen two
	// re-authentications: each record must still be acknowledged.
	produced := 0
	for reauthCount(t, logPath) < before+2 {
		if ctx.Err() != nil {
			t.Fatalf("no re-authentication after %d records", produced)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("r")}).FirstErr(); err != nil {
			t.Fatalf("record %d: %v", produced, err)
		}
		produced++
		time.Sleep(100 * time.Millisecond) // a steady trickle, not a wait for a state
	}
	t.Logf("%d records across re-authentications", produced)
}
