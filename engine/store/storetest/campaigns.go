package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

// bonusExplanation is the explanation of an event that Price attributed
// base points and one campaign's bonus, before the store's caps.
func bonusExplanation(campaign string, base, attributed int64) *rules.Explanation {
	return &rules.Explanation{Kind: rules.EventPurchase, PointsWithoutCampaigns: base, CampaignBonus: attributed,
		CampaignPointsGranted: attributed, Points: base + attributed,
		Campaigns: []rules.CampaignExplanation{{Name: campaign, Stacking: config.StackingStack, Applied: true, Attributed: attributed, Granted: attributed}}}
}

// grantRace runs 64 earns at once, spread over stores, each of base points
// and one bonus of attributed under the caps, and returns the granted
// bonus of each as the store answered it. member names the earner of i.
func grantRace(t *testing.T, stores []ledger.Ledger, member func(i int) string, base, attributed int64, budget, perMember *int64) []int64 {
	const workers = 64
	granted := make([]int64, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			res, err := stores[i%len(stores)].Earn(ctx, ledger.EarnRequest{
				IdempotencyKey: key("race", i), MemberID: member(i), EventID: key("o", i), Points: base, OccurredAt: t0,
				Campaigns:   []ledger.CampaignBonus{{Campaign: "spring", Attributed: attributed, Budget: budget, PerMemberCap: perMember}},
				Explanation: bonusExplanation("spring", base, attributed),
			})
			if err != nil {
				t.Errorf("earn %d: %v", i, err)
				return
			}
			ex := res.Explanation
			g := ex.Campaigns[0].Granted
			granted[i] = g
			// What the response says is what the store granted.
			if res.Points != base+g || ex.Points != res.Points || ex.CampaignPointsGranted != g {
				t.Errorf("earn %d: points %d, explanation %d (bonus %d); want %d + %d", i, res.Points, ex.Points, ex.CampaignPointsGranted, base, g)
			}
			if cut := g < attributed; cut != (len(ex.CapsHit) == 1) || cut != (ex.Campaigns[0].Cap != nil) {
				t.Errorf("earn %d: granted %d of %d, caps hit %+v", i, g, attributed, ex.CapsHit)
			}
		})
	}
	wg.Wait()
	return granted
}

// wantGrants checks the race's outcome: exactly limit granted in total,
// full grants then at most one partial, and the rest nothing.
func wantGrants(t *testing.T, granted []int64, attributed, limit int64) {
	t.Helper()
	var total, full, partial int64
	for _, g := range granted {
		total += g
		switch {
		case g == attributed:
			full++
		case g > 0:
			partial++
		}
	}
	if total != limit || full != limit/attributed || partial != min(limit%attributed, 1) {
		t.Fatalf("granted %d in total (%d full, %d partial), want %d (%d full, %d partial): %v",
			total, full, partial, limit, limit/attributed, min(limit%attributed, 1), granted)
	}
}

func ptr[T any](v T) *T { return &v }

// testConcurrentBudget: 64 members earn at once from a campaign whose budget
// covers fewer: exactly the budget is granted.
func testConcurrentBudget(t *testing.T, s ledger.Ledger) { ConcurrentBudget(t, []ledger.Ledger{s}) }

// ConcurrentBudget runs the budget race over several stores sharing one
// database; stores[0] enrolls and checks.
func ConcurrentBudget(t *testing.T, stores []ledger.Ledger) {
	s := stores[0]
	for i := range 64 {
		enroll(t, s, key("m", i))
	}
	const budget, attributed = 1000, 30 // 64×30 = 1920 asked of 1000
	granted := grantRace(t, stores, func(i int) string { return key("m", i) }, 10, attributed, ptr(int64(budget)), ptr(int64(500)))
	wantGrants(t, granted, attributed, budget)
	spend, err := s.CampaignSpend(ctx)
	if err != nil || spend["spring"] != budget {
		t.Fatalf("campaign spend %v, %v; want spring: %d", spend, err, budget)
	}
	var lifetime int64
	for i := range 64 {
		lifetime += member(t, s, key("m", i), t0).LifetimeEarned
	}
	if lifetime != 64*10+budget {
		t.Errorf("points earned %d, want %d", lifetime, 64*10+budget)
	}
	CheckInvariants(t, s)
}

