package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

// portabilityTiers: silver from 100 qualifying points over 30 days.
var portabilityTiers = []config.Tier{
	{Name: "bronze", Rank: 0, Qualification: config.TierQualification{MinQualifyingPoints: ptr(int64(0)), Window: ptr(config.MustDuration("30d"))}},
	{Name: "silver", Rank: 1, Qualification: config.TierQualification{MinQualifyingPoints: ptr(int64(100)), Window: ptr(config.MustDuration("30d"))}},
}

// portabilityMembers are the members richLedger enrolls.
var portabilityMembers = []string{"ann", "bob", "cat", "dan", "eve"}

// richLedger writes a little of everything a store holds: tagged and
// referred members, a converted and a pending referral, campaign grants
// under a budget and a cap, a tier upgrade, action events, catalog
// redemptions (one cancelled), a partial reversal with a shortfall,
// adjustments both ways, and lots pending, available, spent and expired.
func richLedger(t *testing.T, s ledger.Ledger) {
	t.Helper()
	p := referralPolicy(5)
	if _, err := s.Enroll(ctx, ledger.EnrollRequest{IdempotencyKey: "enroll-ann", MemberID: "ann", Tags: []string{"vip", "staff"}}); err != nil {
		t.Fatal(err)
	}
	code := referralCode(t, s, "ann")
	for _, id := range []string{"bob", "cat"} {
		if _, err := enrollReferred(s, id, code, p); err != nil {
			t.Fatalf("enroll %s referred: %v", id, err)
		}
	}
	enroll(t, s, "dan")
	enroll(t, s, "eve")

	// bob's qualifying purchase converts his referral: both rewards pending.
	if r := purchase(t, s, "bob", "p1", 2500, 25, p); r.Referral == nil {
		t.Fatalf("bob's purchase did not convert: %+v", r)
	}
	// ann earns with a campaign bonus, twice, and reaches silver; the
	// second result is large, so the store keeps it compressed.
	for _, ev := range []string{"o1", "o2"} {
		ex := bonusExplanation("spring", 400, 30)
		if ev == "o2" {
			ex = largeExplanation("spring", 400, 30)
		}
		earn(t, s, ledger.EarnRequest{MemberID: "ann", EventID: ev, Points: 400, PurchaseAmount: 40000, Currency: "EUR", OccurredAt: t0,
			ExpiresAt:   day(200),
			Campaigns:   []ledger.CampaignBonus{{Campaign: "spring", Attributed: 30, Budget: ptr(int64(1000)), PerMemberCap: ptr(int64(50))}},
			Explanation: ex})
	}
	if r, err := s.EvaluateTier(ctx, ledger.TierRequest{MemberID: "ann", Tiers: portabilityTiers, Now: t0}); err != nil || !r.Changed {
		t.Fatalf("evaluate ann's tier: %+v %v", r, err)
	}
	// Actions limited per day.
	for i := range 3 {
		earn(t, s, ledger.EarnRequest{MemberID: "dan", EventID: key("review", i), Points: 5, OccurredAt: t0, Action: "review", Limit: &config.ActionLimit{Count: 2, Per: config.LimitDay}})
	}
	// dan: a pending lot, and one that expires before it is spent.
	earn(t, s, ledger.EarnRequest{MemberID: "dan", EventID: "pending", Points: 70, AvailableAt: day(10), ExpiresAt: day(100)})
	earn(t, s, ledger.EarnRequest{MemberID: "dan", EventID: "short", Points: 30, ExpiresAt: day(2)})
	// Catalog redemptions, one cancelled.
	for _, k := range []string{"mug-1", "mug-2"} {
		if _, err := redeemReward(s, k, "ann", "mug"); err != nil {
			t.Fatalf("redeem %s: %v", k, err)
		}
	}
	first, err := s.Redemptions(ctx, "ann")
	if err != nil || len(first) != 2 {
		t.Fatalf("redemptions of ann: %+v %v", first, err)
	}
	if _, err := s.CancelRedemption(ctx, ledger.CancelRedemptionRequest{IdempotencyKey: "cancel-1", Code: first[1].Code, Reason: "broken"}); err != nil {
		t.Fatal(err)
	}
	redeem(t, s, "ann", "redeem-1", 50)
	// eve spends most of a purchase, then it is refunded: a shortfall.
	earn(t, s, ledger.EarnRequest{MemberID: "eve", EventID: "e1", Points: 100, PurchaseAmount: 10000, Currency: "USD", OccurredAt: t0})
	redeem(t, s, "eve", "redeem-eve", 90)
	if _, err := s.Reverse(ctx, ledger.ReverseRequest{IdempotencyKey: "reverse-eve", MemberID: "eve", EventID: "e1", RefundAmount: 5000}); err != nil {
		t.Fatal(err)
	}
	// A bonus purchase, half refunded: half its bonus went back to the campaign.
	earn(t, s, ledger.EarnRequest{MemberID: "eve", EventID: "eb", Points: 90, PurchaseAmount: 9000, Currency: "USD", OccurredAt: t0,
		Campaigns:   []ledger.CampaignBonus{{Campaign: "autumn", Attributed: 10, Budget: ptr(int64(100)), PerMemberCap: ptr(int64(20))}},
		Explanation: bonusExplanation("autumn", 90, 10)})
	if res, err := s.Reverse(ctx, ledger.ReverseRequest{IdempotencyKey: "refund-eve-eb", MemberID: "eve", EventID: "eb", Points: 50}); err != nil || res.BonusReturned["autumn"] != 5 {
		t.Fatalf("refund half of eb: %+v %v, want 5 of autumn's bonus back", res, err)
	}
	// A purchase too small to earn points, partly refunded: its spend moves.
	earn(t, s, ledger.EarnRequest{MemberID: "eve", EventID: "e0", PurchaseAmount: 99, Currency: "USD", OccurredAt: t0})
	if _, err := s.Reverse(ctx, ledger.ReverseRequest{IdempotencyKey: "refund-eve-e0", MemberID: "eve", EventID: "e0", RefundAmount: 40}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Adjust(ctx, ledger.AdjustRequest{IdempotencyKey: "adjust-up", MemberID: "eve", Points: 40, Reason: "goodwill", ExpiresAt: day(300)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Adjust(ctx, ledger.AdjustRequest{IdempotencyKey: "adjust-down", MemberID: "ann", Points: -10, Reason: "correction"}); err != nil {
		t.Fatal(err)
	}
	if r := processDue(t, s, day(3)); r.ExpiredLots != 1 || r.ExpiredPoints != 30 {
		t.Fatalf("due at day 3: %+v", r)
	}
	CheckInvariants(t, s)
}

// export returns the store's export stream.
func export(t *testing.T, s ledger.Ledger) ([]byte, ledger.ExportSummary) {
	t.Helper()
	var buf bytes.Buffer
	sum, err := s.Export(ctx, &buf, ledger.ExportOptions{ProgramID: "shop/club"})
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	return buf.Bytes(), sum
}

// normalised is the stream's data lines, sorted (stores order text keys by
// their own collation), and its header and trailer decoded.
func normalised(t *testing.T, stream []byte) (lines []string, header, trailer map[string]any) {
	t.Helper()
	all := strings.Split(strings.TrimSuffix(string(stream), "\n"), "\n")
	if len(all) < 2 {
		t.Fatalf("stream of %d lines", len(all))
	}
	if err := json.Unmarshal([]byte(all[0]), &header); err != nil || header["type"] != ledger.RecordHeader {
		t.Fatalf("first line %s: %v", all[0], err)
	}
	if err := json.Unmarshal([]byte(all[len(all)-1]), &trailer); err != nil || trailer["type"] != ledger.RecordTrailer {
		t.Fatalf("last line %s: %v", all[len(all)-1], err)
	}
	lines = slices.Clone(all[1 : len(all)-1])
	slices.Sort(lines)
	return lines, header, trailer
}

// RoundTrip exports a rich ledger from a store of from, imports it into a
// store of to, exports that again and checks that nothing was lost: the
// same records, balances, histories, redemptions, grants, tiers and
// analytics, the invariants, and writes that carry on where the ledger
// left off. It then checks that the import is idempotent.
func RoundTrip(t *testing.T, from, to Factory) {
	src, dst := from(t), to(t)
	richLedger(t, src)
	stream, sum := export(t, src)

	res, err := dst.Import(ctx, bytes.NewReader(stream))
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if res.Replayed || res.ImportID != sum.SHA256 || res.ExportID != sum.Header.ExportID || !reflect.DeepEqual(res.Counts, sum.Counts) {
		t.Fatalf("import %+v, export %+v", res, sum)
	}
	for _, typ := range ledger.RecordTypes {
		if sum.Counts[typ] == 0 {
			t.Errorf("the rich ledger has no %s record", typ)
		}
	}
	CheckInvariants(t, dst)

	again, _ := export(t, dst)
	wantLines, wantHeader, wantTrailer := normalised(t, stream)
	gotLines, gotHeader, gotTrailer := normalised(t, again)
	if !slices.Equal(gotLines, wantLines) {
		t.Errorf("records differ after the round trip:\n%s", lineDiff(wantLines, gotLines))
	}
	if !reflect.DeepEqual(gotTrailer["counts"], wantTrailer["counts"]) || gotHeader["exportId"] == wantHeader["exportId"] {
		t.Errorf("trailers %v and %v, headers %v and %v", wantTrailer, gotTrailer, wantHeader, gotHeader)
	}

	sameReads(t, src, dst)
	carriesOn(t, src, dst)

	// The same stream again replays; another stream is refused.
	replay, err := dst.Import(ctx, bytes.NewReader(stream))
	if err != nil || !replay.Replayed || replay.ImportID != res.ImportID || !replay.ImportedAt.Equal(res.ImportedAt) {
		t.Fatalf("import again: %+v %v; first %+v", replay, err, res)
	}
	other, _ := export(t, src)
	if _, err := dst.Import(ctx, bytes.NewReader(other)); !errors.Is(err, ledger.ErrStoreNotEmpty) {
		t.Fatalf("another stream into the imported store: %v, want ErrStoreNotEmpty", err)
	}
	if _, err := src.Import(ctx, bytes.NewReader(stream)); !errors.Is(err, ledger.ErrStoreNotEmpty) {
		t.Fatalf("a stream into the store it came from: %v, want ErrStoreNotEmpty", err)
	}
	CheckInvariants(t, dst)
}

// sameReads compares what every read of the two stores answers.
func sameReads(t *testing.T, src, dst ledger.Ledger) {
	t.Helper()
	equal := func(what string, a, b any) {
		t.Helper()
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: source %+v, imported %+v", what, a, b)
		}
	}
	for _, id := range portabilityMembers {
		for _, now := range []time.Time{t0, day(150)} {
			equal("member "+id, member(t, src, id, now), member(t, dst, id, now))
		}
		equal("history of "+id, allHistory(t, src, id), allHistory(t, dst, id))
		r1, err1 := src.Redemptions(ctx, id)
		r2, err2 := dst.Redemptions(ctx, id)
		equal("redemptions of "+id, []any{r1, err1}, []any{r2, err2})
		s1, err1 := src.TierStatus(ctx, id, portabilityTiers, t0)
		s2, err2 := dst.TierStatus(ctx, id, portabilityTiers, t0)
		equal("tier status of "+id, []any{s1, err1}, []any{s2, err2})
		q := ledger.PricingQuery{MemberID: id, Action: "review", Limit: &config.ActionLimit{Count: 9, Per: config.LimitWeek}, OccurredAt: t0, Grants: true}
		p1, err1 := pricingContext(src, q)
		p2, err2 := pricingContext(dst, q)
		// The tags' revision is the store's own, for its caches.
		p1.TagsRev, p2.TagsRev = 0, 0
		equal("pricing context of "+id, []any{p1, err1}, []any{p2, err2})
	}
	c1, err1 := src.CampaignSpend(ctx)
	c2, err2 := dst.CampaignSpend(ctx)
	equal("campaign spend", []any{c1, err1}, []any{c2, err2})
	a1, err1 := src.Aggregates(ctx, day(-1), day(30))
	a2, err2 := dst.Aggregates(ctx, day(-1), day(30))
	equal("aggregates", []any{a1, err1}, []any{a2, err2})
}

// carriesOn writes to both stores after the import: replays, refusals and
// new writes answer the same, and new entries and lots are numbered after
// the imported ones.
func carriesOn(t *testing.T, src, dst ledger.Ledger) {
	t.Helper()
	var last int64
	for _, id := range portabilityMembers {
		for _, e := range allHistory(t, src, id) {
			last = max(last, e.Seq)
		}
	}
	for _, s := range []ledger.Ledger{src, dst} {
		name := "imported store"
		if s == src {
			name = "source store"
		}
		// A replayed key replays the original result.
		r, err := s.Redeem(ctx, ledger.RedeemRequest{IdempotencyKey: "redeem-1", MemberID: "ann", Points: 50})
		if err != nil || !r.Replayed || r.EntrySeq > last {
			t.Fatalf("%s: replay redeem-1: %+v %v", name, r, err)
		}
		if _, err := s.Redeem(ctx, ledger.RedeemRequest{IdempotencyKey: "redeem-1", MemberID: "ann", Points: 51}); !errors.Is(err, ledger.ErrIdempotencyReuse) {
			t.Fatalf("%s: redeem-1 reused: %v", name, err)
		}
		// A recorded event is refused under a new key.
		_, err = s.Earn(ctx, ledger.EarnRequest{IdempotencyKey: "earn-again", MemberID: "ann", EventID: "o1", Points: 400})
		if !errors.Is(err, ledger.ErrDuplicateEvent) {
			t.Fatalf("%s: duplicate event: %v", name, err)
		}
		// A referred member cannot be referred again.
		_, err = s.Enroll(ctx, ledger.EnrollRequest{IdempotencyKey: "refer-bob-again", MemberID: "bob", ReferralCode: referralCode(t, s, "ann"),
			Referral: referralPolicy(5)})
		wantReferralRefusal(t, err, rules.CodeAlreadyReferred)
		// New writes: a redemption, an earn (a new lot), a catalog reward.
		rd := redeem(t, s, "ann", "redeem-2", 20)
		e := earn(t, s, ledger.EarnRequest{MemberID: "eve", EventID: "e2", Points: 10})
		// The rest of the bonus purchase gives back the rest of its bonus.
		if res, err := s.Reverse(ctx, ledger.ReverseRequest{IdempotencyKey: "refund-eve-eb-rest", MemberID: "eve", EventID: "eb"}); err != nil ||
			!reflect.DeepEqual(res.BonusReturned, map[string]int64{"autumn": 5}) {
			t.Fatalf("%s: refund the rest of eb: %+v %v, want the other 5 of autumn's bonus back", name, res, err)
		}
		if spend, err := s.CampaignSpend(ctx); err != nil || spend["autumn"] != 0 {
			t.Fatalf("%s: campaign spend %v %v, want nothing left of autumn", name, spend, err)
		}
		rr, err := redeemReward(s, "mug-3", "ann", "mug")
		if err != nil {
			t.Fatalf("%s: redeem a mug: %v", name, err)
		}
		if rd.EntrySeq <= last || e.EntrySeq <= rd.EntrySeq || rr.EntrySeq <= e.EntrySeq {
			t.Fatalf("%s: new entries %d, %d, %d after %d", name, rd.EntrySeq, e.EntrySeq, rr.EntrySeq, last)
		}
		// The expired lot stays expired; the pending one is released.
		if r := processDue(t, s, day(11)); r.ReleasedPoints != 70 || r.ExpiredPoints != 0 {
			t.Fatalf("%s: due at day 11: %+v", name, r)
		}
		CheckInvariants(t, s)
	}
	for _, id := range portabilityMembers {
		if a, b := member(t, src, id, t0).Balance, member(t, dst, id, t0).Balance; a != b {
			t.Errorf("%s after further writes: source %+v, imported %+v", id, a, b)
		}
	}
}

// lineDiff lists the lines only one side has.
func lineDiff(want, got []string) string {
	var b strings.Builder
	for _, l := range want {
		if !slices.Contains(got, l) {
			b.WriteString("- " + l + "\n")
		}
	}
	for _, l := range got {
		if !slices.Contains(want, l) {
			b.WriteString("+ " + l + "\n")
		}
	}
	return b.String()
}
