package storetest

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

// testTierActivity checks the qualifying activity a tier read sums against
// a scan of every event, for random earns and reversals spread over days,
// windows and times of day (a store may sum whole days separately).
func testTierActivity(t *testing.T, s ledger.Ledger) {
	rng := rand.New(rand.NewPCG(7, 11))
	tiers := []config.Tier{
		{Name: "week", Rank: 0, Qualification: config.TierQualification{MinQualifyingPoints: ptr(int64(0)), Window: ptr(config.MustDuration("7d"))}},
		{Name: "month", Rank: 1, Qualification: config.TierQualification{MinQualifyingPoints: ptr(int64(1 << 40)), Window: ptr(config.MustDuration("30d"))}},
		{Name: "year", Rank: 2, Qualification: config.TierQualification{MinQualifyingPoints: ptr(int64(1 << 41)), Window: ptr(config.MustDuration("365d"))}},
	}
	type event struct {
		points, reversed, purchase int64
		currency                   string
		at                         time.Time
	}
	var events []event
	enroll(t, s, "m1")
	base := day(0).Truncate(24 * time.Hour)
	for i := range 200 {
		e := event{
			points: 1 + rng.Int64N(500), purchase: rng.Int64N(100_000), currency: []string{"USD", "JPY", "EUR"}[rng.IntN(3)],
			at: base.Add(-time.Duration(rng.Int64N(int64(400 * 24 * time.Hour)))),
		}
		if i%10 == 0 {
			e.at = base.Add(time.Duration(rng.Int64N(int64(48 * time.Hour)))) // after some of the reads
		}
		earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: fmt.Sprint("e", i), Points: e.points, PurchaseAmount: e.purchase, Currency: e.currency, OccurredAt: e.at})
		events = append(events, e)
	}
	for i := range events {
		e := &events[i]
		if rng.IntN(3) != 0 {
			continue
		}
		for range 1 + rng.IntN(2) {
			left := e.points - e.reversed
			if left == 0 {
				break
			}
			n := 1 + rng.Int64N(left)
			if _, err := s.Reverse(ctx, ledger.ReverseRequest{IdempotencyKey: fmt.Sprint("rev", i, "-", e.reversed), MemberID: "m1", EventID: fmt.Sprint("e", i), Points: n}); err != nil {
				t.Fatalf("reverse e%d: %v", i, err)
			}
			e.reversed += n
		}
	}
	for range 40 {
		now := base.Add(time.Duration(rng.Int64N(int64(48*time.Hour))) - 12*time.Hour).Truncate(time.Microsecond)
		st, err := s.TierStatus(ctx, "m1", tiers, now)
		if err != nil {
			t.Fatal(err)
		}
		for _, tier := range tiers {
			start := rules.QualificationWindowStart(tier, now)
			var want rules.Activity
			var spend int64
			for _, e := range events {
				if e.at.Before(start) || e.at.After(now) {
					continue
				}
				want.Points += e.points - e.reversed
				minor := e.purchase * (e.points - e.reversed) / e.points
				for range 4 - rules.MinorUnits(e.currency) {
					minor *= 10
				}
				spend += minor
			}
			want.Spend = config.DecimalFromUnits(spend)
			if got := st.Input.Activity[tier.Name]; got != want {
				t.Fatalf("activity of %s at %v: %+v, want %+v", tier.Name, now, got, want)
			}
		}
	}
}
