package httpapi

import (
	"net/http"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
	"github.com/loyaltyops/loyalty-operator/engine/schedule"
)

// CampaignView is a campaign of the configuration in effect with its phase
// at now and the bonus it has granted.
type CampaignView struct {
	Name        string `json:"name"`
	DisplayName string `json:"displayName,omitempty"`
	// Phase is Scheduled, Active, Paused or Completed (engine/schedule).
	Phase string `json:"phase"`
	// Window is the window containing now; NextTransition is when the
	// phase changes next (the window's end, or the next window's start).
	Window         *WindowView `json:"window,omitempty"`
	NextTransition *time.Time  `json:"nextTransition,omitempty"`
	Stacking       string      `json:"stacking"`
	Priority       int32       `json:"priority"`
	// Budget is the totalBonusBudget, absent for an unlimited campaign;
	// Remaining is Budget − Granted, never below zero.
	Budget       *int64 `json:"budget,omitempty"`
	PerMemberCap *int64 `json:"perMemberCap,omitempty"`
	Granted      int64  `json:"granted"`
	Remaining    *int64 `json:"remaining,omitempty"`
}

// WindowView is a campaign window [start, end).
type WindowView struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// CampaignList is every campaign of the configuration in effect.
type CampaignList struct {
	Campaigns []CampaignView `json:"campaigns"`
}

func (s *Server) campaignViews(r *http.Request) ([]CampaignView, error) {
	snap := s.config.Current()
	if snap == nil {
		return nil, unavailable("no configuration loaded yet", nil)
	}
	spend, err := s.ledger.CampaignSpend(r.Context())
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := make([]CampaignView, 0, len(snap.Campaigns))
	for _, c := range snap.Campaigns {
		sch, err := snap.Schedule(c.Schedule)
		if err != nil {
			// Parse validated the snapshot's schedules.
			return nil, &rules.Error{Code: rules.CodeInvalidSnapshot, Field: "campaigns[" + c.Name + "].schedule", Message: err.Error()}
		}
		v := CampaignView{Name: c.Name, DisplayName: c.DisplayName, Stacking: c.Stacking, Priority: c.Priority, Granted: spend[c.Name]}
		if v.Stacking == "" {
			v.Stacking = config.StackingStack
		}
		var w *schedule.Window
		v.Phase, w, v.NextTransition = sch.Phase(now, c.Paused)
		if w != nil {
			v.Window = &WindowView{Start: w.Start, End: w.End}
		}
		if l := c.Limits; l != nil {
			v.Budget, v.PerMemberCap = l.TotalBonusBudget, l.PerMemberCap
			if l.TotalBonusBudget != nil {
				left := rules.BudgetLeft(*l.TotalBonusBudget, v.Granted)
				v.Remaining = &left
			}
		}
		out = append(out, v)
	}
	return out, nil
}

func (s *Server) campaigns(r *http.Request) (int, any, error) {
	views, err := s.campaignViews(r)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, CampaignList{Campaigns: views}, nil
}

func (s *Server) campaign(r *http.Request) (int, any, error) {
	views, err := s.campaignViews(r)
	if err != nil {
		return 0, nil, err
	}
	name := r.PathValue("name")
	for _, v := range views {
		if v.Name == name {
			return http.StatusOK, v, nil
		}
	}
	return 0, nil, newProblem(http.StatusNotFound, "campaign_not_found", "Campaign not found", "the configuration in effect has no campaign "+name)
}

// MemberResponse is a member with their balance and tier.
type MemberResponse struct {
	ledger.MemberView
	// TierStatus is set when the program has tiers.
	TierStatus *TierStatus `json:"tierStatus,omitempty"`
}

// TierStatus is the member's tier and what is missing for the next one.
type TierStatus struct {
	// Current is the member's tier (the entry tier before any change).
	Current string `json:"current"`
	// Qualified names the tiers the member's activity qualifies for now.
	Qualified []string `json:"qualified"`
	// Pending is the tier the member is due to move to when an evaluation
	// has not applied it yet: an upgrade is applied after each earn, a
	// downgrade (after the grace period) by the due job.
	Pending string `json:"pending,omitempty"`
	// Next is the tier above Current (above Pending when set) and what the
	// member lacks for it; absent at the top.
	Next *rules.NextTier `json:"next,omitempty"`
	// GraceUntil: the member no longer qualifies for Current and keeps it
	// until then; the due job downgrades after it.
	GraceUntil *time.Time `json:"graceUntil,omitempty"`
}

func (s *Server) member(r *http.Request) (int, any, error) {
	id := r.PathValue("id")
	if err := ledger.CheckMemberID(id); err != nil {
		return 0, nil, err
	}
	now := s.now()
	v, err := s.ledger.Member(r.Context(), id, now)
	if err != nil {
		return 0, nil, err
	}
	out := MemberResponse{MemberView: v}
	snap := s.config.Current()
	if snap == nil || len(snap.Tiers) == 0 {
		return http.StatusOK, out, nil
	}
	st, err := s.ledger.TierStatus(r.Context(), id, snap.Tiers, now)
	if err != nil {
		return 0, nil, err
	}
	d := rules.EvaluateTier(snap, st.Input, now)
	out.TierStatus = &TierStatus{Current: d.Previous, Qualified: d.Qualified, Next: d.Next, GraceUntil: d.GraceUntil}
	if d.Change != rules.TierUnchanged {
		out.TierStatus.Pending = d.Tier
	}
	return http.StatusOK, out, nil
}
