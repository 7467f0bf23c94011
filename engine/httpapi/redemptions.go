package httpapi

import (
	"net/http"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// RedemptionBody redeems a catalog reward.
type RedemptionBody struct {
	IdempotencyKey string `json:"idempotencyKey"`
	MemberID       string `json:"memberId"`
	RewardID       string `json:"rewardId"`
}

func (s *Server) redeemReward(r *http.Request) (int, any, error) {
	var body RedemptionBody
	raw, err := decode(r, &body)
	if err != nil {
		return 0, nil, err
	}
	req := ledger.RedeemRewardRequest{IdempotencyKey: body.IdempotencyKey, MemberID: body.MemberID, RewardID: body.RewardID}
	res, err := s.svc.RedeemReward(r.Context(), req, raw)
	if err != nil {
		return 0, nil, err
	}
	if res.Replayed {
		return http.StatusOK, res, nil
	}
	s.metrics.redeemed.Add(float64(res.Redemption.Points))
	return http.StatusCreated, res, nil
}

// CancelBody cancels the redemption named in the path.
type CancelBody struct {
	IdempotencyKey string `json:"idempotencyKey"`
	Reason         string `json:"reason,omitempty"`
}

func (s *Server) cancelRedemption(r *http.Request) (int, any, error) {
	var body CancelBody
	raw, err := decode(r, &body)
	if err != nil {
		return 0, nil, err
	}
	req := ledger.CancelRedemptionRequest{IdempotencyKey: body.IdempotencyKey, Code: r.PathValue("code"), Reason: body.Reason}
	res, err := s.svc.CancelRedemption(r.Context(), req, raw)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, res, nil
}

// MemberRedemptions lists a member's redemptions, newest first.
type MemberRedemptions struct {
	Redemptions []ledger.Redemption `json:"redemptions"`
}

func (s *Server) redemptions(r *http.Request) (int, any, error) {
	list, err := s.ledger.Redemptions(r.Context(), r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, MemberRedemptions{Redemptions: list}, nil
}
