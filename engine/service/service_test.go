package service

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

// testNow is the service's and the store's clock; campaigns run around it.
var testNow = time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)

// program: 1 point per EUR rounded down, a silver tier earning double, a
// "review" action of 10 points at most twice a day, and campaigns: +5 on
// every purchase, +40 for members tagged capped (at most 60 per member),
// +3 per review, and one whose window is over.
func program(t *testing.T) string {
	t.Helper()
	window := fmt.Sprintf(`"schedule": {"start": %q, "end": %q}`, testNow.Add(-24*time.Hour).Format(time.RFC3339), testNow.Add(24*time.Hour).Format(time.RFC3339))
	past := fmt.Sprintf(`"schedule": {"start": %q, "end": %q}`, testNow.Add(-72*time.Hour).Format(time.RFC3339), testNow.Add(-48*time.Hour).Format(time.RFC3339))
	return `{
  "version": "loyaltyops.io/snapshot/v1",
  "program": {"name": "club", "namespace": "shop", "displayName": "Club", "currency": "EUR"},
  "points": {"earnRate": "1", "rounding": "Floor", "pendingPeriod": "0s", "lateEventGracePeriod": "72h",
             "actions": [{"name": "review", "points": 10, "maxPerDay": 2}]},
  "tiers": [
    {"name": "bronze", "displayName": "Bronze", "rank": 0, "qualification": {"minQualifyingPoints": 0, "window": "365d"}},
    {"name": "silver", "displayName": "Silver", "rank": 1, "qualification": {"minQualifyingPoints": 100000, "window": "365d"},
     "earnMultiplier": "2", "downgradeGracePeriod": "1d"}
  ],
  "campaigns": [
    {"name": "bonus", "displayName": "Bonus", ` + window + `, "rules": {"purchaseBonus": {"points": 5}}, "priority": 1},
    {"name": "review-extra", "displayName": "Review", ` + window + `, "rules": {"actionBonuses": [{"action": "review", "points": 3}]}},
    {"name": "capped", "displayName": "Capped", ` + window + `, "audience": {"memberTags": ["capped"]}, "rules": {"purchaseBonus": {"points": 40}},
     "limits": {"totalBonusBudget": 1000, "perMemberCap": 60}},
    {"name": "over", "displayName": "Over", ` + past + `, "rules": {"purchaseBonus": {"points": 99}}}
  ],
  "memberships": [
    {"name": "prime", "price": "99", "currency": "EUR", "billingPeriod": "Year", "benefits": {"earnMultiplier": "2", "tierFloor": "silver"}},
    {"name": "box", "price": "19.99", "currency": "EUR", "billingPeriod": "30d", "benefits": {}, "streak": {"renewals": 2, "bonusPoints": 500}}
  ]
}`
}

type fixture struct {
	svc    *Service
	store  *memStore
	holder *config.Holder
	now    time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{store: newMemStore(testNow), holder: config.NewHolder(nil), now: testNow}
	if err := f.holder.Apply("test", []byte(program(t))); err != nil {
		t.Fatal(err)
	}
	f.svc = New(f.store, f.holder, func() time.Time { return f.now })
	for _, m := range []struct {
		id   string
		tags []string
	}{{"plain", nil}, {"capped", []string{"capped"}}, {"silver", nil}} {
		body := fmt.Appendf(nil, `{"idempotencyKey":"enroll-%s","memberId":%q}`, m.id, m.id)
		if _, err := f.svc.Enroll(t.Context(), ledger.EnrollRequest{IdempotencyKey: "enroll-" + m.id, MemberID: m.id, Tags: m.tags}, body); err != nil {
			t.Fatal(err)
		}
	}
	f.store.members["silver"].Tier = "silver"
	f.store.lookups = 0
	return f
}

