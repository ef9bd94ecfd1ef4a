// franz-go and sarama over TLS, mutual TLS and SASL (PLAIN, SCRAM-SHA-256,
// SCRAM-SHA-512), each producing records and consuming them back.
//
// Run from tests/cluster/test_security_go.py, which starts a broker with
// SSL / SASL listeners, makes the certificates and users, and sets:
//
//	SLUICE_BOOTSTRAP    host:port of the listener under test
//	SLUICE_SECURITY     SSL, SASL_PLAINTEXT or SASL_SSL
//	SLUICE_CA           the CA file (TLS), SLUICE_CERT / SLUICE_KEY a client certificate
//	SLUICE_SASL_MECHANISM, SLUICE_SASL_USER, SLUICE_SASL_PASSWORD
package sluicego

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"hash"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

func securityEnv(t *testing.T) (protocol, mechanism, user, password string) {
	protocol = os.Getenv("SLUICE_SECURITY")
	if protocol == "" {
		t.Fatal("SLUICE_SECURITY is not set (run via tests/cluster/test_security_go.py)")
	}
	return protocol, os.Getenv("SLUICE_SASL_MECHANISM"), os.Getenv("SLUICE_SASL_USER"),
		os.Getenv("SLUICE_SASL_PASSWORD")
}

// tlsConfig trusts SLUICE_CA and presents SLUICE_CERT/SLUICE_KEY when set.
func tlsConfig(t *testing.T) *tls.Config {
	pem, err := os.ReadFile(os.Getenv("SLUICE_CA"))
	if err != nil {
		t.Fatalf("read CA: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in SLUICE_CA")
	}
	cfg := &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	if certFile := os.Getenv("SLUICE_CERT"); certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, os.Getenv("SLUICE_KEY"))
		if err != nil {
			t.Fatalf("client certificate: %v", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg
}

func securityValues(prefix string) [][]byte {
	var out [][]byte
	for i := 0; i < 20; i++ {
		out = append(out, []byte(fmt.Sprintf("%s-%d", prefix, i)))
	}
	return out
}

func TestFranzSecure(t *testing.T) {
	protocol, mechanism, user, password := securityEnv(t)
	opts := []kgo.Opt{}
	if strings.HasSuffix(protocol, "SSL") {
		opts = append(opts, kgo.DialTLSConfig(tlsConfig(t)))
	}
	if strings.HasPrefix(protocol, "SASL") {
		switch mechanism {
		case "PLAIN":
			opts = append(opts, kgo.SASL(plain.Auth{User: user, Pass: password}.AsMechanism()))
		case "SCRAM-SHA-256":
			opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: password}.AsSha256Mechanism()))
		case "SCRAM-SHA-512":
			opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: password}.AsSha512Mechanism()))
		default:
			t.Fatalf("unknown mechanism %q", mechanism)
		}
	}
	topic := topicName(t, "secure")
	opts = append(opts, kgo.AllowAutoTopicCreation())
	cl := newClient(t, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	want := securityValues("franz")
	for _, v := range want {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: v}).FirstErr(); err != nil {
			t.Fatalf("produce over %s: %v", protocol, err)
		}
	}
	consumer := newClient(t, append(opts, kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	var got [][]byte
	for len(got) < len(want) {
		fetches := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d before the deadline", len(got), len(want))
		}
		fetches.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		fetches.EachRecord(func(r *kgo.Record) { got = append(got, r.Value) })
	}
	for i := range want {
		if string(got[i]) != string(want[i]) {
			t.Fatalf("record %d: got %q want %q", i, got[i], want[i])
		}
	}
}

// scramClient implements sarama.SCRAMClient (RFC 5802) on the standard
// library, as sarama leaves SCRAM to the application.
type scramClient struct {
	newHash     func() hash.Hash
	user, pass  string
	cnonce      string
	clientFirst string
	serverSig   []byte
	step        int
	done        bool
}

func (c *scramClient) Begin(user, pass, _ string) error {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	c.user, c.pass, c.cnonce = user, pass, base64.StdEncoding.EncodeToString(b)
	return nil
}

