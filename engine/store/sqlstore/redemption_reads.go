package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

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