// event is an EarnEvent and the body it stands for.
func event(key, member, id, amount, action string, at time.Time) (EarnEvent, []byte) {
	ev := EarnEvent{IdempotencyKey: key, MemberID: member, EventID: id, Amount: amount, Action: action, OccurredAt: at.Format(time.RFC3339)}
	body, err := json.Marshal(map[string]string{"idempotencyKey": key, "memberId": member, "eventId": id, "amount": amount, "action": action, "occurredAt": ev.OccurredAt})
	if err != nil {
		panic(err)
	}
	return ev, body
}

func (f *fixture) earn(t *testing.T, key, member, id, amount, action string) (ledger.EarnResult, error) {
	t.Helper()
	ev, body := event(key, member, id, amount, action, f.now.Add(-time.Minute))
	return f.svc.Earn(t.Context(), ev, body)
}

// wantField checks that err is a FieldError on field.
func wantField(t *testing.T, what string, err error, field string) {
	t.Helper()
	var fe *ledger.FieldError
	if !errors.As(err, &fe) || fe.Field != field {
		t.Fatalf("%s: error %v, want a field error on %s", what, err, field)
	}
}

func TestEarnPricing(t *testing.T) {
	tests := []struct {
		name           string
		member, amount string
		action         string
		points         int64
		applied        []string
		field          string // a FieldError on it, when set
		err            error
	}{
		{name: "purchase", member: "plain", amount: "10", points: 10 + 5, applied: []string{"bonus"}},
		{name: "rounded down", member: "plain", amount: "12.99", points: 12 + 5, applied: []string{"bonus"}},
		{name: "tier multiplier", member: "silver", amount: "10", points: 20 + 5, applied: []string{"bonus"}},
		{name: "audience and cap room", member: "capped", amount: "10", points: 10 + 5 + 40, applied: []string{"bonus", "capped"}},
		{name: "action", member: "plain", action: "review", points: 10 + 3, applied: []string{"review-extra"}},
		{name: "unknown action", member: "plain", action: "tweet", field: "action"},
		{name: "amount and action", member: "plain", amount: "1", action: "review", field: "action"},
		{name: "bad amount", member: "plain", amount: "1.2.3", field: "amount"},
		{name: "too precise for EUR", member: "plain", amount: "1.001", field: "amount"},
		{name: "not enrolled", member: "nobody", amount: "10", err: ledger.ErrMemberNotFound},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			res, err := f.earn(t, fmt.Sprint("k", i), tt.member, fmt.Sprint("e", i), tt.amount, tt.action)
			switch {
			case tt.field != "":
				wantField(t, tt.name, err, tt.field)
				return
			case tt.err != nil:
				if !errors.Is(err, tt.err) {
					t.Fatalf("error %v, want %v", err, tt.err)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if res.Points != tt.points || res.Explanation.Points != tt.points || res.Balance.Available != tt.points || res.Replayed {
				t.Fatalf("earned %+v, want %d points", res, tt.points)
			}
			var applied []string
			for _, c := range res.Explanation.Campaigns {
				if c.Applied {
					applied = append(applied, c.Name)
				}
			}
			if fmt.Sprint(applied) != fmt.Sprint(tt.applied) {
				t.Fatalf("applied %v, want %v", applied, tt.applied)
			}
			if v := f.store.members[tt.member]; v.Available != tt.points {
				t.Fatalf("store balance %d, want %d", v.Available, tt.points)
			}
		})
	}
}

// The per-member cap is read before pricing and enforced by the store:
// the second capped purchase gets the 20 left of 60.
func TestEarnCapsFromStore(t *testing.T) {
	f := newFixture(t)
	if _, err := f.earn(t, "k1", "capped", "e1", "10", ""); err != nil {
		t.Fatal(err)
	}
	res, err := f.earn(t, "k2", "capped", "e2", "10", "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Points != 10+5+20 || res.Explanation.CampaignPointsGranted != 25 || len(res.Explanation.CapsHit) != 1 {
		t.Fatalf("second capped purchase: %+v %+v", res, res.Explanation)
	}
	res, err = f.earn(t, "k3", "capped", "e3", "10", "")
	if err != nil || res.Points != 15 {
		t.Fatalf("third capped purchase: %+v %v, want 15 points", res, err)
	}
}

