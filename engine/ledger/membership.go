package ledger

import (
	"errors"
	"fmt"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
)

// OpMembership identifies membership changes for their idempotency keys.
const OpMembership Op = "membership"

// Membership errors: a change the membership's state does not allow
// (starting a second one, renewing a paused one) and a change to a member
// who never held one.
var (
	ErrMembershipState = errors.New("membership state does not allow the change")
	ErrNoMembership    = errors.New("membership not found")
)

// Membership states. Cancelling is active until the period ends.
const (
	MembershipActive     = "active"
	MembershipPaused     = "paused"
	MembershipCancelling = "cancelling"
	MembershipEnded      = "ended"
)

// Membership actions of the engine's API.
const (
	ActionStart  = "start"
	ActionRenew  = "renew"
	ActionPause  = "pause"
	ActionResume = "resume"
	ActionCancel = "cancel"
	// ActionEnd is the due work ending a membership at its period end.
	ActionEnd = "end"
)

// Membership is a member's current (or last) membership.
type Membership struct {
	Name        string    `json:"name"`
	State       string    `json:"state"`
	PeriodStart time.Time `json:"periodStart"`
	PeriodEnd   time.Time `json:"periodEnd"`
	// Streak counts the renewals in a row since the start or the last break.
	Streak int32 `json:"streak"`
	// StreakRewarded: the current streak's bonus was granted.
	StreakRewarded bool       `json:"streakRewarded"`
	PausedAt       *time.Time `json:"pausedAt,omitempty"`
}

// Active reports whether the membership gives its benefits at t.
func (m *Membership) Active(t time.Time) bool {
	return m != nil && (m.State == MembershipActive || m.State == MembershipCancelling) && t.Before(m.PeriodEnd)
}

// MembershipRequest changes a member's membership. Plan is the declared
// membership, from the configuration for a start and from the stored
// membership's name for the other actions (the service fills it in).
type MembershipRequest struct {
	IdempotencyKey   string            `json:"idempotencyKey"`
	MemberID         string            `json:"memberId"`
	Action           string            `json:"action"`
	Plan             config.Membership `json:"plan"`
	PaymentReference string            `json:"paymentReference,omitempty"`
	StartAt          time.Time         `json:"startAt,omitzero"`
	Fingerprint      string            `json:"-"`
}

// MembershipResult is the membership after the change, with the streak
// bonus the change granted (0 for none).
type MembershipResult struct {
	MemberID   string     `json:"memberId"`
	Membership Membership `json:"membership"`
	// Fee is the price charged for a start or renewal, "0" otherwise.
	Fee         string `json:"fee"`
	BonusPoints int64  `json:"bonusPoints"`
	Balance
	Replayed bool `json:"replayed"`
}

// Normalize checks the request's fields.
func (r MembershipRequest) Normalize() (MembershipRequest, error) {
	if err := firstError(CheckKey(r.IdempotencyKey), checkID("memberId", r.MemberID)); err != nil {
		return r, err
	}
	switch r.Action {
	case ActionStart, ActionRenew:
		if r.PaymentReference == "" {
			return r, fieldErr("paymentReference", "required")
		}
		if err := checkText("paymentReference", r.PaymentReference); err != nil {
			return r, err
		}
	case ActionPause, ActionResume, ActionCancel:
	default:
		return r, fieldErr("action", fmt.Sprintf("%q is not a membership action", r.Action))
	}
	if err := checkTime("startAt", r.StartAt); err != nil {
		return r, err
	}
	r.IdempotencyKey = ""
	r.StartAt = NormTime(r.StartAt)
	return r, nil
}

// Transition is the pure state machine of a membership: cur is the stored
// membership (nil for none), now the store's clock. It returns the new
// membership and the streak bonus the change earns.
func Transition(cur *Membership, r MembershipRequest, now time.Time) (Membership, int64, error) {
	if r.Action == ActionStart {
		return start(cur, r, now)
	}
	if cur == nil {
		return Membership{}, 0, fmt.Errorf("%w: the member has no membership", ErrNoMembership)
	}
	m := *cur
	refuse := func() (Membership, int64, error) {
		return m, 0, fmt.Errorf("%w: cannot %s a membership that is %s", ErrMembershipState, r.Action, m.State)
	}
	switch r.Action {
	case ActionRenew:
		if m.State != MembershipActive && m.State != MembershipCancelling {
			return refuse()
		}
		return renew(m, r.Plan)
	case ActionPause:
		if m.State != MembershipActive {
			return refuse()
		}
		// A pause breaks the streak; the rest of the period is kept for the resume.
		m.State, m.Streak, m.StreakRewarded, m.PausedAt = MembershipPaused, 0, false, &now
	case ActionResume:
		if m.State != MembershipPaused || m.PausedAt == nil {
			return refuse()
		}
		m.PeriodEnd = m.PeriodEnd.Add(now.Sub(*m.PausedAt))
		m.State, m.PausedAt = MembershipActive, nil
	case ActionCancel:
		switch m.State {
		case MembershipActive:
			m.State = MembershipCancelling
		case MembershipPaused:
			m.State, m.PeriodEnd, m.PausedAt = MembershipEnded, now, nil
		default:
			return refuse()
		}
	case ActionEnd:
		if m.State == MembershipEnded || m.State == MembershipPaused || now.Before(m.PeriodEnd) {
			return refuse()
		}
		m.State, m.Streak, m.StreakRewarded = MembershipEnded, 0, false
	}
	return m, 0, nil
}

func start(cur *Membership, r MembershipRequest, now time.Time) (Membership, int64, error) {
	if cur != nil && cur.State != MembershipEnded {
		return *cur, 0, fmt.Errorf("%w: the member already holds membership %s (%s); one at a time", ErrMembershipState, cur.Name, cur.State)
	}
	at := now
	if !r.StartAt.IsZero() {
		at = r.StartAt
	}
	end := r.Plan.PeriodEnd(at)
	switch {
	case at.After(now):
		return Membership{}, 0, fieldErr("startAt", "must not be in the future")
	case !end.After(now):
		return Membership{}, 0, fieldErr("startAt", "its billing period has ended already")
	}
	return Membership{Name: r.Plan.Name, State: MembershipActive, PeriodStart: at, PeriodEnd: end}, 0, nil
}

// renew extends the membership by one period from its end and counts the
// renewal; the bonus is granted once, by the renewal reaching the streak.
func renew(m Membership, plan config.Membership) (Membership, int64, error) {
	m.PeriodStart = m.PeriodEnd
	m.PeriodEnd = plan.PeriodEnd(m.PeriodStart)
	m.State = MembershipActive
	m.Streak++
	var bonus int64
	if s := plan.Streak; s != nil && !m.StreakRewarded && m.Streak >= s.Renewals {
		bonus, m.StreakRewarded = s.BonusPoints, true
	}
	return m, bonus, nil
}
