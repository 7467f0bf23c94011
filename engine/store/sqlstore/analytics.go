package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

// aggregatesQuery reads every aggregate in one statement: a row of the
// scalar aggregates joined to the net spend per currency (one row without
// currency when there is no purchase). Parameters: to, from, to (active),
// from, to (issued), from, to (redeemed), from, to (expired), from, to
// (made), from, to (converted), from, to (referrers), from, to (repeat),
// from, to (cost), to, to (spend).
const aggregatesQuery = `
	SELECT a.members, a.active, a.issued, a.redeemed, a.expired, a.made, a.converted, a.referrers, a.repeaters, a.cost,
		a.available, a.pending, s.currency, s.spend
	FROM (SELECT
		(SELECT COUNT(*) FROM members WHERE enrolled_at < ?) members,
		(SELECT COUNT(DISTINCT member_id) FROM entries WHERE kind IN ('earn', 'redeem', 'adjust') AND at >= ? AND at < ?) active,
		(SELECT CAST(COALESCE(SUM(available + pending), 0) AS BIGINT) FROM entries
			WHERE (kind = 'earn' OR (kind = 'adjust' AND available > 0)) AND at >= ? AND at < ?) issued,
		(SELECT CAST(COALESCE(SUM(-available), 0) AS BIGINT) FROM entries WHERE kind IN ('redeem', 'cancel') AND at >= ? AND at < ?) redeemed,
		(SELECT CAST(COALESCE(SUM(-(available + pending)), 0) AS BIGINT) FROM entries WHERE kind = 'expire' AND at >= ? AND at < ?) expired,
		(SELECT COUNT(*) FROM referrals WHERE created_at >= ? AND created_at < ?) made,
		(SELECT COUNT(*) FROM referrals WHERE converted_at >= ? AND converted_at < ? AND NOT clawed_back) converted,
		(SELECT COUNT(*) FROM (SELECT referrer_id FROM referrals WHERE converted_at >= ? AND converted_at < ? AND NOT clawed_back
			GROUP BY referrer_id) r) referrers,
		(SELECT COUNT(*) FROM (SELECT referrer_id FROM referrals WHERE converted_at >= ? AND converted_at < ? AND NOT clawed_back
			GROUP BY referrer_id HAVING COUNT(*) >= 2) r) repeaters,
		(SELECT CAST(COALESCE(SUM(referrer_reward + referee_reward), 0) AS BIGINT) FROM referrals
			WHERE converted_at >= ? AND converted_at < ? AND NOT clawed_back) cost,
		(SELECT CAST(COALESCE(SUM(available), 0) AS BIGINT) FROM members) available,
		(SELECT CAST(COALESCE(SUM(pending), 0) AS BIGINT) FROM members) pending
	) a
	LEFT JOIN (SELECT e.currency, CAST(SUM(e.purchase_amount - e.refunded) AS BIGINT) spend
		FROM events e JOIN members m ON m.id = e.member_id
		WHERE m.enrolled_at < ? AND e.occurred_at < ? AND e.purchase_amount > 0
		GROUP BY e.currency) s ON 1 = 1`

// Aggregates implements ledger.Ledger.
func (s *Store) Aggregates(ctx context.Context, from, to time.Time) (_ rules.Aggregates, err error) {
	ctx, end := s.beginRead(ctx, true)
	defer end(&err)
	var a rules.Aggregates
	if !from.Before(to) {
		return a, &ledger.FieldError{Field: "from", Reason: "must be before to"}
	}
	f, t := from.UnixMicro(), to.UnixMicro()
	args := []any{t}
	for range 9 {
		args = append(args, f, t)
	}
	args = append(args, t, t)
	rows, err := s.cfg.ReadDB.QueryContext(ctx, s.cfg.Dialect.rebind(aggregatesQuery), args...)
	if err != nil {
		return a, fmt.Errorf("read aggregates: %w", err)
	}
	defer rows.Close()
	var spend int64 // in config.Decimal units
	for rows.Next() {
		var currency sql.NullString
		var minor sql.NullInt64
		if err := rows.Scan(&a.Members, &a.ActiveMembers, &a.PointsIssued, &a.PointsRedeemed, &a.PointsExpired,
			&a.ReferralsMade, &a.ReferralsConverted, &a.Referrers, &a.RepeatReferrers, &a.ReferralRewardsCost,
			&a.OutstandingAvailable, &a.OutstandingPending, &currency, &minor); err != nil {
			return a, fmt.Errorf("read aggregates: %w", err)
		}
		if minor.Valid {
			units := minor.Int64
			for range 4 - rules.MinorUnits(currency.String) {
				units *= 10
			}
			spend += units
		}
	}
	if err := rows.Err(); err != nil {
		return a, fmt.Errorf("read aggregates: %w", err)
	}
	a.SpendSinceEnrollment = config.DecimalFromUnits(spend)
	if a.Memberships, err = s.membershipAggregates(ctx, f, t); err != nil {
		return a, err
	}
	return a, nil
}
