package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"slices"
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
	j := s.newJob(norm.MemberID, "", ledger.OpRedeemReward, req.IdempotencyKey, req.Fingerprint, norm, false, func(ctx context.Context, tx *txn) (any, error) {
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
	var tier string
	if err := tx.queryRow(ctx, `SELECT tier FROM members WHERE id = ?`, []any{&tier}, r.MemberID); err != nil {
		return ledger.RedeemRewardResult{}, fmt.Errorf("read tier: %w", err)
	}
	var count int64
	if reward.Limit != nil {
		since := rules.LimitPeriodStart(reward.Limit.Period, now)
		from := int64(0)
		if !since.IsZero() {
			from = since.UnixMicro()
		}
		err := tx.queryRow(ctx, `SELECT COUNT(*) FROM redemptions WHERE member_id = ? AND reward_id = ? AND status = 'active' AND redeemed_at >= ?`,
			[]any{&count}, r.MemberID, r.RewardID, from)
		if err != nil {
			return ledger.RedeemRewardResult{}, fmt.Errorf("count redemptions: %w", err)
		}
	}
	cost, err := rules.CheckRedemption(r.Program, r.RewardID, tier, now, count)
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
	e := entry{kind: ledger.EntryRedeem, reference: code, reason: "reward " + r.RewardID}
	var seq int64
	bal := m.bal
	if cost > 0 {
		if seq, bal, err = s.debit(ctx, tx, r.MemberID, cost, e); err != nil {
			return ledger.RedeemRewardResult{}, err
		}
	}
	return ledger.RedeemRewardResult{EntrySeq: seq, Redemption: red, Reward: *reward, Balance: bal}, nil
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

// lockRewards creates the stock rows of the batch's rewards and locks them,
// in id order, after the members (see lockCampaigns). A row it created
// that no redemption of the batch took from is removed before the commit:
// a refused redemption (an unknown member, too few points) leaves nothing
// behind, so a store that only refused requests is still empty, as an
// import requires.
func (t *txn) lockRewards(ctx context.Context, batch []*job) error {
	var ids []string
	for _, j := range batch {
		ids = append(ids, j.rewards...)
	}
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	var created []string
	for _, id := range ids {
		res, err := t.rawExec(ctx, t.d.rebind(`INSERT INTO reward_stock (reward_id, redeemed) VALUES (?, 0) ON CONFLICT DO NOTHING`), id)
		if err != nil {
			return fmt.Errorf("create stock of reward %s: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("create stock of reward %s: %w", id, err)
		} else if n > 0 {
			created = append(created, id)
		}
	}
	if len(created) > 0 {
		t.after("reward-stock", func(ctx context.Context, t *txn) error {
			return t.dropUnusedStock(ctx, created)
		})
	}
	if t.stock == nil {
		t.stock = make(map[string]int64, len(ids))
	}
	err := t.listQuery(ctx, `SELECT reward_id, redeemed FROM reward_stock WHERE reward_id IN (%s) ORDER BY reward_id`+t.d.ForUpdate,
		[][]string{ids}, func(rows *sql.Rows) error {
			var id string
			var redeemed int64
			if err := rows.Scan(&id, &redeemed); err != nil {
				return err
			}
			t.stock[id] = redeemed
			return nil
		})
	if err != nil {
		return fmt.Errorf("lock reward stock: %w", err)
	}
	return nil
}

// dropUnusedStock removes the stock rows of ids that count no redemption.
func (t *txn) dropUnusedStock(ctx context.Context, ids []string) error {
	for _, id := range ids {
		if _, err := t.rawExec(ctx, t.d.rebind(`DELETE FROM reward_stock WHERE reward_id = ? AND redeemed = 0`), id); err != nil {
			return fmt.Errorf("remove the unused stock of reward %s: %w", id, err)
		}
	}
	return nil
}

// takeStock counts one more redemption of the reward when rules.CheckStock
// allows it. The count was read under the stock row's lock (lockRewards)
// and is kept current by the batch, so two redemptions can never both take
// the last one.
func (t *txn) takeStock(ctx context.Context, r *config.Reward) error {
	redeemed, locked := t.stock[r.ID]
	if !locked {
		return fmt.Errorf("take stock of reward %s: its stock row is not locked by the batch", r.ID)
	}
	if err := rules.CheckStock(r, redeemed); err != nil {
		return err
	}
	return t.moveStock(ctx, r.ID, 1)
}

// moveStock adds n to the reward's count of active redemptions.
func (t *txn) moveStock(ctx context.Context, rewardID string, n int64) error {
	res, err := t.exec(ctx, `UPDATE reward_stock SET redeemed = redeemed + ? WHERE reward_id = ?`, n, rewardID)
	if err != nil {
		return fmt.Errorf("count redemptions of reward %s: %w", rewardID, err)
	}
	if changed, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("count redemptions of reward %s: %w", rewardID, err)
	} else if changed != 1 {
		return fmt.Errorf("count redemptions of reward %s: no stock row: ledger inconsistent", rewardID)
	}
	if redeemed, ok := t.stock[rewardID]; ok {
		t.stock[rewardID] = redeemed + n
	}
	return nil
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
	j := s.newJob(memberID, "", ledger.OpCancelRedemption, req.IdempotencyKey, req.Fingerprint, norm, false, func(ctx context.Context, tx *txn) (any, error) {
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
		out.EntrySeq, out.Balance, err = record(ctx, tx, m, entry{kind: ledger.EntryCancel, available: red.Points,
			reference: r.Code, reason: r.Reason, at: now})
		if err != nil {
			return ledger.CancelRedemptionResult{}, err
		}
	}
	return out, nil
}

const redemptionColumns = `code, member_id, reward_id, points, status, redeemed_at, cancelled_at, points_expire_at`

type rowScanner interface{ Scan(dest ...any) error }

func scanRedemption(row rowScanner) (ledger.Redemption, sql.NullInt64, error) {
	var r ledger.Redemption
	var redeemed int64
	var cancelled, expires sql.NullInt64
	if err := row.Scan(&r.Code, &r.MemberID, &r.RewardID, &r.Points, &r.Status, &redeemed, &cancelled, &expires); err != nil {
		return r, expires, err
	}
	r.RedeemedAt = time.UnixMicro(redeemed).UTC()
	if cancelled.Valid {
		r.CancelledAt = ptrTime(time.UnixMicro(cancelled.Int64).UTC())
	}
	if expires.Valid {
		r.PointsExpireAt = ptrTime(time.UnixMicro(expires.Int64).UTC())
	}
	return r, expires, nil
}

func readRedemption(ctx context.Context, tx *txn, code string) (ledger.Redemption, sql.NullInt64, error) {
	rows, err := tx.query(ctx, `SELECT `+redemptionColumns+` FROM redemptions WHERE code = ?`, code)
	if err != nil {
		return ledger.Redemption{}, sql.NullInt64{}, fmt.Errorf("read redemption: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return ledger.Redemption{}, sql.NullInt64{}, tx.fail(fmt.Errorf("read redemption: %w", err))
		}
		return ledger.Redemption{}, sql.NullInt64{}, ledger.ErrRedemptionNotFound
	}
	r, exp, err := scanRedemption(rows)
	if err != nil {
		return r, exp, tx.fail(fmt.Errorf("read redemption: %w", err))
	}
	return r, exp, nil
}

// Redemptions implements ledger.Ledger.
func (s *Store) Redemptions(ctx context.Context, memberID string) (_ []ledger.Redemption, err error) {
	ctx, end := s.beginRead(ctx, true)
	defer end(&err)
	if err := ledger.CheckMemberID(memberID); err != nil {
		return nil, err
	}
	var one int
	if err := s.queryRow(ctx, `SELECT 1 FROM members WHERE id = ?`, memberID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
		return nil, ledger.ErrMemberNotFound
	} else if err != nil {
		return nil, fmt.Errorf("read member %s: %w", memberID, err)
	}
	out := []ledger.Redemption{}
	err = s.eachRow(ctx, `SELECT `+redemptionColumns+` FROM redemptions WHERE member_id = ? ORDER BY redeemed_at DESC, code`, []any{memberID}, func(rows *sql.Rows) error {
		r, _, err := scanRedemption(rows)
		out = append(out, r)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read redemptions of %s: %w", memberID, err)
	}
	return out, nil
}