// testConcurrentUncappedSpend: 64 members earn at once from a campaign
// with neither budget nor cap, through every writer: its spend counts each
// grant once.
func testConcurrentUncappedSpend(t *testing.T, s ledger.Ledger) {
	for i := range 64 {
		enroll(t, s, key("m", i))
	}
	const attributed = 7
	granted := grantRace(t, []ledger.Ledger{s}, func(i int) string { return key("m", i) }, 10, attributed, nil, nil)
	wantGrants(t, granted, attributed, 64*attributed)
	if spend, err := s.CampaignSpend(ctx); err != nil || spend["spring"] != 64*attributed {
		t.Fatalf("campaign spend %v, %v; want spring: %d", spend, err, 64*attributed)
	}
	CheckInvariants(t, s)
}

// testConcurrentMemberCap: 64 earns of one member at once from a campaign
// whose per-member cap covers fewer: exactly the cap is granted.
func testConcurrentMemberCap(t *testing.T, s ledger.Ledger) {
	ConcurrentMemberCap(t, []ledger.Ledger{s})
}

// ConcurrentMemberCap runs the per-member cap race over several stores.
func ConcurrentMemberCap(t *testing.T, stores []ledger.Ledger) {
	s := stores[0]
	enroll(t, s, "m1")
	const limit, attributed = 100, 7
	granted := grantRace(t, stores, func(int) string { return "m1" }, 1, attributed, nil, ptr(int64(limit)))
	wantGrants(t, granted, attributed, limit)
	st, err := pricingContext(s, ledger.PricingQuery{MemberID: "m1", Grants: true})
	if err != nil || st.Member.BonusGranted["spring"] != limit {
		t.Fatalf("bonus granted to m1 %v, %v; want spring: %d", st.Member.BonusGranted, err, limit)
	}
	// A campaign without a budget counts its spend all the same.
	if spend, err := s.CampaignSpend(ctx); err != nil || spend["spring"] != limit {
		t.Fatalf("campaign spend %v, %v; want spring: %d", spend, err, limit)
	}
	wantBalance(t, s, "m1", 64+limit, 0, 64+limit)
	CheckInvariants(t, s)
}

// testConcurrentMaxPerDay: 64 earns of one action limited per day by one
// member at once: exactly the limit earn, the others earn nothing and
// record no event.
func testConcurrentMaxPerDay(t *testing.T, s ledger.Ledger) {
	ConcurrentMaxPerDay(t, []ledger.Ledger{s})
}

// ConcurrentMaxPerDay runs the daily limit race over several stores.
func ConcurrentMaxPerDay(t *testing.T, stores []ledger.Ledger) {
	s := stores[0]
	enroll(t, s, "m1")
	const maxPerDay = 3
	daily := &config.ActionLimit{Count: maxPerDay, Per: config.LimitDay}
	var wg sync.WaitGroup
	var mu sync.Mutex
	earned := 0
	for i := range 64 {
		wg.Go(func() {
			res, err := stores[i%len(stores)].Earn(ctx, ledger.EarnRequest{IdempotencyKey: key("a", i), MemberID: "m1", EventID: key("review", i),
				Points: 10, Action: "review", Limit: daily, OccurredAt: t0,
				Explanation: &rules.Explanation{Kind: rules.EventAction, Base: rules.BaseExplanation{Action: "review", Points: 10}, PointsWithoutCampaigns: 10, Points: 10}})
			if err != nil {
				t.Errorf("earn %d: %v", i, err)
				return
			}
			if (res.Points == 0) != res.Explanation.Base.DailyLimitReached || res.Explanation.Points != res.Points {
				t.Errorf("earn %d: points %d, explanation %+v", i, res.Points, res.Explanation)
			}
			mu.Lock()
			defer mu.Unlock()
			if res.Points > 0 {
				earned++
			}
		})
	}
	wg.Wait()
	if earned != maxPerDay {
		t.Fatalf("%d earned, want %d", earned, maxPerDay)
	}
	// Another day has its own count.
	earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "next-day", Points: 10, Action: "review", Limit: daily, OccurredAt: t0.Add(24 * time.Hour)})
	wantBalance(t, s, "m1", 40, 0, 40)
	st, err := pricingContext(s, ledger.PricingQuery{MemberID: "m1", Action: "review", Limit: daily, OccurredAt: t0})
	if err != nil || st.Member.ActionsInPeriod != maxPerDay {
		t.Errorf("actions today %d, %v; want %d", st.Member.ActionsInPeriod, err, maxPerDay)
	}
}