func TestEarnRetriesAfterTierChange(t *testing.T) {
	tests := []struct {
		stale     int
		pricings  int
		wantPoint int64
		err       error
	}{
		{stale: 0, pricings: 1, wantPoint: 25},
		{stale: 1, pricings: 2, wantPoint: 25},
		{stale: 2, pricings: 3, wantPoint: 25},
		{stale: 3, pricings: MaxPricings, err: ledger.ErrTierChanged},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint("stale=", tt.stale), func(t *testing.T) {
			f := newFixture(t)
			f.store.staleReads, f.store.pricings = tt.stale, 0
			res, err := f.earn(t, "k", "silver", "e", "10", "")
			if !errors.Is(err, tt.err) || res.Points != tt.wantPoint || f.store.pricings != tt.pricings {
				t.Fatalf("earn: %+v %v after %d pricings; want %d points, error %v after %d", res, err, f.store.pricings, tt.wantPoint, tt.err, tt.pricings)
			}
			if tt.err == nil {
				return
			}
			if v := f.store.members["silver"]; v.Available != 0 || len(f.store.keys) != 3 {
				t.Fatalf("a refused earn wrote: balance %d, %d keys", v.Available, len(f.store.keys))
			}
			// The key was not kept: the same request earns once the tier holds still.
			if res, err := f.earn(t, "k", "silver", "e", "10", ""); err != nil || res.Points != 25 || res.Replayed {
				t.Fatalf("retry: %+v %v", res, err)
			}
		})
	}
}

// A known key is looked up only when the event cannot be priced or earns
// nothing now; a priceable event leaves the replay to the store.
func TestReplayPolicy(t *testing.T) {
	f := newFixture(t)
	ev, body := event("k1", "capped", "e1", "10", "", testNow.Add(-time.Minute))
	first, err := f.svc.Earn(t.Context(), ev, body)
	if err != nil || f.store.lookups != 0 {
		t.Fatalf("earn: %v, %d lookups", err, f.store.lookups)
	}
	stored, _ := first.AppendJSON(nil)

	replay := func(what string, wantLookups int) {
		t.Helper()
		f.store.lookups = 0
		again, err := f.svc.Earn(t.Context(), ev, body)
		if err != nil || !again.Replayed || again.Explanation != nil || again.Summary == nil || f.store.lookups != wantLookups {
			t.Fatalf("%s: %+v %v after %d lookups, want a replay after %d", what, again, err, f.store.lookups, wantLookups)
		}
		if b, _ := again.AppendJSON(nil); string(b) != string(stored) {
			t.Fatalf("%s answered\n%s\nnot what was stored\n%s", what, b, stored)
		}
	}
	replay("retry", 0) // the store replays it
	// Past the late-event grace period the event cannot be priced.
	f.now = testNow.Add(96 * time.Hour)
	replay("late retry", 1)
	// Another body under the key, late: the lookup refuses the reuse.
	other, otherBody := event("k1", "capped", "e1", "11", "", testNow.Add(-time.Minute))
	if _, err := f.svc.Earn(t.Context(), other, otherBody); !errors.Is(err, ledger.ErrIdempotencyReuse) {
		t.Fatalf("reused key: %v", err)
	}
	// Without a configuration a known key still replays.
	f.now = testNow
	f.svc = New(f.store, noConfig{}, func() time.Time { return f.now })
	replay("retry without configuration", 1)
	if _, err := f.earn(t, "k2", "capped", "e2", "10", ""); !errors.Is(err, ErrNoConfiguration) {
		t.Fatalf("new event without configuration: %v", err)
	}
	// An unknown late event is refused as late.
	f.svc = New(f.store, f.holder, func() time.Time { return testNow.Add(96 * time.Hour) })
	var te *rules.TimeError
	if _, err := f.earn(t, "k3", "plain", "e3", "10", ""); !errors.As(err, &te) {
		t.Fatalf("late event: %v", err)
	}
}

