package httpapi

import (
	"net/http"

	"github.com/loyaltyops/loyalty-operator/engine/auth"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/service"
)

// patchMember changes a member's tags and profile; the API key's id is
// recorded as who made the change.
func (s *Server) patchMember(r *http.Request) (int, any, error) {
	id := r.PathValue("id")
	if err := ledger.CheckMemberID(id); err != nil {
		return 0, nil, err
	}
	var p service.MemberPatch
	raw, err := decode(r, &p)
	if err != nil {
		return 0, nil, err
	}
	res, err := s.svc.PatchMember(r.Context(), id, auth.KeyID(r), p, raw)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, res, nil
}

// EraseBody is the body of POST /v1/members/{id}/erase.
type EraseBody struct {
	IdempotencyKey string `json:"idempotencyKey"`
}

// eraseMember erases a member's personal data.
func (s *Server) eraseMember(r *http.Request) (int, any, error) {
	id := r.PathValue("id")
	if err := ledger.CheckMemberID(id); err != nil {
		return 0, nil, err
	}
	var body EraseBody
	raw, err := decode(r, &body)
	if err != nil {
		return 0, nil, err
	}
	res, err := s.svc.EraseMember(r.Context(), id, auth.KeyID(r), body.IdempotencyKey, raw)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, res, nil
}

// ProfileHistory is the body of GET /v1/members/{id}/profile-history.
type ProfileHistory struct {
	MemberID string                 `json:"memberId"`
	Changes  []ledger.ProfileChange `json:"changes"`
}

func (s *Server) profileHistory(r *http.Request) (int, any, error) {
	id := r.PathValue("id")
	changes, err := s.ledger.ProfileHistory(r.Context(), id)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, ProfileHistory{MemberID: id, Changes: changes}, nil
}