// testTiers: an upgrade as soon as the member qualifies, kept while the
// member qualifies or within the grace period, a downgrade by the due job
// after it; every change is a zero-point "tier" entry.
func testTiers(t *testing.T, s ledger.Ledger) {
	tiers := []config.Tier{
		{Name: "bronze", Rank: 0, Qualification: config.TierQualification{MinQualifyingPoints: ptr(int64(0)), Window: ptr(config.MustDuration("30d"))}},
		{Name: "silver", Rank: 1, Qualification: config.TierQualification{MinQualifyingPoints: ptr(int64(100)), Window: ptr(config.MustDuration("30d"))},
			DowngradeGracePeriod: config.MustDuration("10d")},
	}
	enroll(t, s, "m1")
	evaluate := func(now time.Time) ledger.TierResult {
		t.Helper()
		r, err := s.EvaluateTier(ctx, ledger.TierRequest{MemberID: "m1", Tiers: tiers, Now: now})
		if err != nil {
			t.Fatalf("evaluate tier: %v", err)
		}
		return r
	}
	earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "o1", Points: 60, OccurredAt: day(1)})
	wantPricedTier(t, s, "m1", "")
	if r := evaluate(day(1)); r.Changed || r.Decision.Tier != "bronze" || r.Decision.Next == nil || *r.Decision.Next.MissingPoints != 40 {
		t.Fatalf("after 60 points: %+v", r)
	}
	// Adjustments are not qualifying points.
	if _, err := s.Adjust(ctx, ledger.AdjustRequest{IdempotencyKey: "adj", MemberID: "m1", Points: 500, Reason: "goodwill"}); err != nil {
		t.Fatal(err)
	}
	if r := evaluate(day(1)); r.Changed {
		t.Fatalf("an adjustment upgraded: %+v", r)
	}
	earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "o2", Points: 40, OccurredAt: day(2)})
	if r := evaluate(day(2)); !r.Changed || r.Decision.Change != rules.TierUpgrade || r.Decision.Tier != "silver" {
		t.Fatalf("after 100 points: %+v", r)
	}
	if v := member(t, s, "m1", day(2)); v.Tier != "silver" || v.TierSince == nil || !v.TierSince.Equal(day(2)) {
		t.Fatalf("member tier %q since %v, want silver since %v", v.Tier, v.TierSince, day(2))
	}
	wantPricedTier(t, s, "m1", "silver")
	due := func(now time.Time) ledger.ProcessDueResult {
		t.Helper()
		r, err := s.ProcessDue(ctx, ledger.DueOptions{Now: now, Tiers: tiers})
		if err != nil {
			t.Fatalf("process due: %v", err)
		}
		return r
	}
	// Day 25: the window still holds both earns; the member qualifies again.
	if r := due(day(25)); r.TierDowngrades != 0 {
		t.Fatalf("downgraded while qualifying: %+v", r)
	}
	// Day 34: the earns left the window on day 31, but the grace from the
	// last qualification (day 25) runs to day 35. An earn does not downgrade.
	if r := evaluate(day(34)); r.Changed {
		t.Fatalf("an earn's evaluation downgraded: %+v", r)
	}
	if r := due(day(34)); r.TierDowngrades != 0 {
		t.Fatalf("downgraded within grace: %+v", r)
	}
	if r := due(day(36)); r.TierDowngrades != 1 {
		t.Fatalf("not downgraded after grace: %+v", r)
	}
	if v := member(t, s, "m1", day(36)); v.Tier != "bronze" {
		t.Fatalf("member tier %q, want bronze", v.Tier)
	}
	wantPricedTier(t, s, "m1", "bronze")
	page, err := s.History(ctx, ledger.HistoryQuery{MemberID: "m1"})
	if err != nil {
		t.Fatal(err)
	}
	var changes []string
	for _, e := range page.Entries {
		if e.Kind == ledger.EntryTier {
			if e.Available != 0 || e.Pending != 0 || e.Lifetime != 0 {
				t.Errorf("tier entry with points: %+v", e)
			}
			changes = append(changes, e.Reference+": "+e.Reason)
		}
	}
	if len(changes) != 2 || changes[0] != "bronze: downgrade from silver" || changes[1] != "silver: upgrade from bronze" {
		t.Errorf("tier entries %q", changes)
	}
}

