package service

import (
	"errors"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/internal/strictjson"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

func (f *fixture) startMembership(t *testing.T, id, body string) (ledger.MembershipResult, error) {
	t.Helper()
	var b MembershipStart
	if err := strictjson.Unmarshal([]byte(body), &b); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return f.svc.StartMembership(t.Context(), id, b, []byte(body))
}

func (f *fixture) changeMembership(t *testing.T, id, action, body string) (ledger.MembershipResult, error) {
	t.Helper()
	var b MembershipChange
	if err := strictjson.Unmarshal([]byte(body), &b); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return f.svc.ChangeMembership(t.Context(), id, action, b, []byte(body))
}

func TestStartMembershipNamesTheBadField(t *testing.T) {
	f := newFixture(t)
	for body, field := range map[string]string{
		`{"idempotencyKey":"m1","membership":"gold","paymentReference":"pay-1"}`:                                   "membership",
		`{"idempotencyKey":"m1","paymentReference":"pay-1"}`:                                                       "membership",
		`{"idempotencyKey":"m1","membership":"prime"}`:                                                             "paymentReference",
		`{"idempotencyKey":"m1","membership":"prime","paymentReference":"pay-1","startAt":"2026-07-01T00:00:00Z"}`: "startAt",
		`{"idempotencyKey":"m1","membership":"box","paymentReference":"pay-1","startAt":"2026-01-01T00:00:00Z"}`:   "startAt",
	} {
		_, err := f.startMembership(t, "plain", body)
		var fe *ledger.FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: %v, want a FieldError on %s", body, err, field)
		}
	}
	if f.store.members["plain"].Membership != nil {
		t.Fatal("a refused start wrote a membership")
	}
}

func TestMembershipLifecycleAndStreakBonusOnce(t *testing.T) {
	f := newFixture(t)
	res, err := f.startMembership(t, "plain", `{"idempotencyKey":"m1","membership":"box","paymentReference":"pay-1"}`)
	if err != nil {
		t.Fatal(err)
	}
	if m := res.Membership; m.State != ledger.MembershipActive || !m.PeriodEnd.Equal(testNow.AddDate(0, 0, 30)) || res.Fee != "19.99" {
		t.Fatalf("start: %+v", res)
	}
	if _, err := f.startMembership(t, "plain", `{"idempotencyKey":"m2","membership":"prime","paymentReference":"pay-2"}`); !errors.Is(err, ledger.ErrMembershipState) {
		t.Fatalf("a second membership while active: %v, want ErrMembershipState", err)
	}
	var bonuses []int64
	for i, key := range []string{"r1", "r2", "r3"} {
		res, err := f.changeMembership(t, "plain", ledger.ActionRenew, `{"idempotencyKey":"`+key+`","paymentReference":"pay-r"}`)
		if err != nil {
			t.Fatalf("renewal %d: %v", i+1, err)
		}
		bonuses = append(bonuses, res.BonusPoints)
	}
	if bonuses[0] != 0 || bonuses[1] != 500 || bonuses[2] != 0 {
		t.Fatalf("bonuses of three renewals %v, want [0 500 0]: once per streak", bonuses)
	}
	again, err := f.changeMembership(t, "plain", ledger.ActionRenew, `{"idempotencyKey":"r2","paymentReference":"pay-r"}`)
	if err != nil || !again.Replayed || again.BonusPoints != 500 || f.store.members["plain"].Available != 500 {
		t.Fatalf("replayed renewal: %+v, %v; balance %d", again, err, f.store.members["plain"].Available)
	}
	// A pause breaks the streak: two more renewals earn the bonus again.
	f.now = testNow.Add(24 * time.Hour)
	f.store.now = f.now
	for _, step := range []struct{ action, key string }{{ledger.ActionPause, "p1"}, {ledger.ActionResume, "u1"}} {
		if _, err := f.changeMembership(t, "plain", step.action, `{"idempotencyKey":"`+step.key+`"}`); err != nil {
			t.Fatalf("%s: %v", step.action, err)
		}
	}
	m := f.store.members["plain"].Membership
	if m.Streak != 0 || m.State != ledger.MembershipActive || !m.PeriodEnd.Equal(testNow.AddDate(0, 0, 120)) {
		t.Fatalf("after pause and resume: %+v", m)
	}
	for _, key := range []string{"r4", "r5"} {
		if _, err := f.changeMembership(t, "plain", ledger.ActionRenew, `{"idempotencyKey":"`+key+`","paymentReference":"pay-r"}`); err != nil {
			t.Fatal(err)
		}
	}
	if f.store.members["plain"].Available != 1000 {
		t.Fatalf("balance %d, want 1000: a second streak earns a second bonus", f.store.members["plain"].Available)
	}
	res, err = f.changeMembership(t, "plain", ledger.ActionCancel, `{"idempotencyKey":"c1"}`)
	if err != nil || res.Membership.State != ledger.MembershipCancelling || !res.Membership.Active(f.now) {
		t.Fatalf("cancel: %+v, %v; active until the period ends", res, err)
	}
}

func TestRenewWithoutMembership(t *testing.T) {
	f := newFixture(t)
	if _, err := f.changeMembership(t, "plain", ledger.ActionRenew, `{"idempotencyKey":"r1","paymentReference":"pay"}`); !errors.Is(err, ledger.ErrNoMembership) {
		t.Fatalf("renew without membership: %v", err)
	}
	if _, err := f.changeMembership(t, "plain", ledger.ActionPause, `{"idempotencyKey":"p1"}`); !errors.Is(err, ledger.ErrNoMembership) {
		t.Fatalf("pause without membership: %v", err)
	}
	var fe *ledger.FieldError
	if _, err := f.changeMembership(t, "plain", "upgrade", `{"idempotencyKey":"x1"}`); !errors.As(err, &fe) || fe.Field != "action" {
		t.Fatalf("unknown action: %v", err)
	}
}

func TestActiveMembershipMultipliesEarningAndFloorsTheTier(t *testing.T) {
	f := newFixture(t)
	if _, err := f.startMembership(t, "plain", `{"idempotencyKey":"m1","membership":"prime","paymentReference":"pay-1"}`); err != nil {
		t.Fatal(err)
	}
	ev, body := event("e1", "plain", "o1", "10.00", "", testNow)
	out, err := f.svc.Earn(t.Context(), ev, body)
	if err != nil {
		t.Fatal(err)
	}
	// 10 points × 2 (silver, the tier floor) × 2 (prime) = 40, +5 for every purchase.
	ex := out.Explanation
	if out.Points != 45 || ex == nil || ex.Membership == nil || ex.Membership.Name != "prime" || ex.Tier == nil || ex.Tier.Name != "silver" {
		t.Fatalf("earn with prime: %d points, explanation %+v", out.Points, ex)
	}
	if _, err := f.changeMembership(t, "plain", ledger.ActionPause, `{"idempotencyKey":"p1"}`); err != nil {
		t.Fatal(err)
	}
	ev, body = event("e2", "plain", "o2", "10.00", "", testNow)
	if out, err = f.svc.Earn(t.Context(), ev, body); err != nil || out.Points != 15 {
		t.Fatalf("earn while paused: %d points, %v; want 10 + 5 without the membership's benefits", out.Points, err)
	}
}
