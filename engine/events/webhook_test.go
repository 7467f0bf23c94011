package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/loyaltyops/loyalty-operator/engine/events/catalog"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/store/sqlite"
	"github.com/loyaltyops/loyalty-operator/engine/store/sqlstore"
)

// receiver is a webhook endpoint as a subscriber would write it: it
// verifies the signature, parses the CloudEvent and de-duplicates by id.
type receiver struct {
	secret []byte
	down   atomic.Bool // answer 503 while set

	mu       sync.Mutex
	seen     map[string]bool
	bySeq    []int64            // sequences accepted, in arrival order
	byMember map[string][]int64 // sequences accepted per member, in order
	dups     int
	rejected []error
}

func newReceiver(secret string) *receiver {
	return &receiver{secret: []byte(secret), seen: map[string]bool{}, byMember: map[string][]int64{}}
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil || r.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if err := Verify(r.secret, req.Header, body, time.Now(), DefaultTolerance); err != nil {
		r.mu.Lock()
		r.rejected = append(r.rejected, err)
		r.mu.Unlock()
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var e event.Event
	if err := json.Unmarshal(body, &e); err != nil || req.Header.Get("Content-Type") != ContentType {
		http.Error(w, fmt.Sprint("not a structured CloudEvent: ", err), http.StatusBadRequest)
		return
	}
	seq, _ := strconv.ParseInt(fmt.Sprint(e.Extensions()["sequence"]), 10, 64)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen[e.ID()] {
		r.dups++
		return
	}
	if err := catalog.Validate(ledger.EventType(e.Type()[len(TypePrefix):]), e.Data()); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.seen[e.ID()] = true
	r.bySeq = append(r.bySeq, seq)
	r.byMember[e.Subject()] = append(r.byMember[e.Subject()], seq)
}

func (r *receiver) accepted() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bySeq)
}

func openStore(t *testing.T) *sqlstore.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Options{Path: t.TempDir() + "/ledger.db"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// writeSome enrolls members and earns for them, as a program would.
func writeSome(t *testing.T, s ledger.Ledger, members, earns int, tag string) {
	t.Helper()
	ctx := context.Background()
	for m := range members {
		id := fmt.Sprint("m", m)
		if _, err := s.Enroll(ctx, ledger.EnrollRequest{IdempotencyKey: "enroll-" + id, MemberID: id}); err != nil && !errors.Is(err, ledger.ErrMemberExists) {
			t.Fatal(err)
		}
	}
	for i := range earns {
		id, ev := fmt.Sprint("m", i%members), fmt.Sprint(tag, i)
		if _, err := s.Earn(ctx, ledger.EarnRequest{IdempotencyKey: ev, MemberID: id, EventID: ev, Points: int64(1 + i)}); err != nil {
			t.Fatal(err)
		}
	}
}

func webhookDeliverer(s *sqlstore.Store, url, secret string, attempts int) *Deliverer {
	return &Deliverer{Outbox: s, MaxAttempts: attempts, Idle: 10 * time.Millisecond,
		Backoff: Backoff{Initial: 5 * time.Millisecond, Max: 40 * time.Millisecond},
		Sink: &Webhook{SinkName: "hook", URL: url, Source: Source("shop", "gold"),
			Secret: func() ([]byte, error) { return []byte(secret), nil }, Client: &http.Client{Timeout: 5 * time.Second}}}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The receiver is down while events are written, then recovers: it gets
// the backlog, every event once after de-duplication, in order per member
// and overall.
func TestWebhookBacklogAfterReceiverRecovers(t *testing.T) {
	s := openStore(t)
	rcv := newReceiver("whsec")
	rcv.down.Store(true)
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	d := webhookDeliverer(s, srv.URL, "whsec", 1000)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { d.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	writeSome(t, s, 4, 40, "o")
	time.Sleep(200 * time.Millisecond) // failing meanwhile
	rcv.down.Store(false)
	head, err := s.OutboxHead(context.Background())
	if err != nil || head != 44 {
		t.Fatalf("head %d, %v; want 44 events", head, err)
	}
	waitFor(t, "the backlog", func() bool { return rcv.accepted() == int(head) })
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for i, seq := range rcv.bySeq {
		if seq != int64(i+1) {
			t.Fatalf("arrival %d was sequence %d: want strictly in order", i, seq)
		}
	}
	for m, seqs := range rcv.byMember {
		for i := 1; i < len(seqs); i++ {
			if seqs[i] <= seqs[i-1] {
				t.Fatalf("member %s got %v: out of order", m, seqs)
			}
		}
	}
}

// A receiver with another secret refuses every event: its verification
// detects the wrong signature, and the events are dead-lettered.
func TestWebhookWrongSecretIsDetected(t *testing.T) {
	s := openStore(t)
	rcv := newReceiver("the-receivers-secret")
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	writeSome(t, s, 1, 2, "o")
	d := webhookDeliverer(s, srv.URL, "a-wrong-secret", 2)
	for range 3 {
		if _, err := d.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	rcv.mu.Lock()
	rejected, accepted := rcv.rejected, len(rcv.bySeq)
	rcv.mu.Unlock()
	if accepted != 0 || len(rejected) != 6 {
		t.Fatalf("accepted %d, rejected %d: want 0 and 6 (3 events, 2 attempts each)", accepted, len(rejected))
	}
	for _, err := range rejected {
		if !errors.Is(err, ErrBadSignature) {
			t.Fatalf("rejected for %v, want a bad signature", err)
		}
	}
	dl, err := s.DeadLetters(context.Background(), "hook")
	if err != nil || len(dl) != 3 {
		t.Fatalf("dead letters %+v (%v), want 3", dl, err)
	}
}

// Delivered twice (a restart before the cursor moved), an event reaches
// the receiver's handler twice with the same id; it keeps one.
func TestWebhookRedeliveryIsDeduplicated(t *testing.T) {
	s := openStore(t)
	rcv := newReceiver("whsec")
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	writeSome(t, s, 2, 4, "o")
	d := webhookDeliverer(s, srv.URL, "whsec", 3)
	for range 2 {
		if _, err := d.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RequestRedelivery(context.Background(), ledger.Redelivery{IdempotencyKey: "k", Sink: "hook", FromSeq: 1, ToSeq: 6}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.bySeq) != 6 || rcv.dups != 6 {
		t.Fatalf("accepted %d and dropped %d duplicates, want 6 and 6", len(rcv.bySeq), rcv.dups)
	}
}