func (c *scramClient) hmac(key []byte, msg string) []byte {
	m := hmac.New(c.newHash, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func (c *scramClient) Step(challenge string) (string, error) {
	c.step++
	switch c.step {
	case 1:
		c.clientFirst = "n=" + c.user + ",r=" + c.cnonce
		return "n,," + c.clientFirst, nil
	case 2:
		attrs := map[string]string{}
		for _, kv := range strings.Split(challenge, ",") {
			if len(kv) > 2 {
				attrs[kv[:1]] = kv[2:]
			}
		}
		salt, err := base64.StdEncoding.DecodeString(attrs["s"])
		if err != nil {
			return "", err
		}
		iterations, err := strconv.Atoi(attrs["i"])
		if err != nil || !strings.HasPrefix(attrs["r"], c.cnonce) {
			return "", fmt.Errorf("bad server-first-message %q", challenge)
		}
		salted, err := pbkdf2.Key(c.newHash, c.pass, salt, iterations, c.newHash().Size())
		if err != nil {
			return "", err
		}
		clientKey := c.hmac(salted, "Client Key")
		h := c.newHash()
		h.Write(clientKey)
		storedKey := h.Sum(nil)
		withoutProof := "c=biws,r=" + attrs["r"]
		authMessage := c.clientFirst + "," + challenge + "," + withoutProof
		signature := c.hmac(storedKey, authMessage)
		proof := make([]byte, len(clientKey))
		for i := range proof {
			proof[i] = clientKey[i] ^ signature[i]
		}
		c.serverSig = c.hmac(c.hmac(salted, "Server Key"), authMessage)
		return withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof), nil
	default:
		if challenge != "v="+base64.StdEncoding.EncodeToString(c.serverSig) {
			return "", fmt.Errorf("server signature mismatch: %q", challenge)
		}
		c.done = true
		return "", nil
	}
}

func (c *scramClient) Done() bool { return c.done }

func TestSaramaSecure(t *testing.T) {
	protocol, mechanism, user, password := securityEnv(t)
	cfg := saramaConfig()
	cfg.Net.DialTimeout = 10 * time.Second
	if strings.HasSuffix(protocol, "SSL") {
		cfg.Net.TLS.Enable = true
		cfg.Net.TLS.Config = tlsConfig(t)
	}
	if strings.HasPrefix(protocol, "SASL") {
		cfg.Net.SASL.Enable = true
		cfg.Net.SASL.User, cfg.Net.SASL.Password = user, password
		cfg.Net.SASL.Mechanism = sarama.SASLMechanism(mechanism)
		switch mechanism {
		case "PLAIN":
			// sarama's default handshake v0: the tokens follow bare (KIP-152's legacy form).
		case "SCRAM-SHA-256":
			cfg.Net.SASL.Version = sarama.SASLHandshakeV1
			cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient {
				return &scramClient{newHash: sha256.New}
			}
		case "SCRAM-SHA-512":
			cfg.Net.SASL.Version = sarama.SASLHandshakeV1
			cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient {
				return &scramClient{newHash: sha512.New}
			}
		default:
			t.Fatalf("unknown mechanism %q", mechanism)
		}
	}
	topic := saramaTopic("secure")
	cfg.Producer.Return.Successes = true
	producer, err := sarama.NewSyncProducer([]string{bootstrap(t)}, cfg)
	if err != nil {
		t.Fatalf("producer over %s: %v", protocol, err)
	}
	want := securityValues("sarama")
	for _, v := range want {
		if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: topic,
			Value: sarama.ByteEncoder(v)}); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	producer.Close()
	consumer, err := sarama.NewConsumer([]string{bootstrap(t)}, cfg)
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatalf("consume partition: %v", err)
	}
	defer pc.Close()
	deadline := time.After(timeout)
	for i := range want {
		select {
		case m := <-pc.Messages():
			if string(m.Value) != string(want[i]) {
				t.Fatalf("record %d: got %q want %q", i, m.Value, want[i])
			}
		case err := <-pc.Errors():
			t.Fatalf("consume: %v", err)
		case <-deadline:
			t.Fatalf("consumed %d of %d before the deadline", i, len(want))
		}
	}
}
