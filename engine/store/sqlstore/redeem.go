package sqlstore

import (
	"context"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// Redeem implements ledger.Ledger.
func (s *Store) Redeem(ctx context.Context, req ledger.RedeemRequest) (ledger.RedeemResult, error) {
	j, err := s.redeemJob(req)
	if err != nil {
		return ledger.RedeemResult{}, err
	}
	if err := s.submit(ctx, j); err != nil {
		return ledger.RedeemResult{}, err
	}
	out, replayed, err := decode[ledger.RedeemResult](wait(ctx, j), ledger.OpRedeem, j.memberID)
	out.Replayed = replayed
	return out, err
}

func (s *Store) redeemJob(req ledger.RedeemRequest) (*job, error) {
	norm, err := req.Normalize()
	if err != nil {
		return nil, err
	}
	return s.newJob(idemOp{op: ledger.OpRedeem, memberID: norm.MemberID, key: req.IdempotencyKey,
		hash: requestHash(ledger.OpRedeem, req.Fingerprint, norm)}, func(ctx context.Context, tx *txn) (any, error) {
		seq, bal, err := s.debit(ctx, tx, norm.MemberID, norm.Points, entry{kind: ledger.EntryRedeem, reference: norm.Reference, reason: norm.Reason})
		if err != nil {
			return nil, err
		}
		return ledger.RedeemResult{EntrySeq: seq, MemberID: norm.MemberID, Points: norm.Points, Balance: bal}, nil
	}), nil
}
