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

// catalog is a program with an entry and a silver tier and rewards for
// each refusal: stock, per-member limit, minimum tier, a closed window.
func catalog() *config.Snapshot {
	past := config.TimeOf(t0.Add(-48 * time.Hour))
	return &config.Snapshot{
		Tiers: []config.Tier{{Name: "bronze", Rank: 0}, {Name: "silver", Rank: 1}},
		Rewards: []config.Reward{
			{ID: "coffee", Cost: 100, Limit: &config.RedemptionLimit{Count: 3, Period: config.LimitDay}},
			{ID: "free", Cost: 0},
			{ID: "lounge", Cost: 100, MinimumTier: "silver"},
			{ID: "mug", Cost: 100, Stock: ptr(int64(10))},
			{ID: "summer", Cost: 100, Availability: &config.Availability{End: &past}},
			{ID: "tv", Cost: 5000},
		},
	}
}

func redeemReward(s ledger.Ledger, key, memberID, rewardID string) (ledger.RedeemRewardResult, error) {
	return s.RedeemReward(ctx, ledger.RedeemRewardRequest{IdempotencyKey: key, MemberID: memberID, RewardID: rewardID, Program: catalog()})
}

// wantRefusal checks err is the rules' refusal code on rewardId.
func wantRefusal(t testing.TB, err error, code string) {
	t.Helper()
	var re *rules.Error
	if !errors.As(err, &re) || re.Code != code || re.Field != "rewardId" || re.Message == "" {
		t.Fatalf("error %v, want %s on rewardId", err, code)
	}
}

// testRedemptionRefusals: every refusal writes nothing; the balance and
// the stock stay.
func testRedemptionRefusals(t *testing.T, s ledger.Ledger) {
	enroll(t, s, "ann")
	earn(t, s, ledger.EarnRequest{MemberID: "ann", EventID: "o1", Points: 1000})
	for i := range 3 {
		if _, err := redeemReward(s, key("coffee", i), "ann", "coffee"); err != nil {
			t.Fatalf("coffee %d: %v", i, err)
		}
	}
	// The mug's stock is taken by other members.
	for i := range 10 {
		id := key("m", i)
		enroll(t, s, id)
		earn(t, s, ledger.EarnRequest{MemberID: id, EventID: "o1", Points: 100})
		if _, err := redeemReward(s, key("mug", i), id, "mug"); err != nil {
			t.Fatalf("mug %d: %v", i, err)
		}
	}
	tests := []struct{ reward, code string }{
		{"yacht", rules.CodeUnknownReward},
		{"lounge", rules.CodeBelowMinimumTier},
		{"summer", rules.CodeNotAvailable},
		{"coffee", rules.CodeLimitReached},
		{"mug", rules.CodeOutOfStock},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			_, err := redeemReward(s, "refused-"+tt.reward, "ann", tt.reward)
			wantRefusal(t, err, tt.code)
		})
	}
	if _, err := redeemReward(s, "refused-tv", "ann", "tv"); !errors.Is(err, ledger.ErrInsufficientPoints) {
		t.Fatalf("tv: %v, want insufficient points", err)
	}
	if _, err := redeemReward(s, "nobody", "zed", "coffee"); !errors.Is(err, ledger.ErrMemberNotFound) {
		t.Fatalf("unknown member: %v", err)
	}
	if _, err := s.RedeemReward(ctx, ledger.RedeemRewardRequest{IdempotencyKey: "k", MemberID: "ann"}); !errors.Is(err, ledger.ErrInvalidRequest) {
		t.Fatalf("no rewardId: %v", err)
	}
	wantBalance(t, s, "ann", 700, 0, 1000)
	list, err := s.Redemptions(ctx, "ann")
	if err != nil || len(list) != 3 {
		t.Fatalf("redemptions of ann: %v %+v", err, list)
	}
}

