package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// testEarnUpgrades: an earn given the tier ladder upgrades the member it
// qualifies in its own commit, straight to the highest tier reached, with
// one zero-point "tier" entry; lifetime points that are not qualifying
// activity (an adjustment) upgrade no one, and an earn without the ladder
// evaluates nothing.
func testEarnUpgrades(t *testing.T, s ledger.Ledger) {
	window := ptr(config.MustDuration("30d"))
	tiers := []config.Tier{
		{Name: "bronze", Rank: 0, Qualification: config.TierQualification{MinQualifyingPoints: ptr(int64(0)), Window: window}},
		{Name: "silver", Rank: 1, Qualification: config.TierQualification{MinQualifyingPoints: ptr(int64(100)), Window: window}},
		{Name: "gold", Rank: 2, Qualification: config.TierQualification{MinQualifyingPoints: ptr(int64(200)), Window: window}},
	}
	for _, id := range []string{"m1", "m2", "m3"} {
		enroll(t, s, id)
	}
	tierEntries := func(id string) []string {
		t.Helper()
		var out []string
		for _, e := range allHistory(t, s, id) {
			if e.Kind == ledger.EntryTier {
				out = append(out, e.Reference+": "+e.Reason)
			}
		}
		return out
	}
	wantTier := func(id, tier string, entries ...string) {
		t.Helper()
		wantPricedTier(t, s, id, tier)
		v := member(t, s, id, time.Now())
		got := tierEntries(id)
		if v.Tier != tier || len(got) != len(entries) {
			t.Fatalf("%s: tier %q with tier entries %q, want %q with %q", id, v.Tier, got, tier, entries)
		}
		for i := range entries {
			if got[i] != entries[i] {
				t.Fatalf("%s: tier entries %q, want %q", id, got, entries)
			}
		}
	}

	earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "o1", Points: 60, Tiers: tiers})
	wantTier("m1", "")
	// 570 lifetime points reach gold's threshold, but 70 of them qualify.
	if _, err := s.Adjust(ctx, ledger.AdjustRequest{IdempotencyKey: "adj-m1", MemberID: "m1", Points: 500, Reason: "goodwill"}); err != nil {
		t.Fatal(err)
	}
	earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "o2", Points: 10, Tiers: tiers})
	wantTier("m1", "")

	// In one batch m1 passes silver and gold: one upgrade, to gold.
	res, err := s.EarnBatch(ctx, ledger.EarnBatchRequest{Events: []ledger.EarnRequest{
		{IdempotencyKey: "b1", MemberID: "m1", EventID: "o3", Points: 40, Tiers: tiers},
		{IdempotencyKey: "b2", MemberID: "m2", EventID: "o1", Points: 50, Tiers: tiers},
		{IdempotencyKey: "b3", MemberID: "m1", EventID: "o4", Points: 100, Tiers: tiers},
	}})
	if err != nil || res.Succeeded != 3 {
		t.Fatalf("batch: %+v, %v", res, err)
	}
	wantTier("m1", "gold", "gold: upgrade from bronze")
	wantTier("m2", "")
	wantBalance(t, s, "m1", 710, 0, 710)

	// Without the ladder an earn changes no tier, however much it earns.
	earn(t, s, ledger.EarnRequest{MemberID: "m3", EventID: "o1", Points: 150})
	wantTier("m3", "")
	earn(t, s, ledger.EarnRequest{MemberID: "m3", EventID: "o2", Points: 1, Tiers: tiers})
	wantTier("m3", "silver", "silver: upgrade from bronze")
	// A replay applies nothing again.
	earn(t, s, ledger.EarnRequest{MemberID: "m3", EventID: "o2", Points: 1, Tiers: tiers})
	wantTier("m3", "silver", "silver: upgrade from bronze")
}

// pricedTierLadder: silver from 100 qualifying points over 30 days.
var pricedTierLadder = []config.Tier{
	{Name: "bronze", Rank: 0, Qualification: config.TierQualification{MinQualifyingPoints: ptr(int64(0)), Window: ptr(config.MustDuration("30d"))}},
	{Name: "silver", Rank: 1, Qualification: config.TierQualification{MinQualifyingPoints: ptr(int64(100)), Window: ptr(config.MustDuration("30d"))}},
}