type noConfig struct{}

func (noConfig) Current() *config.Snapshot { return nil }

// An event that earns nothing (an action over its maxPerDay) writes
// nothing and keeps no key, is answered with the balance, and is
// validated like any earn.
func TestZeroPointEvent(t *testing.T) {
	f := newFixture(t)
	for i := range 2 {
		if _, err := f.earn(t, fmt.Sprint("r", i), "plain", fmt.Sprint("r", i), "", "review"); err != nil {
			t.Fatal(err)
		}
	}
	keys, earns := len(f.store.keys), f.store.earns
	res, err := f.earn(t, "r2", "plain", "r2", "", "review")
	if err != nil || res.Points != 0 || res.EntrySeq != 0 || res.Balance.Available != 26 || !res.Explanation.Base.DailyLimitReached {
		t.Fatalf("third review: %+v %v", res, err)
	}
	if len(f.store.keys) != keys || f.store.earns != earns {
		t.Fatal("an event earning nothing was written")
	}
	tooLong := string(make([]byte, ledger.MaxIDLength+1))
	_, err = f.earn(t, "r3", "plain", tooLong, "", "review")
	wantField(t, "event id too long", err, "eventId")
	_, err = f.earn(t, "", "plain", "r4", "", "review")
	wantField(t, "no key", err, "idempotencyKey")
}

// A batch answers each event: priced and written, refused by parsing,
// pricing or the store (fields named relative to the event), replayed,
// or earning nothing.
func TestEarnBatchMixedOutcomes(t *testing.T) {
	f := newFixture(t)
	at := testNow.Add(-time.Minute)
	if _, err := f.earn(t, "known", "plain", "known", "10", ""); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := f.earn(t, fmt.Sprint("r", i), "plain", fmt.Sprint("r", i), "", "review"); err != nil {
			t.Fatal(err)
		}
	}
	type want struct {
		points   int64
		replayed bool
		field    string
		err      error
	}
	cases := []struct {
		key, member, id, amount, action string
		at                              time.Time
		want                            want
	}{
		{"b0", "plain", "b0", "10", "", at, want{points: 15}},
		{"b1", "plain", "b1", "x", "", at, want{field: "amount"}},
		{"b2", "plain", "b2", "10", "", testNow.Add(-96 * time.Hour), want{err: rules.ErrTooLate}},
		{"known", "plain", "known", "10", "", at.Add(-time.Second), want{err: ledger.ErrIdempotencyReuse}},
		{"b4", "plain", "r2", "", "review", at, want{points: 0}},
		{"b5", "plain", "known", "10", "", at, want{err: ledger.ErrDuplicateEvent}},
		{"b6", "plain", string(make([]byte, ledger.MaxIDLength+1)), "10", "", at, want{field: "eventId"}},
		{"b7", "nobody", "b7", "10", "", at, want{err: ledger.ErrMemberNotFound}},
		{"b8", "capped", "b8", "10", "", at, want{points: 55}},
	}
	events := make([]EarnEvent, len(cases))
	bodies := make([][]byte, len(cases))
	for i, c := range cases {
		events[i], bodies[i] = event(c.key, c.member, c.id, c.amount, c.action, c.at)
	}
	// The known key with the same body is a replay.
	known, knownBody := event("known", "plain", "known", "10", "", testNow.Add(-time.Minute))
	events, bodies = append(events, known), append(bodies, knownBody)
	cases = append(cases, cases[0])
	cases[len(cases)-1].want = want{points: 15, replayed: true}

	items, err := f.svc.EarnBatch(t.Context(), events, bodies)
	if err != nil {
		t.Fatal(err)
	}
	for i, it := range items {
		w := cases[i].want
		switch {
		case w.field != "":
			wantField(t, fmt.Sprint("item ", i), it.Err, w.field)
		case w.err != nil:
			if !errors.Is(it.Err, w.err) {
				t.Fatalf("item %d: %v, want %v", i, it.Err, w.err)
			}
		case it.Err != nil:
			t.Fatalf("item %d: %v", i, it.Err)
		case it.Result.Points != w.points || it.Result.Replayed != w.replayed:
			t.Fatalf("item %d: %+v, want %d points, replayed %v", i, it.Result, w.points, w.replayed)
		case it.Stored != nil:
			// What the store handed on is the result's record.
			if b, _ := it.Result.AppendJSON(nil); string(b) != string(it.Stored) {
				t.Fatalf("item %d: stored\n%s\nnot the record\n%s", i, it.Stored, b)
			}
		}
		if (it.Err == nil) != (it.Result != nil) || it.EventID != events[i].EventID {
			t.Fatalf("item %d: result %v, error %v, event %q", i, it.Result, it.Err, it.EventID)
		}
	}
	if items[0].Stored == nil {
		t.Fatal("the stored record of a fresh item was not handed on")
	}
}

