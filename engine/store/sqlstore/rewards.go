package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

// RedeemReward implements ledger.Ledger.
func (s *Store) RedeemReward(ctx context.Context, req ledger.RedeemRewardRequest) (ledger.RedeemRewardResult, error) {
	norm, err := req.Normalize()
	if err != nil {
		return ledger.RedeemRewardResult{}, err
	}
	j := s.newJob(idemOp{op: ledger.OpRedeemReward, memberID: norm.MemberID, key: req.IdempotencyKey,
		hash: requestHash(ledger.OpRedeemReward, req.Fingerprint, norm)}, func(ctx context.Context, tx *txn) (any, error) {
		r, err := s.applyRedeemReward(ctx, tx, norm)
		if err != nil {
			return nil, err
		}
		return r, nil
	})
	// The stock row is locked with the batch's others, in id order, after
	// the members: concurrent batches never wait for each other in a cycle.
	j.rewards = []string{norm.RewardID}
	if err := s.submit(ctx, j); err != nil {
		return ledger.RedeemRewardResult{}, err
	}
	out, replayed, err := decode[ledger.RedeemRewardResult](wait(ctx, j), ledger.OpRedeemReward, norm.MemberID)
	out.Replayed = replayed
	return out, err
}

// rewardRefusal names the request's rewardId in a refusal of the rules,
// keeping its code and message: the client chose the reward, not the field
// of the configuration that refused it.
func rewardRefusal(err error) error {
	var re *rules.Error
	if errors.As(err, &re) {
		return &rules.Error{Code: re.Code, Field: "rewardId", Message: re.Message}
	}
	return err
}

func (s *Store) applyRedeemReward(ctx context.Context, tx *txn, r ledger.RedeemRewardRequest) (ledger.RedeemRewardResult, error) {
	m, err := lockMember(ctx, tx, r.MemberID)
	if err != nil {
		return ledger.RedeemRewardResult{}, err
	}
	now := s.now()
	reward := findReward(r.Program, r.RewardID)
	if reward == nil {
		_, err := rules.CheckRedemption(r.Program, r.RewardID, "", now, 0)
		return ledger.RedeemRewardResult{}, rewardRefusal(err)
	}
	// The tier and the period's count are read under the member's lock, so
	// concurrent redemptions of one member cannot both take the last one.
	mc, err := tx.redeemingMember(ctx, r.MemberID)
	if err != nil {
		return ledger.RedeemRewardResult{}, err
	}
	if err := rules.CheckEligibility(r.Program, r.RewardID, mc, now); err != nil {
		return ledger.RedeemRewardResult{}, rewardRefusal(err)
	}
	count, err := redemptionsInPeriod(ctx, tx, r.MemberID, reward, now, r.Program.Location())
	if err != nil {
		return ledger.RedeemRewardResult{}, err
	}
	cost, err := rules.CheckRedemption(r.Program, r.RewardID, rules.EffectiveTier(r.Program, mc, now), now, count)
	if err != nil {
		return ledger.RedeemRewardResult{}, rewardRefusal(err)
	}
	if m.bal.Available < cost {
		return ledger.RedeemRewardResult{}, &ledger.InsufficientPointsError{Needed: cost, Available: m.bal.Available}
	}
	// Last of the checks, and the first write: a redemption refused here has
	// written nothing, so the batch goes on without a rollback.
	if err := tx.takeStock(ctx, reward); err != nil {
		return ledger.RedeemRewardResult{}, err
	}
	// The soonest-expiring available lot is the first the debit takes: its
	// expiry is the earliest of the points spent.
	var expires sql.NullInt64
	if cost > 0 {
		err = tx.queryRow(ctx, `SELECT expires_at FROM lots WHERE member_id = ? AND state = 'available' AND remaining > 0
			ORDER BY (expires_at IS NULL), expires_at, id LIMIT 1`, []any{&expires}, r.MemberID)
		if err != nil {
			return ledger.RedeemRewardResult{}, fmt.Errorf("read lot expiry: %w", err)
		}
	}
	code := newRedemptionCode()
	if _, err := tx.exec(ctx, `INSERT INTO redemptions (code, member_id, reward_id, points, status, redeemed_at, points_expire_at)
		VALUES (?, ?, ?, ?, 'active', ?, ?)`, code, r.MemberID, r.RewardID, cost, now.UnixMicro(), expires); err != nil {
		return ledger.RedeemRewardResult{}, fmt.Errorf("insert redemption: %w", err)
	}
	red := ledger.Redemption{Code: code, MemberID: r.MemberID, RewardID: r.RewardID, Points: cost, Status: ledger.RedemptionActive, RedeemedAt: now}
	if expires.Valid {
		red.PointsExpireAt = ptrTime(time.UnixMicro(expires.Int64).UTC())
	}
	e := entry{kind: ledger.EntryRedeem, reference: code, reason: "reward " + r.RewardID, quiet: true}
	var seq int64
	bal := m.bal
	if cost > 0 {
		if seq, bal, err = s.debit(ctx, tx, r.MemberID, cost, e); err != nil {
			return ledger.RedeemRewardResult{}, err
		}
	}
	if err := tx.emit(ledger.EventRewardRedeemed, r.MemberID, now, rewardData{EntrySeq: seq, Code: code, RewardID: r.RewardID,
		Points: cost, Balance: balanceData{Available: bal.Available, Pending: bal.Pending}}); err != nil {
		return ledger.RedeemRewardResult{}, err
	}
	return ledger.RedeemRewardResult{EntrySeq: seq, Redemption: red, Reward: *reward, Balance: bal}, nil
}

