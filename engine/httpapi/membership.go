package httpapi

import (
	"net/http"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/service"
)

// startMembership starts a paid membership the billing system was paid for.
func (s *Server) startMembership(r *http.Request) (int, any, error) {
	id := r.PathValue("id")
	if err := ledger.CheckMemberID(id); err != nil {
		return 0, nil, err
	}
	var body service.MembershipStart
	raw, err := decode(r, &body)
	if err != nil {
		return 0, nil, err
	}
	res, err := s.svc.StartMembership(r.Context(), id, body, raw)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, res, nil
}

// changeMembership returns the handler of one membership action: renew,
// pause, resume or cancel.
func (s *Server) changeMembership(action string) func(*http.Request) (int, any, error) {
	return func(r *http.Request) (int, any, error) {
		id := r.PathValue("id")
		if err := ledger.CheckMemberID(id); err != nil {
			return 0, nil, err
		}
		var body service.MembershipChange
		raw, err := decode(r, &body)
		if err != nil {
			return 0, nil, err
		}
		res, err := s.svc.ChangeMembership(r.Context(), id, action, body, raw)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, res, nil
	}
}
