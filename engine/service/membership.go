package service

import (
	"context"
	"fmt"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// MembershipStart is the body of POST /v1/members/{id}/membership.
type MembershipStart struct {
	IdempotencyKey   string `json:"idempotencyKey"`
	Membership       string `json:"membership"`
	PaymentReference string `json:"paymentReference"`
	// StartAt backdates the start (the billing system's time of payment);
	// now when absent.
	StartAt *time.Time `json:"startAt,omitempty"`
}

// MembershipChange is the body of the renew, pause, resume and cancel
// requests; only a renewal takes a payment reference.
type MembershipChange struct {
	IdempotencyKey   string `json:"idempotencyKey"`
	PaymentReference string `json:"paymentReference,omitempty"`
}

// StartMembership starts the named membership of the program for the member.
func (s *Service) StartMembership(ctx context.Context, memberID string, b MembershipStart, body []byte) (ledger.MembershipResult, error) {
	fp := fingerprint(ledger.OpMembership, withPath("memberId", memberID, withPath("action", ledger.ActionStart, body)))
	if out, ok, err := replayed[ledger.MembershipResult](ctx, s, b.IdempotencyKey, fp); ok || err != nil {
		out.Replayed = ok
		return out, err
	}
	snap, err := s.snapshot()
	if err != nil {
		return ledger.MembershipResult{}, err
	}
	if b.Membership == "" {
		return ledger.MembershipResult{}, &ledger.FieldError{Field: "membership", Reason: "required"}
	}
	plan, ok := snap.Membership(b.Membership)
	if !ok {
		return ledger.MembershipResult{}, &ledger.FieldError{Field: "membership", Reason: fmt.Sprintf("%q is not a membership of the program", b.Membership)}
	}
	req := ledger.MembershipRequest{IdempotencyKey: b.IdempotencyKey, MemberID: memberID, Action: ledger.ActionStart,
		Plan: plan, PaymentReference: b.PaymentReference, Fingerprint: fp}
	if b.StartAt != nil {
		req.StartAt = *b.StartAt
	}
	return s.store.ChangeMembership(ctx, req)
}

// ChangeMembership renews, pauses, resumes or cancels the member's
// membership. A renewal is priced with the membership as the program
// declares it now.
func (s *Service) ChangeMembership(ctx context.Context, memberID, action string, b MembershipChange, body []byte) (ledger.MembershipResult, error) {
	fp := fingerprint(ledger.OpMembership, withPath("memberId", memberID, withPath("action", action, body)))
	if out, ok, err := replayed[ledger.MembershipResult](ctx, s, b.IdempotencyKey, fp); ok || err != nil {
		out.Replayed = ok
		return out, err
	}
	req := ledger.MembershipRequest{IdempotencyKey: b.IdempotencyKey, MemberID: memberID, Action: action,
		PaymentReference: b.PaymentReference, Fingerprint: fp}
	if action == ledger.ActionRenew {
		// Bad input is refused before the member is looked up.
		if _, err := req.Normalize(); err != nil {
			return ledger.MembershipResult{}, err
		}
		snap, err := s.snapshot()
		if err != nil {
			return ledger.MembershipResult{}, err
		}
		v, err := s.store.Member(ctx, memberID, time.Time{})
		if err != nil {
			return ledger.MembershipResult{}, err
		}
		if v.Membership == nil {
			return ledger.MembershipResult{}, fmt.Errorf("%w: member %s has no membership", ledger.ErrNoMembership, memberID)
		}
		plan, ok := snap.Membership(v.Membership.Name)
		if !ok {
			return ledger.MembershipResult{}, fmt.Errorf("%w: membership %s is no longer offered by the program", ledger.ErrMembershipState, v.Membership.Name)
		}
		req.Plan = plan
	}
	return s.store.ChangeMembership(ctx, req)
}
