package service

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

// Each write takes the request and the body it was decoded from, which
// identifies it for its idempotency key (see fingerprint).

// Enroll enrolls a member. A referral code is checked against the
// program's referral policy; a known key is answered first, so that a
// retry is not refused after the policy changed.
func (s *Service) Enroll(ctx context.Context, req ledger.EnrollRequest, body []byte) (ledger.EnrollResult, error) {
	req.Fingerprint = fingerprint(ledger.OpEnroll, body)
	if res, ok, err := replayed[ledger.EnrollResult](ctx, s, req.IdempotencyKey, req.Fingerprint); err != nil || ok {
		res.Replayed = ok
		return res, err
	}
	if req.ReferralCode != "" {
		snap, err := s.snapshot()
		if err != nil {
			return ledger.EnrollResult{}, err
		}
		req.Referral = snap.Referral
	}
	return s.store.Enroll(ctx, req)
}

// Redeem debits points. Nothing in it depends on the configuration or the
// clock, so a known key is left to the store, which replays it in the
// write itself: a lookup first would cost every redemption a read.
func (s *Service) Redeem(ctx context.Context, req ledger.RedeemRequest, body []byte) (ledger.RedeemResult, error) {
	req.Fingerprint = fingerprint(ledger.OpRedeem, body)
	return s.store.Redeem(ctx, req)
}

// RedeemReward redeems a catalog reward of the configuration in effect. A
// retry gets its code back even if the catalog changed since.
func (s *Service) RedeemReward(ctx context.Context, req ledger.RedeemRewardRequest, body []byte) (ledger.RedeemRewardResult, error) {
	req.Fingerprint = fingerprint(ledger.OpRedeemReward, body)
	if res, ok, err := replayed[ledger.RedeemRewardResult](ctx, s, req.IdempotencyKey, req.Fingerprint); err != nil || ok {
		res.Replayed = ok
		return res, err
	}
	var err error
	if req.Program, err = s.snapshot(); err != nil {
		return ledger.RedeemRewardResult{}, err
	}
	return s.store.RedeemReward(ctx, req)
}

// CancelRedemption cancels the redemption req.Code. The code is part of
// the request's identity: the body alone is the same for every redemption.
func (s *Service) CancelRedemption(ctx context.Context, req ledger.CancelRedemptionRequest, body []byte) (ledger.CancelRedemptionResult, error) {
	req.Fingerprint = fingerprint(ledger.OpCancelRedemption, withPath("code", req.Code, body))
	if res, ok, err := replayed[ledger.CancelRedemptionResult](ctx, s, req.IdempotencyKey, req.Fingerprint); err != nil || ok {
		res.Replayed = ok
		return res, err
	}
	return s.store.CancelRedemption(ctx, req)
}

// Reversal claws back points of an earlier earn: Points, or the points of
// a refunded part of the purchase (RefundAmount, a decimal string in the
// program's currency), or with neither everything not yet reversed.
type Reversal struct {
	IdempotencyKey string
	MemberID       string
	EventID        string
	Points         int64
	RefundAmount   string
	Reference      string
	Reason         string
}

// Reverse applies a reversal. A known key is looked up before the refund
// amount is converted with the configuration's currency.
func (s *Service) Reverse(ctx context.Context, rv Reversal, body []byte) (ledger.ReverseResult, error) {
	req := ledger.ReverseRequest{IdempotencyKey: rv.IdempotencyKey, MemberID: rv.MemberID, EventID: rv.EventID,
		Points: rv.Points, Reference: rv.Reference, Reason: rv.Reason, Fingerprint: fingerprint(ledger.OpReverse, body)}
	if res, ok, err := replayed[ledger.ReverseResult](ctx, s, req.IdempotencyKey, req.Fingerprint); err != nil || ok {
		res.Replayed = ok
		return res, err
	}
	if rv.RefundAmount != "" {
		snap, err := s.snapshot()
		if err != nil {
			return ledger.ReverseResult{}, err
		}
		if req.RefundAmount, err = refundMinor(rv.RefundAmount, snap.Program.Currency); err != nil {
			return ledger.ReverseResult{}, err
		}
	}
	return s.store.Reverse(ctx, req)
}

// refundMinor converts a refund amount to minor units of currency.
func refundMinor(amount, currency string) (int64, error) {
	d, err := config.ParseDecimal(amount)
	if err != nil {
		return 0, &ledger.FieldError{Field: "refundAmount", Reason: strings.TrimPrefix(err.Error(), fmt.Sprintf("invalid decimal %q: ", amount))}
	}
	minor, err := rules.ToMinor(d, currency)
	if err != nil {
		return 0, &ledger.FieldError{Field: "refundAmount", Reason: err.Error()}
	}
	if minor == 0 {
		return 0, &ledger.FieldError{Field: "refundAmount", Reason: "must be positive"}
	}
	return minor, nil
}

// Adjust applies an admin correction. A known key is answered first, so
// that a retry is not refused by the clock (a credit's expiresAt now past).
func (s *Service) Adjust(ctx context.Context, req ledger.AdjustRequest, body []byte) (ledger.AdjustResult, error) {
	req.Fingerprint = fingerprint(ledger.OpAdjust, body)
	if res, ok, err := replayed[ledger.AdjustResult](ctx, s, req.IdempotencyKey, req.Fingerprint); err != nil || ok {
		res.Replayed = ok
		return res, err
	}
	return s.store.Adjust(ctx, req)
}

// Export writes the ledger to w as the export stream, naming the program
// in effect (none before a configuration is loaded).
func (s *Service) Export(ctx context.Context, w io.Writer) (ledger.ExportSummary, error) {
	var program string
	if snap := s.config.Current(); snap != nil {
		program = snap.Program.Namespace + "/" + snap.Program.Name
	}
	return s.store.Export(ctx, w, ledger.ExportOptions{ProgramID: program})
}

// Import loads an export stream into an empty store; the same stream
// again replays the original result.
func (s *Service) Import(ctx context.Context, r io.Reader) (ledger.ImportResult, error) {
	return s.store.Import(ctx, r)
}
