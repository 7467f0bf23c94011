package ledger

import (
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
)

// ReasonBirthday is the reason of the earn entry a birthday grant records,
// and of its points.earned event.
const ReasonBirthday = "birthday"

// BirthdayRule is the program's birthday reward as the store applies it:
// Points once per birthday year, when the store's now is in the member's
// rules.BirthdayWindow of that year in Location.
type BirthdayRule struct {
	Points int64
	// Window is config.LimitDay, LimitWeek or LimitMonth.
	Window string
	// Location is the program's time zone; nil is UTC.
	Location *time.Location
	// ExpireAfter, when positive, expires the granted lot this long after
	// the grant, as points.expiry.afterEarn does earned points.
	ExpireAfter time.Duration
}

// BirthdayRequest grants one member's birthday points if due.
type BirthdayRequest struct {
	MemberID string
	Rule     BirthdayRule
	// Now is the time the window is judged at; the store's clock when zero.
	Now time.Time
}

// BirthdayResult says whether a birthday grant was recorded.
type BirthdayResult struct {
	MemberID string `json:"memberId"`
	// Granted is false when the member has no birth date, now is outside
	// the window, or the year was already granted.
	Granted  bool    `json:"granted"`
	Year     int     `json:"year,omitempty"`
	Points   int64   `json:"points,omitempty"`
	EntrySeq int64   `json:"entrySeq,omitempty"`
	Balance  Balance `json:"balance"`
}

// BirthdaysRequest grants the birthday points of every member whose window
// contains Now and who has not had them for that year.
type BirthdaysRequest struct {
	Rule BirthdayRule
	// Now is the time the windows are judged at; the store's clock when zero.
	Now time.Time
	// PageSize bounds the members read and granted at once; 0: 500.
	PageSize int
}

// BirthdaysResult counts what a birthday pass granted.
type BirthdaysResult struct {
	Granted int   `json:"granted"`
	Points  int64 `json:"points"`
}

// BirthdayRuleOf is the snapshot's birthday reward as the store applies it;
// nil without a snapshot or a birthday reward. Its points expire like
// earned points (points.expiry.afterEarn).
func BirthdayRuleOf(snap *config.Snapshot) *BirthdayRule {
	if snap == nil || snap.Points.Birthday == nil {
		return nil
	}
	r := &BirthdayRule{Points: snap.Points.Birthday.Points, Window: snap.Points.Birthday.Window, Location: snap.Location()}
	if x := snap.Points.Expiry; x != nil && x.AfterEarn != nil {
		r.ExpireAfter = x.AfterEarn.D()
	}
	return r
}
