package storetest

import (
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