func TestReverseRefundConversion(t *testing.T) {
	f := newFixture(t)
	if _, err := f.earn(t, "k", "plain", "e", "10", ""); err != nil { // 15 points for 10.00 EUR
		t.Fatal(err)
	}
	reverse := func(key, refund string) (ledger.ReverseResult, error) {
		rv := Reversal{IdempotencyKey: key, MemberID: "plain", EventID: "e", RefundAmount: refund}
		body, _ := json.Marshal(map[string]string{"idempotencyKey": key, "memberId": "plain", "eventId": "e", "refundAmount": refund})
		return f.svc.Reverse(t.Context(), rv, body)
	}
	for _, tt := range []struct{ refund, reason string }{{"abc", "amount"}, {"0.00", "positive"}, {"1.001", "decimal"}} {
		_, err := reverse("bad-"+tt.refund, tt.refund)
		wantField(t, "refund "+tt.refund, err, "refundAmount")
	}
	// 5.00 of 10.00 is half of 15 points, rounded half up.
	res, err := reverse("r1", "5.00")
	if err != nil || res.Requested != 8 || res.Balance.Available != 7 {
		t.Fatalf("refund of half: %+v %v, want 8 points reversed", res, err)
	}
	// Replayed before the amount is converted: without a configuration too.
	f.svc = New(f.store, noConfig{}, func() time.Time { return f.now })
	if again, err := reverse("r1", "5.00"); err != nil || !again.Replayed || again.Requested != 8 {
		t.Fatalf("replayed refund: %+v %v", again, err)
	}
	if _, err := reverse("r2", "1.00"); !errors.Is(err, ErrNoConfiguration) {
		t.Fatalf("refund without configuration: %v", err)
	}
}

func TestPriceWritesNothing(t *testing.T) {
	f := newFixture(t)
	if _, err := f.earn(t, "k1", "capped", "e1", "10", ""); err != nil {
		t.Fatal(err)
	}
	keys, earns := len(f.store.keys), f.store.earns
	ev, _ := event("", "capped", "e2", "10", "", testNow.Add(-time.Minute))
	q, err := f.svc.Price(t.Context(), ev)
	if err != nil {
		t.Fatal(err)
	}
	// 20 of the capped campaign's 60 per member are left.
	if q.Points != 10+5+20 || q.Explanation.Points != q.Points || len(q.Explanation.CapsHit) != 1 || q.Explanation.Campaigns[0].Window == nil {
		t.Fatalf("quote %+v", q)
	}
	if len(f.store.keys) != keys || f.store.earns != earns || f.store.members["capped"].Available != 55 {
		t.Fatal("pricing wrote")
	}
	bad, _ := event("", "capped", "", "10", "", testNow.Add(-time.Minute))
	_, err = f.svc.Price(t.Context(), bad)
	wantField(t, "no event id", err, "eventId")
}
