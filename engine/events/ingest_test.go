package events

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/service"
)

// Purchases from a JetStream stream are applied once each, acknowledged
// after the commit; a message delivered again replays; malformed or
// refused messages are parked with their reason and the rest goes on.
func TestIngestFromJetStream(t *testing.T) {
	js := jetStream(t)
	ctx := context.Background()
	n := time.Now().UnixNano()
	stream, parked := fmt.Sprint("loyalty_ingest_", n), fmt.Sprint("loyalty_parked_", n)
	subject, parkSubject := fmt.Sprint("ingesttest.", n, ".purchases"), fmt.Sprint("ingesttest.", n, ".parked")
	t.Cleanup(func() {
		_ = js.DeleteStream(context.Background(), stream)
		_ = js.DeleteStream(context.Background(), parked)
	})
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{subject}, Duplicates: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: parked, Subjects: []string{parkSubject}}); err != nil {
		t.Fatal(err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{Durable: "engine", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}

	s := openStore(t)
	holder := config.NewHolder(nil)
	if err := holder.Apply("test", []byte(fmt.Sprintf(supervisedSnapshot, ""))); err != nil {
		t.Fatal(err)
	}
	writeSome(t, s, 3, 0, "")
	occurred := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	publish := func(id, body string) {
		t.Helper()
		m := nats.NewMsg(subject)
		m.Data = []byte(body)
		var opts []jetstream.PublishOpt
		if id != "" {
			opts = append(opts, jetstream.WithMsgID(id))
		}
		if _, err := js.PublishMsg(ctx, m, opts...); err != nil {
			t.Fatal(err)
		}
	}
	purchase := func(i int) string {
		return fmt.Sprintf(`{"memberId": "m%d", "eventId": "order-%d", "amount": "2.00", "occurredAt": %q}`, i%3, i, occurred)
	}
	for i := range 30 {
		publish(fmt.Sprint("p-", i), purchase(i))
		if i == 10 {
			publish("bad-json", `{"memberId": "m1", `)
			publish("bad-member", `{"memberId": "nobody", "eventId": "o", "amount": "1.00", "occurredAt": "`+occurred+`"}`)
			publish("", purchase(99))
		}
	}

	in := &Ingest{Consumer: cons, JS: js, ParkSubject: parkSubject, Earner: service.New(s, holder, nil), Retry: 50 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(t.Output(), nil))}
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := in.Run(runCtx); err != nil {
			t.Error(err)
		}
	})
	defer func() { cancel(); wg.Wait() }()

	settled := func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	}
	waitFor(t, "the stream to be consumed", settled)
	for m := range 3 {
		v, err := s.Member(ctx, fmt.Sprint("m", m), time.Now())
		if err != nil || v.Available != 20 {
			t.Fatalf("m%d: %+v %v, want 20 points (10 purchases of 2)", m, v.Balance, err)
		}
	}
	ps, err := js.Stream(ctx, parked)
	if err != nil {
		t.Fatal(err)
	}
	info, err := ps.Info(ctx)
	if err != nil || info.State.Msgs != 3 {
		t.Fatalf("%d parked (%v), want 3", info.State.Msgs, err)
	}
	var reasons []string
	for seq := uint64(1); seq <= 3; seq++ {
		m, err := ps.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		reasons = append(reasons, m.Header.Get(HeaderParkReason))
	}
	for i, want := range []string{"malformed purchase", "member", "Nats-Msg-Id"} {
		if !strings.Contains(reasons[i], want) {
			t.Fatalf("parked reasons %q: want %q in the %d-th", reasons, want, i+1)
		}
	}

	// Past the server's duplicate window, the same message id comes in
	// again: the engine replays it and the balance does not move.
	time.Sleep(300 * time.Millisecond)
	publish("p-0", purchase(0))
	waitFor(t, "the repeated message", func() bool {
		ci, err := cons.Info(ctx)
		return err == nil && ci.Delivered.Stream == 34 && ci.NumAckPending == 0
	})
	if v, _ := s.Member(ctx, "m0", time.Now()); v.Available != 20 {
		t.Fatalf("m0 has %d after the repeated message, want 20", v.Available)
	}
	evs, err := s.OutboxAfter(ctx, 0, 100)
	if err != nil || len(evs) != 33 { // 3 enrolments, 30 earns
		t.Fatalf("%d events in the outbox (%v), want 33", len(evs), err)
	}
}