// testPricedTier: an earn priced for a tier the member does not have is
// refused and writes nothing; priced for the member's tier it applies under
// the same key. The events of one batch are all judged by the tier the
// member had before it: the upgrade they earn follows them in the commit.
func testPricedTier(t *testing.T, s ledger.Ledger) {
	entry, silver := "", "silver"
	enroll(t, s, "m1")
	_, err := s.Earn(ctx, ledger.EarnRequest{IdempotencyKey: "k1", MemberID: "m1", EventID: "o1", Points: 10, PricedTier: &silver})
	if !errors.Is(err, ledger.ErrTierChanged) {
		t.Fatalf("earn priced for silver, member in the entry tier: %v, want ErrTierChanged", err)
	}
	wantBalance(t, s, "m1", 0, 0, 0)
	earn(t, s, ledger.EarnRequest{IdempotencyKey: "k1", MemberID: "m1", EventID: "o1", Points: 10, PricedTier: &entry})
	wantBalance(t, s, "m1", 10, 0, 10)

	enroll(t, s, "m2")
	res, err := s.EarnBatch(ctx, ledger.EarnBatchRequest{Events: []ledger.EarnRequest{
		{IdempotencyKey: "b1", MemberID: "m2", EventID: "o1", Points: 100, Tiers: pricedTierLadder, PricedTier: &entry},
		{IdempotencyKey: "b2", MemberID: "m2", EventID: "o2", Points: 5, Tiers: pricedTierLadder, PricedTier: &entry},
		{IdempotencyKey: "b3", MemberID: "m2", EventID: "o3", Points: 7, Tiers: pricedTierLadder, PricedTier: &silver},
	}})
	if err != nil || res.Succeeded != 2 || !errors.Is(res.Items[2].Err, ledger.ErrTierChanged) {
		t.Fatalf("batch: %+v, %v; want the third event refused with ErrTierChanged", res, err)
	}
	wantBalance(t, s, "m2", 105, 0, 105)
	wantPricedTier(t, s, "m2", "silver")
	_, err = s.Earn(ctx, ledger.EarnRequest{IdempotencyKey: "b3", MemberID: "m2", EventID: "o3", Points: 7, PricedTier: &entry})
	if !errors.Is(err, ledger.ErrTierChanged) {
		t.Fatalf("earn priced for the entry tier after the upgrade: %v, want ErrTierChanged", err)
	}
	earn(t, s, ledger.EarnRequest{IdempotencyKey: "b3", MemberID: "m2", EventID: "o3", Points: 7, PricedTier: &silver})
	wantBalance(t, s, "m2", 112, 0, 112)

	ReplicaTierChange(t, s, s)
}

// ReplicaTierChange: replica b upgrades a member that replica a has priced
// (and may remember); a's earn priced for the old tier is refused without
// writing, and a fresh pricing on a gives the new tier.
func ReplicaTierChange(t *testing.T, a, b ledger.Ledger) {
	entry := ""
	enroll(t, a, "r1")
	wantPricedTier(t, a, "r1", "")
	earn(t, b, ledger.EarnRequest{MemberID: "r1", EventID: "o1", Points: 100, Tiers: pricedTierLadder, PricedTier: &entry})
	_, err := a.Earn(ctx, ledger.EarnRequest{IdempotencyKey: "r1-o2", MemberID: "r1", EventID: "o2", Points: 3, PricedTier: &entry})
	if !errors.Is(err, ledger.ErrTierChanged) {
		t.Fatalf("earn priced before another replica's upgrade: %v, want ErrTierChanged", err)
	}
	wantBalance(t, a, "r1", 100, 0, 100)
	st, err := pricingContext(a, ledger.PricingQuery{MemberID: "r1", OccurredAt: time.Now(), Fresh: true})
	if err != nil || st.Member.Tier != "silver" {
		t.Fatalf("fresh pricing after the upgrade: tier %q (%v), want silver", st.Member.Tier, err)
	}
	silver := st.Member.Tier
	earn(t, a, ledger.EarnRequest{IdempotencyKey: "r1-o2", MemberID: "r1", EventID: "o2", Points: 3, PricedTier: &silver})
	wantBalance(t, a, "r1", 103, 0, 103)
}
