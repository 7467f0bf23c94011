package sqlstore

import (
	"context"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// Adjust implements ledger.Ledger.
func (s *Store) Adjust(ctx context.Context, req ledger.AdjustRequest) (ledger.AdjustResult, error) {
	norm, err := req.Normalize()
	if err != nil {
		return ledger.AdjustResult{}, err
	}
	out, replayed, err := write(ctx, s, idemOp{op: ledger.OpAdjust, memberID: norm.MemberID, key: req.IdempotencyKey,
		hash: requestHash(ledger.OpAdjust, req.Fingerprint, norm)}, func(ctx context.Context, tx *txn) (ledger.AdjustResult, error) {
		if err := norm.CheckExpiresAt(s.now()); err != nil {
			return ledger.AdjustResult{}, err
		}
		e := entry{kind: ledger.EntryAdjust, reference: norm.Reference, reason: norm.Reason}
		var (
			seq int64
			bal ledger.Balance
			err error
		)
		if norm.Points < 0 {
			seq, bal, err = s.debit(ctx, tx, norm.MemberID, -norm.Points, e)
		} else {
			seq, bal, err = s.credit(ctx, tx, norm.MemberID, norm.Points, norm.ExpiresAt, e)
		}
		if err != nil {
			return ledger.AdjustResult{}, err
		}
		return ledger.AdjustResult{EntrySeq: seq, MemberID: norm.MemberID, Points: norm.Points, Balance: bal}, nil
	})
	out.Replayed = replayed
	return out, err
}
