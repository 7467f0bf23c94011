package storetest

import (
	"maps"
	"sync"
	"testing"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

// bonusEarn is an earn of base points and a bonus of attributed from
// campaign "spring", under a budget and a per-member cap.
func bonusEarn(memberID, eventID string, base, attributed, budget, perMember int64) ledger.EarnRequest {
	return ledger.EarnRequest{
		IdempotencyKey: key("earn-", memberID, "-", eventID), MemberID: memberID, EventID: eventID, Points: base, OccurredAt: t0,
		PurchaseAmount: base * 100, Currency: "EUR",
		Campaigns:   []ledger.CampaignBonus{{Campaign: "spring", Attributed: attributed, Budget: &budget, PerMemberCap: &perMember}},
		Explanation: bonusExplanation("spring", base, attributed),
	}
}

// wantGranted checks what campaign spring granted in total and to member.
func wantGranted(t *testing.T, s ledger.Ledger, memberID string, total, toMember int64) {
	t.Helper()
	spend, err := s.CampaignSpend(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, err := pricingContext(s, ledger.PricingQuery{MemberID: memberID, OccurredAt: t0, Grants: true})
	if err != nil {
		t.Fatal(err)
	}
	if spend["spring"] != total || st.Member.BonusGranted["spring"] != toMember || st.CampaignGranted["spring"] != total {
		t.Fatalf("spring granted %d in total (%d priced), %d to %s; want %d and %d",
			spend["spring"], st.CampaignGranted["spring"], st.Member.BonusGranted["spring"], memberID, total, toMember)
	}
}

// testReverseReturnsBonus: a reversal gives back to the campaign's budget
// and the member's cap the share of the event's bonus that it clawed back
// of the event's points. A full refund of a bonus purchase gives back the
// whole bonus, so the member's next purchase is not over the cap; partial
// refunds give back their share, rounded down over the event's reversals;
// points the member had spent already (the shortfall) give nothing back.
func testReverseReturnsBonus(t *testing.T, s ledger.Ledger) {
	for _, id := range []string{"full", "partial", "spent"} {
		enroll(t, s, id)
	}
	const budget, perMember = 1000, 10
	reverse := func(memberID, eventID, key string, points int64) ledger.ReverseResult {
		t.Helper()
		res, err := s.Reverse(ctx, ledger.ReverseRequest{IdempotencyKey: key, MemberID: memberID, EventID: eventID, Points: points})
		if err != nil {
			t.Fatalf("reverse %s of %s: %v", eventID, memberID, err)
		}
		return res
	}

	// full: the cap is reached, then the refund gives it back whole.
	earn(t, s, bonusEarn("full", "o1", 50, 10, budget, perMember))
	if res := earn(t, s, bonusEarn("full", "o2", 50, 10, budget, perMember)); res.Explanation.Campaigns[0].Granted != 0 ||
		len(res.Explanation.CapsHit) != 1 || res.Explanation.CapsHit[0].Cap != rules.CapPerMember {
		t.Fatalf("second bonus purchase: %+v, want memberCapReached", res.Explanation)
	}
	wantGranted(t, s, "full", 10, 10)
	if res := reverse("full", "o1", "refund-o1", 0); res.Requested != 60 || !maps.Equal(res.BonusReturned, map[string]int64{"spring": 10}) {
		t.Fatalf("full refund: %+v, want 60 points and spring's 10 back", res)
	}
	wantGranted(t, s, "full", 0, 0)
	if res := earn(t, s, bonusEarn("full", "o3", 50, 10, budget, perMember)); res.Explanation.Campaigns[0].Granted != 10 || len(res.Explanation.CapsHit) != 0 {
		t.Fatalf("bonus purchase after the refund: %+v, want the whole bonus", res.Explanation)
	}
	wantGranted(t, s, "full", 10, 10)
	// A refund of the purchase the cap cut gives nothing back: it got no bonus.
	if res := reverse("full", "o2", "refund-o2", 0); res.BonusReturned != nil {
		t.Fatalf("refund of a purchase without bonus: %+v", res)
	}
	wantGranted(t, s, "full", 10, 10)

	// partial: 90 + 10 points; reversals of 25, 30 and the last 45 give
	// back floor(10×25/100) = 2, then 5 − 2 = 3, then the last 5.
	earn(t, s, bonusEarn("partial", "p1", 90, 10, budget, perMember))
	for i, step := range []struct{ points, back, total, mine int64 }{{25, 2, 18, 8}, {30, 3, 15, 5}, {45, 5, 10, 0}} {
		res := reverse("partial", "p1", key("refund-p1-", i), step.points)
		if res.BonusReturned["spring"] != step.back {
			t.Fatalf("partial refund %d of %d points: %+v, want %d of spring's bonus back", i, step.points, res, step.back)
		}
		wantGranted(t, s, "partial", step.total, step.mine)
	}

	// spent: the member redeemed 60 of the 100 points; refunding the
	// purchase claws back the 40 left, and so 4 of the bonus.
	earn(t, s, bonusEarn("spent", "q1", 90, 10, budget, perMember))
	redeem(t, s, "spent", "redeem-spent", 60)
	if res := reverse("spent", "q1", "refund-q1", 0); res.Shortfall != 60 || res.BonusReturned["spring"] != 4 {
		t.Fatalf("refund after spending: %+v, want a shortfall of 60 and 4 of spring's bonus back", res)
	}
	wantGranted(t, s, "spent", 16, 6)
}

// testConcurrentBonusReturn: one store's ConcurrentBonusReturn.
func testConcurrentBonusReturn(t *testing.T, s ledger.Ledger) {
	ConcurrentBonusReturn(t, []ledger.Ledger{s})
}

// ConcurrentBonusReturn spends a campaign's budget, then refunds half of
// the bonus purchases while new members earn from the campaign at once,
// spread over stores: the budget is never exceeded, the new earns get
// exactly the room the refunds gave back by the time each wrote, and what
// the campaign shows granted is exactly the bonuses kept.
func ConcurrentBonusReturn(t *testing.T, stores []ledger.Ledger) {
	const members, bonus = 32, 10
	const budget = members * bonus
	s := stores[0]
	for i := range members {
		enroll(t, s, key("old", i))
		enroll(t, s, key("new", i))
		earn(t, s, bonusEarn(key("old", i), "o", 90, bonus, budget, bonus))
	}
	wantGranted(t, s, "old0", budget, bonus)
	var wg sync.WaitGroup
	returned := make([]int64, members)
	granted := make([]int64, members)
	for i := range members {
		wg.Go(func() {
			st := stores[i%len(stores)]
			if i%2 == 0 {
				res, err := st.Reverse(ctx, ledger.ReverseRequest{IdempotencyKey: key("refund", i), MemberID: key("old", i), EventID: "o"})
				if err != nil {
					t.Errorf("refund %d: %v", i, err)
					return
				}
				returned[i] = res.BonusReturned["spring"]
			}
			res, err := st.Earn(ctx, bonusEarn(key("new", i), "n", 90, bonus, budget, bonus))
			if err != nil {
				t.Errorf("earn %d: %v", i, err)
				return
			}
			granted[i] = res.Explanation.Campaigns[0].Granted
		})
	}
	wg.Wait()
	var back, again int64
	for i := range members {
		back += returned[i]
		again += granted[i]
	}
	if back != members/2*bonus || again > back {
		t.Fatalf("refunds gave back %d (want %d), new earns got %d of it", back, members/2*bonus, again)
	}
	wantGranted(t, s, "old1", budget-back+again, bonus)
	wantGranted(t, s, "old0", budget-back+again, 0)
}