// wantPricedTier: pricing reads the member's tier as it is now, right
// after the write that changed it was answered.
func wantPricedTier(t *testing.T, s ledger.Ledger, id, tier string) {
	t.Helper()
	st, err := pricingContext(s, ledger.PricingQuery{MemberID: id, OccurredAt: time.Now()})
	if err != nil || st.Member.Tier != tier {
		t.Fatalf("%s priced at tier %q (%v), want %q", id, st.Member.Tier, err, tier)
	}
}

func pricingContext(s ledger.Ledger, q ledger.PricingQuery) (ledger.PricingState, error) {
	st, err := s.PricingContexts(ctx, []ledger.PricingQuery{q})
	if err != nil {
		return ledger.PricingState{}, err
	}
	return st[0], st[0].Err
}

// testPricingContexts: one read answers many queries, in order, each with
// its member's state, unknown members with ErrMemberNotFound.
func testPricingContexts(t *testing.T, s ledger.Ledger) {
	if _, err := s.Enroll(ctx, ledger.EnrollRequest{IdempotencyKey: "e1", MemberID: "m1", Tags: []string{"vip"}, EnrolledAt: day(-3)}); err != nil {
		t.Fatal(err)
	}
	enroll(t, s, "m2")
	earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "r1", Points: 10, Action: "review", OccurredAt: t0,
		Campaigns: []ledger.CampaignBonus{{Campaign: "spring", Attributed: 5, PerMemberCap: ptr(int64(100))}}})
	st, err := s.PricingContexts(ctx, []ledger.PricingQuery{
		{MemberID: "m2", Grants: true},
		{MemberID: "nobody"},
		{MemberID: "m1", Action: "review", Limit: &config.ActionLimit{Count: 5, Per: config.LimitDay}, OccurredAt: t0, Grants: true},
		{MemberID: "m1", Action: "review", Limit: &config.ActionLimit{Count: 5, Per: config.LimitDay}, OccurredAt: t0.Add(24 * time.Hour)},
		{MemberID: ""},
	})
	if err != nil {
		t.Fatal(err)
	}
	m1 := st[2].Member
	switch {
	case st[0].Err != nil || st[0].Member.ID != "m2" || len(st[0].Member.BonusGranted) != 0 || st[0].CampaignGranted["spring"] != 5:
		t.Errorf("m2: %+v", st[0])
	case !errors.Is(st[1].Err, ledger.ErrMemberNotFound):
		t.Errorf("unknown member: %+v", st[1])
	case st[2].Err != nil || m1.ID != "m1" || len(m1.Tags) != 1 || m1.Tags[0] != "vip" || !m1.EnrolledAt.Equal(day(-3)) ||
		m1.ActionsInPeriod != 1 || m1.BonusGranted["spring"] != 5:
		t.Errorf("m1: %+v", st[2])
	case st[3].Err != nil || st[3].Member.ActionsInPeriod != 0 || st[3].Member.BonusGranted != nil:
		t.Errorf("m1 the next day: %+v", st[3])
	case !errors.Is(st[4].Err, ledger.ErrInvalidRequest):
		t.Errorf("empty member id: %+v", st[4])
	}
}
