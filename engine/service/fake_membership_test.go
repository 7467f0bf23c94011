package service

import (
	"context"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// The in-memory store's memberships: the ledger's own state machine over
// the member view's membership, the streak bonus credited as available.
func (m *memStore) ChangeMembership(_ context.Context, req ledger.MembershipRequest) (ledger.MembershipResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	norm, err := req.Normalize()
	if err != nil {
		return ledger.MembershipResult{}, err
	}
	res, replayed, _, err := write(m, ledger.OpMembership, req.IdempotencyKey, req.Fingerprint, func() (ledger.MembershipResult, error) {
		mm, err := m.member(norm.MemberID)
		if err != nil {
			return ledger.MembershipResult{}, err
		}
		next, bonus, err := ledger.Transition(mm.Membership, norm, m.now)
		if err != nil {
			return ledger.MembershipResult{}, err
		}
		mm.Membership = &next
		mm.Available += bonus
		mm.LifetimeEarned += bonus
		fee := "0"
		if norm.Action == ledger.ActionStart || norm.Action == ledger.ActionRenew {
			fee = norm.Plan.Price.String()
		}
		return ledger.MembershipResult{MemberID: norm.MemberID, Membership: next, Fee: fee, BonusPoints: bonus, Balance: mm.Balance}, nil
	})
	res.Replayed = replayed
	return res, err
}