// testRedeemAndCancel: a redemption debits the cost soonest-expiring first
// and issues a unique code; a replay returns the same code; cancelling
// returns the points as a lot with the earliest expiry spent and the
// stock, once.
func testRedeemAndCancel(t *testing.T, s ledger.Ledger) {
	enroll(t, s, "ann")
	soon, later := day(10), day(20)
	earn(t, s, ledger.EarnRequest{MemberID: "ann", EventID: "late", Points: 80, ExpiresAt: later})
	earn(t, s, ledger.EarnRequest{MemberID: "ann", EventID: "soon", Points: 50, ExpiresAt: soon})
	res, err := redeemReward(s, "r1", "ann", "mug")
	if err != nil {
		t.Fatal(err)
	}
	r := res.Redemption
	if len(r.Code) != 12 || r.Points != 100 || r.Status != ledger.RedemptionActive || res.Reward.ID != "mug" ||
		res.Balance.Available != 30 || r.PointsExpireAt == nil || !r.PointsExpireAt.Equal(soon) {
		t.Fatalf("redemption %+v", res)
	}
	again, err := redeemReward(s, "r1", "ann", "mug")
	if err != nil || !again.Replayed || again.Redemption.Code != r.Code {
		t.Fatalf("replay: %v %+v", err, again)
	}
	adjust := ledger.AdjustRequest{IdempotencyKey: "a1", MemberID: "ann", Points: 100, Reason: "gift"}
	if _, err := s.Adjust(ctx, adjust); err != nil {
		t.Fatal(err)
	}
	other, err := redeemReward(s, "r2", "ann", "mug")
	if err != nil || other.Redemption.Code == r.Code {
		t.Fatalf("second redemption: %v %+v", err, other)
	}

	c, err := s.CancelRedemption(ctx, ledger.CancelRedemptionRequest{IdempotencyKey: "c1", Code: r.Code, Reason: "changed mind"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Redemption.Status != ledger.RedemptionCancelled || c.Redemption.CancelledAt == nil || c.Balance.Available != 130 {
		t.Fatalf("cancel %+v", c)
	}
	wantBalance(t, s, "ann", 130, 0, 230) // lifetime unchanged by redeem and cancel
	if _, err := s.CancelRedemption(ctx, ledger.CancelRedemptionRequest{IdempotencyKey: "c2", Code: r.Code}); !errors.Is(err, ledger.ErrRedemptionCancelled) {
		t.Fatalf("second cancel: %v", err)
	}
	if rep, err := s.CancelRedemption(ctx, ledger.CancelRedemptionRequest{IdempotencyKey: "c1", Code: r.Code, Reason: "changed mind"}); err != nil || !rep.Replayed {
		t.Fatalf("cancel replay: %v %+v", err, rep)
	}
	if _, err := s.CancelRedemption(ctx, ledger.CancelRedemptionRequest{IdempotencyKey: "c3", Code: "NOSUCHCODE00"}); !errors.Is(err, ledger.ErrRedemptionNotFound) {
		t.Fatalf("unknown code: %v", err)
	}
	// The returned points expire with the soonest lot they came from.
	if got := member(t, s, "ann", soon.Add(-ledger.ExpiringWindow)).ExpiringSoon; got != 100 {
		t.Fatalf("expiring by %v: %d, want the 100 returned", soon, got)
	}
	if r := processDue(t, s, soon); r.ExpiredPoints != 100 {
		t.Fatalf("expired at %v: %+v", soon, r)
	}
	list, err := s.Redemptions(ctx, "ann")
	if err != nil || len(list) != 2 || list[0].Status == list[1].Status {
		t.Fatalf("redemptions: %v %+v", err, list)
	}
	if _, err := s.Redemptions(ctx, "zed"); !errors.Is(err, ledger.ErrMemberNotFound) {
		t.Fatalf("unknown member: %v", err)
	}
	// The cancelled mug is back in stock: 9 more fit, then none.
	for i := range 9 {
		id := key("m", i)
		enroll(t, s, id)
		earn(t, s, ledger.EarnRequest{MemberID: id, EventID: "o1", Points: 100})
		if _, err := redeemReward(s, key("mug", i), id, "mug"); err != nil {
			t.Fatalf("mug %d: %v", i, err)
		}
	}
	enroll(t, s, "late")
	earn(t, s, ledger.EarnRequest{MemberID: "late", EventID: "o1", Points: 100})
	_, err = redeemReward(s, "mug-late", "late", "mug")
	wantRefusal(t, err, rules.CodeOutOfStock)
}

// testConcurrentStock: 64 members redeem a reward of stock 10 at once.
func testConcurrentStock(t *testing.T, s ledger.Ledger) { ConcurrentStock(t, []ledger.Ledger{s}) }

// ConcurrentStock has 64 members redeem a reward of stock 10 at once over
// the stores (sharing one database): exactly 10 succeed, the others are
// refused outOfStock and keep their points.
func ConcurrentStock(t *testing.T, stores []ledger.Ledger) {
	const workers = 64
	for i := range workers {
		id := key("m", i)
		enroll(t, stores[0], id)
		earn(t, stores[0], ledger.EarnRequest{MemberID: id, EventID: "o1", Points: 150})
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[string]bool{}
	for i := range workers {
		wg.Go(func() {
			res, err := redeemReward(stores[i%len(stores)], key("mug", i), key("m", i), "mug")
			if err != nil {
				var re *rules.Error
				if !errors.As(err, &re) || re.Code != rules.CodeOutOfStock {
					t.Errorf("redeem %d: %v", i, err)
				}
				return
			}
			mu.Lock()
			codes[res.Redemption.Code] = true
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(codes) != 10 {
		t.Fatalf("%d distinct redemptions of a stock of 10", len(codes))
	}
	var spent int64
	for i := range workers {
		v := member(t, stores[0], key("m", i), t0)
		spent += 150 - v.Available
	}
	if spent != 10*100 {
		t.Fatalf("members spent %d points, want %d", spent, 10*100)
	}
	CheckInvariants(t, stores[0])
}

// testConcurrentRewardLimit: one member redeems a reward limited to 3 a
// day 64 times at once: exactly 3 succeed.
func testConcurrentRewardLimit(t *testing.T, s ledger.Ledger) {
	enroll(t, s, "ann")
	earn(t, s, ledger.EarnRequest{MemberID: "ann", EventID: "o1", Points: 100000})
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := range 64 {
		wg.Go(func() {
			_, err := redeemReward(s, key("coffee", i), "ann", "coffee")
			if err != nil {
				var re *rules.Error
				if !errors.As(err, &re) || re.Code != rules.CodeLimitReached {
					t.Errorf("redeem %d: %v", i, err)
				}
				return
			}
			mu.Lock()
			ok++
			mu.Unlock()
		})
	}
	wg.Wait()
	if ok != 3 {
		t.Fatalf("%d redemptions succeeded, want the limit of 3", ok)
	}
	wantBalance(t, s, "ann", 100000-300, 0, 100000)
}
