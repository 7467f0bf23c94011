package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	eventcatalog "github.com/loyaltyops/loyalty-operator/engine/events/catalog"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// outboxOf is the store's outbox; every store of the suite has one.
func outboxOf(t testing.TB, s ledger.Ledger) ledger.Outbox {
	t.Helper()
	o, ok := s.(ledger.Outbox)
	if !ok {
		t.Fatalf("%T has no outbox", s)
	}
	return o
}

// allEvents reads the whole outbox, checking that sequences are
// contiguous from first, ids unique and every event's data valid against
// the catalogue's schema of its type.
func allEvents(t testing.TB, o ledger.Outbox, first int64) []ledger.OutboxEvent {
	t.Helper()
	var out []ledger.OutboxEvent
	ids := map[string]bool{}
	for after := first - 1; ; {
		page, err := o.OutboxAfter(ctx, after, 100)
		if err != nil {
			t.Fatalf("read the outbox: %v", err)
		}
		if len(page) == 0 {
			return out
		}
		for _, ev := range page {
			if ev.Seq != after+1 {
				t.Fatalf("event %s has sequence %d after %d: want contiguous", ev.ID, ev.Seq, after)
			}
			if ids[ev.ID] || ev.ID == "" {
				t.Fatalf("event id %q at %d repeated or empty", ev.ID, ev.Seq)
			}
			ids[ev.ID] = true
			if err := eventcatalog.Validate(ev.Type, ev.Data); err != nil {
				t.Fatalf("event %d (%s): %v", ev.Seq, ev.Type, err)
			}
			after = ev.Seq
			out = append(out, ev)
		}
	}
}

func eventTypes(evs []ledger.OutboxEvent) []ledger.EventType {
	out := make([]ledger.EventType, len(evs))
	for i, ev := range evs {
		out[i] = ev.Type
	}
	return out
}

// testOutbox: each write appends its events in order; replays, refused
// writes and duplicates append nothing.
func testOutbox(t *testing.T, s ledger.Ledger) {
	o := outboxOf(t, s)
	enroll(t, s, "m1")
	earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "o1", Points: 100, ExpiresAt: day(30)})
	// A replay, a duplicate event and a refused redemption emit nothing.
	earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "o1", Points: 100, ExpiresAt: day(30)})
	if _, err := s.Earn(ctx, ledger.EarnRequest{IdempotencyKey: "dup", MemberID: "m1", EventID: "o1", Points: 100}); !errors.Is(err, ledger.ErrDuplicateEvent) {
		t.Fatalf("duplicate earn: %v", err)
	}
	if _, err := s.Redeem(ctx, ledger.RedeemRequest{IdempotencyKey: "short", MemberID: "m1", Points: 1000}); !errors.Is(err, ledger.ErrInsufficientPoints) {
		t.Fatalf("redeem beyond the balance: %v", err)
	}
	redeem(t, s, "m1", "r1", 30)
	if _, err := s.Adjust(ctx, ledger.AdjustRequest{IdempotencyKey: "a1", MemberID: "m1", Points: 5, Reason: "goodwill"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reverse(ctx, ledger.ReverseRequest{IdempotencyKey: "v1", MemberID: "m1", EventID: "o1", Points: 10}); err != nil {
		t.Fatal(err)
	}
	evs := allEvents(t, o, 1)
	want := []ledger.EventType{ledger.EventMemberEnrolled, ledger.EventPointsEarned, ledger.EventPointsRedeemed,
		ledger.EventPointsAdjusted, ledger.EventPointsReversed}
	if got := eventTypes(evs); !equalTypes(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for _, ev := range evs {
		if ev.MemberID != "m1" || ev.Occurred.IsZero() {
			t.Fatalf("event %+v: want member m1 and a time", ev)
		}
	}
	if head, err := o.OutboxHead(ctx); err != nil || head != evs[len(evs)-1].Seq {
		t.Fatalf("head %d (%v), want %d", head, err, evs[len(evs)-1].Seq)
	}
	// Expiry is due work: it reports itself too.
	if _, err := s.ProcessDue(ctx, ledger.DueOptions{Now: day(31)}); err != nil {
		t.Fatal(err)
	}
	evs = allEvents(t, o, 1)
	if last := evs[len(evs)-1]; last.Type != ledger.EventPointsExpired {
		t.Fatalf("after expiry the last event is %s, want %s", last.Type, ledger.EventPointsExpired)
	}
}

func equalTypes(a, b []ledger.EventType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// testOutboxConcurrent: 64 concurrent writers yield contiguous, unique
// events, each member's in the order its writes were answered.
func testOutboxConcurrent(t *testing.T, s ledger.Ledger) {
	o := outboxOf(t, s)
	const writers, each = 64, 5
	for i := range writers / 8 {
		enroll(t, s, key("m", i))
	}
	start := 1 + int64(writers/8)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			// Eight writers share each member; one writer's earns follow
			// each other, so their events must too.
			for i := range each {
				if _, err := s.Earn(ctx, ledger.EarnRequest{IdempotencyKey: key("e", w, "-", i), MemberID: key("m", w%8),
					EventID: key("o", w, "-", i), Points: int64(1 + i)}); err != nil {
					t.Errorf("earn: %v", err)
				}
			}
		})
	}
	wg.Wait()
	evs := allEvents(t, o, start)
	if len(evs) != writers*each {
		t.Fatalf("%d events, want %d", len(evs), writers*each)
	}
	next := map[string]int{} // by writer: the next earn expected
	for _, ev := range evs {
		var d struct {
			EventID string `json:"eventId"`
		}
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			t.Fatal(err)
		}
		var w, i int
		if _, err := fmt.Sscanf(d.EventID, "o%d-%d", &w, &i); err != nil {
			t.Fatalf("event id %q: %v", d.EventID, err)
		}
		if wk := key(w); next[wk] != i {
			t.Fatalf("writer %d's earn %d delivered at %d before its earn %d", w, i, ev.Seq, next[wk])
		}
		next[key(w)]++
	}
}

