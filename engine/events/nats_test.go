package events

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// natsURL is the JetStream server of the tests (TEST_NATS_URL): CI must
// run them, elsewhere they are skipped without one.
func natsURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("TEST_NATS_URL")
	if u == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TEST_NATS_URL is not set; CI must run the NATS tests")
		}
		t.Skip("TEST_NATS_URL is not set")
	}
	return u
}

func jetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(natsURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// Events are published to a stream the sink creates, a subject per type,
// with the event id as the message id: publishing them again adds nothing.
func TestNATSPublishesOncePerEventID(t *testing.T) {
	js := jetStream(t)
	ctx := context.Background()
	name := fmt.Sprint("loyalty_test_", time.Now().UnixNano())
	prefix := "loyaltytest." + name
	t.Cleanup(func() { _ = js.DeleteStream(context.Background(), name) })
	s := openStore(t)
	writeSome(t, s, 2, 6, "o")
	sink := &NATS{SinkName: "bus", Source: Source("shop", "gold"), Prefix: prefix, JS: js, Stream: name, Create: true}
	d := &Deliverer{Outbox: s, Sink: sink, MaxAttempts: 3}
	if n, err := d.Step(ctx); err != nil || n != 8 {
		t.Fatalf("delivered %d (%v), want 8", n, err)
	}
	stream, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil || info.State.Msgs != 8 {
		t.Fatalf("stream holds %d messages (%v), want 8", info.State.Msgs, err)
	}
	// Sent again (a redelivery, or an engine restarted before its cursor
	// moved), the same ids are dropped by the server.
	if err := s.RequestRedelivery(ctx, ledger.Redelivery{IdempotencyKey: "again", Sink: "bus", FromSeq: 1, ToSeq: 8}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if info, err = stream.Info(ctx); err != nil || info.State.Msgs != 8 {
		t.Fatalf("after publishing again the stream holds %d messages (%v), want 8", info.State.Msgs, err)
	}
	evs, err := s.OutboxAfter(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		msg, err := stream.GetMsg(ctx, uint64(ev.Seq))
		if err != nil {
			t.Fatal(err)
		}
		if msg.Subject != prefix+"."+string(ev.Type) || msg.Header.Get(jetstream.MsgIDHeader) != ev.ID {
			t.Fatalf("message %d: subject %s, id %q; want %s.%s and %s", ev.Seq, msg.Subject, msg.Header.Get(jetstream.MsgIDHeader), prefix, ev.Type, ev.ID)
		}
	}
}

// Without CreateStream a missing stream fails delivery rather than
// publishing into nothing.
func TestNATSMissingStreamFails(t *testing.T) {
	js := jetStream(t)
	s := openStore(t)
	writeSome(t, s, 1, 1, "o")
	sink := &NATS{SinkName: "bus", Source: Source("shop", "gold"), Prefix: "loyaltytest.missing", JS: js, Stream: "loyalty_test_missing"}
	err := sink.Send(context.Background(), ledger.OutboxEvent{Seq: 1, ID: "x", Type: ledger.EventPointsEarned, Data: []byte(`{}`)})
	if err == nil {
		t.Fatal("published without a stream")
	}
}
