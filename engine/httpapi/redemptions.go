package httpapi

import (
	"encoding/json"
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
	req := ledger.RedeemRewardRequest{IdempotencyKey: body.IdempotencyKey, MemberID: body.MemberID, RewardID: body.RewardID,
		Fingerprint: fingerprint(ledger.OpRedeemReward, raw)}
	// A retry gets its code back even if the catalog changed since.
	if res, ok, err := replayed[ledger.RedeemRewardResult](s, r, req.IdempotencyKey, req.Fingerprint); err != nil || ok {
		res.Replayed = true
		return http.StatusOK, res, err
	}
	if req.Program, err = s.snapshot(); err != nil {
		return 0, nil, err
	}
	res, err := s.ledger.RedeemReward(r.Context(), req)
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
	code := r.PathValue("code")
	// The code is part of the request: the body alone is the same for every redemption.
	req := ledger.CancelRedemptionRequest{IdempotencyKey: body.IdempotencyKey, Code: code, Reason: body.Reason,
		Fingerprint: fingerprint(ledger.OpCancelRedemption, withPath("code", code, raw))}
	if res, ok, err := replayed[ledger.CancelRedemptionResult](s, r, req.IdempotencyKey, req.Fingerprint); err != nil || ok {
		res.Replayed = true
		return http.StatusOK, res, err
	}
	res, err := s.ledger.CancelRedemption(r.Context(), req)
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

// withPath is the body with a path parameter, as one JSON object to fingerprint.
func withPath(name, value string, raw []byte) []byte {
	b, err := json.Marshal(map[string]any{name: value, "body": json.RawMessage(raw)})
	if err != nil {
		return raw // the body was decoded strictly already, so it marshals
	}
	return b
}