// testOutboxCursors: cursors only move forward, dead letters and
// redelivery requests are kept, and pruning keeps what a sink still needs.
func testOutboxCursors(t *testing.T, s ledger.Ledger) {
	o := outboxOf(t, s)
	for i := range 3 {
		enroll(t, s, key("m", i))
	}
	if c, err := o.SinkCursor(ctx, "hook"); err != nil || c != 0 {
		t.Fatalf("new cursor %d, %v", c, err)
	}
	for _, seq := range []int64{2, 1} {
		if err := o.AdvanceSink(ctx, "hook", seq); err != nil {
			t.Fatal(err)
		}
	}
	if c, _ := o.SinkCursor(ctx, "hook"); c != 2 {
		t.Fatalf("cursor %d after advancing to 2 then 1, want 2", c)
	}
	if err := o.DeadLetter(ctx, ledger.DeadLetter{Sink: "hook", Seq: 2, Attempts: 5, Reason: "503"}); err != nil {
		t.Fatal(err)
	}
	if dl, err := o.DeadLetters(ctx, "hook"); err != nil || len(dl) != 1 || dl[0].Seq != 2 || dl[0].Reason != "503" {
		t.Fatalf("dead letters %+v, %v", dl, err)
	}
	r := ledger.Redelivery{IdempotencyKey: "k1", Sink: "hook", FromSeq: 1, ToSeq: 2}
	for range 2 {
		if err := o.RequestRedelivery(ctx, r); err != nil {
			t.Fatalf("redelivery (replayed): %v", err)
		}
	}
	r.ToSeq = 3
	if err := o.RequestRedelivery(ctx, r); !errors.Is(err, ledger.ErrIdempotencyReuse) {
		t.Fatalf("key reused for another range: %v", err)
	}
	if err := o.RequestRedelivery(ctx, ledger.Redelivery{IdempotencyKey: "k2", Sink: "hook", FromSeq: 3, ToSeq: 2}); !errors.Is(err, ledger.ErrRedeliveryRange) {
		t.Fatalf("backward range: %v", err)
	}
	if p, err := o.PendingRedeliveries(ctx, "hook"); err != nil || len(p) != 1 || p[0].ToSeq != 2 {
		t.Fatalf("pending %+v, %v", p, err)
	}
	if err := o.FinishRedelivery(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	if p, _ := o.PendingRedeliveries(ctx, "hook"); len(p) != 0 {
		t.Fatalf("pending after finishing: %+v", p)
	}
	// Pruning keeps what the slowest sink has not had, and recent events.
	if n, err := o.PruneOutbox(ctx, []string{"hook", "nats"}, time.Now().Add(time.Hour)); err != nil || n != 0 {
		t.Fatalf("pruned %d (%v) while a sink had nothing", n, err)
	}
	if err := o.AdvanceSink(ctx, "nats", 3); err != nil {
		t.Fatal(err)
	}
	if n, err := o.PruneOutbox(ctx, []string{"hook", "nats"}, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("pruned %d (%v) recent events", n, err)
	}
	if n, err := o.PruneOutbox(ctx, []string{"hook", "nats"}, time.Now().Add(time.Hour)); err != nil || n != 2 {
		t.Fatalf("pruned %d (%v), want the 2 both sinks had", n, err)
	}
	// Numbers are never reused, even once every event was pruned.
	if err := o.AdvanceSink(ctx, "hook", 3); err != nil {
		t.Fatal(err)
	}
	if n, err := o.PruneOutbox(ctx, []string{"hook", "nats"}, time.Now().Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("pruned %d (%v), want the last one", n, err)
	}
	enroll(t, s, "m9")
	if evs, err := o.OutboxAfter(ctx, 0, 10); err != nil || len(evs) != 1 || evs[0].Seq != 4 {
		t.Fatalf("after pruning: %+v, %v", evs, err)
	}
}

// testOutboxBudgetExhausted: the earn that spends the last of a campaign's
// budget reports it, once.
func testOutboxBudgetExhausted(t *testing.T, s ledger.Ledger) {
	o := outboxOf(t, s)
	enroll(t, s, "m1")
	budget := int64(25)
	for i := range 4 {
		earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: key("o", i), Points: 1, OccurredAt: t0,
			Campaigns: []ledger.CampaignBonus{{Campaign: "spring", Attributed: 10, Budget: &budget}}})
	}
	var exhausted []ledger.OutboxEvent
	for _, ev := range allEvents(t, o, 1) {
		if ev.Type == ledger.EventCampaignExhausted {
			exhausted = append(exhausted, ev)
		}
	}
	if len(exhausted) != 1 {
		t.Fatalf("%d budget_exhausted events, want 1", len(exhausted))
	}
	var d struct {
		Campaign        string
		Budget, Granted int64
	}
	if err := json.Unmarshal(exhausted[0].Data, &d); err != nil || d.Campaign != "spring" || d.Budget != 25 || d.Granted != 25 {
		t.Fatalf("data %s (%v)", exhausted[0].Data, err)
	}
}