// redemptionsInPeriod counts the member's active redemptions of the reward
// in its limit's current period in the program's time zone loc
// (rules.LimitPeriodStart); 0 without a limit.
func redemptionsInPeriod(ctx context.Context, tx *txn, memberID string, reward *config.Reward, now time.Time, loc *time.Location) (int64, error) {
	if reward.Limit == nil {
		return 0, nil
	}
	from := int64(0)
	if since := rules.LimitPeriodStart(reward.Limit.Period, now, loc); !since.IsZero() {
		from = since.UnixMicro()
	}
	var count int64
	err := tx.queryRow(ctx, `SELECT COUNT(*) FROM redemptions WHERE member_id = ? AND reward_id = ? AND status = 'active' AND redeemed_at >= ?`,
		[]any{&count}, memberID, reward.ID, from)
	if err != nil {
		return 0, fmt.Errorf("count redemptions: %w", err)
	}
	return count, nil
}

func findReward(s *config.Snapshot, id string) *config.Reward {
	for i := range s.Rewards {
		if s.Rewards[i].ID == id {
			return &s.Rewards[i]
		}
	}
	return nil
}

func ptrTime(t time.Time) *time.Time { return &t }

// newRedemptionCode is 12 random base32 characters (60 bits). The primary
// key refuses a collision, which fails that redemption's transaction rather
// than issue a code twice.
func newRedemptionCode() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	var b [12]byte
	rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[b[i]&31]
	}
	return string(b[:])
}

// CancelRedemption implements ledger.Ledger. The redemption's member is
// looked up first, to route the job to the member's writer; the redemption
// is read again under the member's lock, which serialises its changes.
func (s *Store) CancelRedemption(ctx context.Context, req ledger.CancelRedemptionRequest) (ledger.CancelRedemptionResult, error) {
	norm, err := req.Normalize()
	if err != nil {
		return ledger.CancelRedemptionResult{}, err
	}
	var memberID, rewardID string
	if err := s.queryRow(ctx, `SELECT member_id, reward_id FROM redemptions WHERE code = ?`, norm.Code).Scan(&memberID, &rewardID); errors.Is(err, sql.ErrNoRows) {
		return ledger.CancelRedemptionResult{}, ledger.ErrRedemptionNotFound
	} else if err != nil {
		return ledger.CancelRedemptionResult{}, fmt.Errorf("%w: read redemption: %v", ledger.ErrStoreUnavailable, err)
	}
	j := s.newJob(idemOp{op: ledger.OpCancelRedemption, memberID: memberID, key: req.IdempotencyKey,
		hash: requestHash(ledger.OpCancelRedemption, req.Fingerprint, norm)}, func(ctx context.Context, tx *txn) (any, error) {
		r, err := s.applyCancel(ctx, tx, memberID, norm)
		if err != nil {
			return nil, err
		}
		return r, nil
	})
	j.rewards = []string{rewardID}
	if err := s.submit(ctx, j); err != nil {
		return ledger.CancelRedemptionResult{}, err
	}
	out, replayed, err := decode[ledger.CancelRedemptionResult](wait(ctx, j), ledger.OpCancelRedemption, memberID)
	out.Replayed = replayed
	return out, err
}

func (s *Store) applyCancel(ctx context.Context, tx *txn, memberID string, r ledger.CancelRedemptionRequest) (ledger.CancelRedemptionResult, error) {
	m, err := lockMember(ctx, tx, memberID)
	if err != nil {
		return ledger.CancelRedemptionResult{}, err
	}
	red, expires, err := readRedemption(ctx, tx, r.Code)
	if err != nil {
		return ledger.CancelRedemptionResult{}, err
	}
	if red.Status == ledger.RedemptionCancelled {
		return ledger.CancelRedemptionResult{}, ledger.ErrRedemptionCancelled
	}
	now := s.now()
	if _, err := tx.exec(ctx, `UPDATE redemptions SET status = 'cancelled', cancelled_at = ? WHERE code = ?`, now.UnixMicro(), r.Code); err != nil {
		return ledger.CancelRedemptionResult{}, fmt.Errorf("cancel redemption: %w", err)
	}
	if err := tx.moveStock(ctx, red.RewardID, -1); err != nil {
		return ledger.CancelRedemptionResult{}, err
	}
	red.Status, red.CancelledAt = ledger.RedemptionCancelled, &now
	out := ledger.CancelRedemptionResult{Redemption: red, Balance: m.bal}
	if red.Points > 0 {
		var exp time.Time
		if expires.Valid {
			exp = time.UnixMicro(expires.Int64).UTC()
		}
		// Available at once; LifetimeEarned is untouched, as the redemption left it.
		insertLot(tx, memberID, "", red.Points, lotAvailable, now, exp)
		out.EntrySeq, out.Balance, err = changeBalance(ctx, tx, m, entry{kind: ledger.EntryCancel, available: red.Points,
			reference: r.Code, reason: r.Reason, at: now})
		if err != nil {
			return ledger.CancelRedemptionResult{}, err
		}
	}
	if err := tx.emit(ledger.EventRewardCancelled, memberID, now, rewardData{EntrySeq: out.EntrySeq, Code: r.Code, RewardID: red.RewardID,
		Points: red.Points, Reason: r.Reason, Balance: balanceData{Available: out.Balance.Available, Pending: out.Balance.Pending}}); err != nil {
		return ledger.CancelRedemptionResult{}, err
	}
	return out, nil
}
