package rules

import (
	"cmp"
	"slices"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
)

// Activity is a member's qualifying activity over one tier's qualification
// window (QualificationWindowStart to now).
type Activity struct {
	// Points are qualifying points earned: earns minus their reversals;
	// redemptions, cancellations and admin adjustments do not count.
	Points int64
	// Spend is the purchase amount in the program's currency, net of refunds.
	Spend config.Decimal
}

// TierInput is the member's tier state, read by the store.
type TierInput struct {
	// Current is the member's tier; "" or a tier no longer in the snapshot
	// means the entry tier.
	Current string
	// TierSince is when the member reached Current; it stands in for the
	// last qualification of Current when LastQualifiedAt lacks it.
	TierSince time.Time
	// Activity by tier name, each summed over that tier's window (tiers may
	// count over different windows). A tier missing has no activity.
	Activity map[string]Activity
	// LastQualifiedAt is when the member last qualified for each tier, by name.
	LastQualifiedAt map[string]time.Time
}

// Tier changes.
const (
	TierUnchanged = "none"
	TierUpgrade   = "upgrade"
	TierDowngrade = "downgrade"
)

// TierDecision is the outcome of evaluating a member's tier at now.
type TierDecision struct {
	// Tier is the member's tier from now on; "" for a program without tiers.
	Tier string `json:"tier"`
	// Previous is the tier evaluated from (the entry tier for "").
	Previous string `json:"previous"`
	// Change is "none", "upgrade" or "downgrade".
	Change string `json:"change"`
	// Qualified names the tiers the member qualifies for at now; the store
	// sets their lastQualifiedAt to now.
	Qualified []string `json:"qualified"`
	// GraceUntil is set when the member no longer qualifies for Tier but
	// keeps it until then (the tier's downgradeGracePeriod).
	GraceUntil *time.Time `json:"graceUntil,omitempty"`
	// Next is the tier above Tier and what is missing to reach it; nil at the top.
	Next *NextTier `json:"next,omitempty"`
}

// NextTier is the tier above and what the member lacks for it.
type NextTier struct {
	Name string `json:"name"`
	// MissingPoints or MissingSpend, whichever the tier qualifies by.
	MissingPoints *int64          `json:"missingPoints,omitempty"`
	MissingSpend  *config.Decimal `json:"missingSpend,omitempty"`
	// WindowStart is where the counting of that tier's activity starts.
	WindowStart time.Time `json:"windowStart"`
}

// QualificationWindowStart is the first instant of t's qualification window
// at now: now − window for RollingWindow, and 1 January 00:00 of now's year
// in t.TimeZone, the program's time zone, for CalendarYear. The store sums
// activity with occurredAt in [start, now].
func QualificationWindowStart(t config.Tier, now time.Time) time.Time {
	q := t.Qualification
	if q.Period == config.PeriodCalendarYear {
		start, _ := PeriodWindow(now, config.LimitYear, t.TimeZone)
		return start.UTC()
	}
	if q.Window == nil {
		// Validation requires a window with RollingWindow; without one only
		// activity at now counts.
		return now
	}
	return now.Add(-q.Window.D())
}

// qualifies reports whether a is enough for t; the entry tier needs nothing.
func qualifies(t config.Tier, a Activity) bool {
	q := t.Qualification
	switch {
	case t.Rank == 0:
		return true
	case q.MinQualifyingPoints != nil:
		return a.Points >= *q.MinQualifyingPoints
	case q.MinSpend != nil:
		return decimalCmp(a.Spend, *q.MinSpend) >= 0
	}
	return false
}

// MayUpgrade is a cheap test before EvaluateTier: false when no tier above
// current can be reached with lifetimeEarned points. A member's qualifying
// points over any window never exceed their lifetime earned points: both
// count each earn, lifetime also counts referral rewards, and a reversal
// takes the same points from both. Spend thresholds have no such bound.
// Like EvaluateTier, a tier not on the ladder (none yet) is the entry tier.
func MayUpgrade(s *config.Snapshot, current string, lifetimeEarned int64) bool {
	if len(s.Tiers) == 0 {
		return false
	}
	rank := slices.MinFunc(s.Tiers, func(a, b config.Tier) int { return cmp.Compare(a.Rank, b.Rank) }).Rank
	for _, t := range s.Tiers {
		if t.Name == current {
			rank = t.Rank
		}
	}
	for _, t := range s.Tiers {
		if t.Rank <= rank {
			continue
		}
		if need := t.Qualification.MinQualifyingPoints; need == nil || lifetimeEarned >= *need {
			return true
		}
	}
	return false
}

// EvaluateTier decides a member's tier at now. It is the re-evaluation the
// store runs after qualifying activity and periodically:
//
//   - Upgrade at once to the highest tier the member qualifies for, when it
//     is above the current one.
//   - Keep the current tier while the member qualifies for it, or while
//     now < lastQualifiedAt + its downgradeGracePeriod.
//   - Otherwise downgrade to the highest tier below that the member still
//     holds by the same rule (qualifies, or is within that tier's grace of
//     its own lastQualifiedAt); the entry tier always holds.
func EvaluateTier(s *config.Snapshot, in TierInput, now time.Time) TierDecision {
	if len(s.Tiers) == 0 {
		return TierDecision{Change: TierUnchanged, Qualified: []string{}}
	}
	ladder := slices.Clone(s.Tiers)
	slices.SortFunc(ladder, func(a, b config.Tier) int { return cmp.Compare(a.Rank, b.Rank) })
	cur := 0 // ladder[0] is the entry tier
	for i, t := range ladder {
		if t.Name == in.Current {
			cur = i
		}
	}
	d := TierDecision{Previous: ladder[cur].Name, Change: TierUnchanged, Qualified: []string{}}
	best := 0
	for i, t := range ladder {
		if qualifies(t, in.Activity[t.Name]) {
			d.Qualified = append(d.Qualified, t.Name)
			best = i
		}
	}
	next := cur
	switch {
	case best > cur:
		next, d.Change = best, TierUpgrade
	case best < cur:
		// Walk down from the current tier to the first one still held.
		for next = cur; next > best; next-- {
			t := ladder[next]
			last, ok := in.LastQualifiedAt[t.Name]
			if !ok && next == cur {
				last = in.TierSince
			}
			if until := last.Add(t.DowngradeGracePeriod.D()); (ok || next == cur) && now.Before(until) {
				d.GraceUntil = &until
				break
			}
		}
		if next < cur {
			d.Change = TierDowngrade
		}
	}
	d.Tier = ladder[next].Name
	if next+1 < len(ladder) {
		d.Next = missing(ladder[next+1], in.Activity[ladder[next+1].Name], now)
	}
	return d
}

// missing says what the member lacks for t.
func missing(t config.Tier, a Activity, now time.Time) *NextTier {
	n := &NextTier{Name: t.Name, WindowStart: QualificationWindowStart(t, now)}
	q := t.Qualification
	switch {
	case q.MinQualifyingPoints != nil:
		p := max(*q.MinQualifyingPoints-a.Points, 0)
		n.MissingPoints = &p
	case q.MinSpend != nil:
		sp := config.DecimalFromUnits(max(q.MinSpend.Units()-a.Spend.Units(), 0))
		n.MissingSpend = &sp
	}
	return n
}
