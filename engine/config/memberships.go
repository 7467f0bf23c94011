package config

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// Billing periods of a membership besides a number of days ("30d").
const (
	BillingMonth = "Month"
	BillingYear  = "Year"
)

// Membership is a paid membership or subscription of the program.
type Membership struct {
	Name string `json:"name"`
	// Price is charged by the billing system per period, in Currency.
	Price    Decimal `json:"price"`
	Currency string  `json:"currency"`
	// BillingPeriod is Month, Year or a number of days such as "30d".
	BillingPeriod string             `json:"billingPeriod"`
	Benefits      MembershipBenefits `json:"benefits"`
	// Streak rewards consecutive renewals; nil for none.
	Streak *RenewalStreak `json:"streak,omitempty"`
}

// MembershipBenefits apply while a membership is active.
type MembershipBenefits struct {
	// EarnMultiplier is from "1" to "10"; defaults to "1".
	EarnMultiplier Decimal `json:"earnMultiplier"`
	// TierFloor names a tier the member holds at least; empty for none.
	TierFloor string `json:"tierFloor,omitempty"`
}

// RenewalStreak grants BonusPoints on the Renewals-th renewal in a row.
type RenewalStreak struct {
	Renewals    int32 `json:"renewals"`
	BonusPoints int64 `json:"bonusPoints"`
}

var billingDays = regexp.MustCompile(`^([1-9][0-9]{0,2})d$`)

// PeriodEnd is the end of the billing period that starts at start: the same
// instant a calendar month or year later (in UTC, normalised as time.AddDate
// does), or a number of whole days later.
func (m Membership) PeriodEnd(start time.Time) time.Time {
	switch m.BillingPeriod {
	case BillingMonth:
		return start.AddDate(0, 1, 0)
	case BillingYear:
		return start.AddDate(1, 0, 0)
	}
	if g := billingDays.FindStringSubmatch(m.BillingPeriod); g != nil {
		days, _ := strconv.Atoi(g[1]) // the pattern admits only digits
		return start.AddDate(0, 0, days)
	}
	return start
}

// Membership returns the membership named name.
func (s *Snapshot) Membership(name string) (Membership, bool) {
	for _, m := range s.Memberships {
		if m.Name == name {
			return m, true
		}
	}
	return Membership{}, false
}

func normalizedMemberships(in []Membership) []Membership {
	out := sortedBy(in, func(m Membership) string { return m.Name })
	for i := range out {
		if !out[i].Benefits.EarnMultiplier.set {
			out[i].Benefits.EarnMultiplier = DecimalFromUnits(DecimalScale)
		}
	}
	if len(out) == 0 {
		return nil // absent, so that snapshots without memberships keep their hash
	}
	return out
}

func (v *validator) memberships(ms []Membership, currency string, tiers map[string]bool) {
	if len(ms) > 16 {
		v.fail("memberships", "at most 16 memberships")
	}
	for i, m := range ms {
		path := "memberships" + key(m.Name, i)
		v.name(path+".name", m.Name, dnsLabel, 63)
		if i > 0 && m.Name != "" && ms[i-1].Name == m.Name {
			v.fail(path+".name", "duplicate membership name")
		}
		v.decimal(path+".price", m.Price, true)
		if m.Currency != currency {
			v.fail(path+".currency", "%q must be the program's currency %q", m.Currency, currency)
		}
		if m.BillingPeriod != BillingMonth && m.BillingPeriod != BillingYear && !billingDays.MatchString(m.BillingPeriod) {
			v.fail(path+".billingPeriod", "%q must be Month, Year or a number of days from 1d to 999d", m.BillingPeriod)
		}
		v.multiplier(path+".benefits.earnMultiplier", m.Benefits.EarnMultiplier)
		if f := m.Benefits.TierFloor; f != "" && !tiers[f] {
			v.fail(path+".benefits.tierFloor", "no tier named %q", f)
		}
		if s := m.Streak; s != nil {
			v.intRange(path+".streak.renewals", s.Renewals, 1, 120)
			v.points(path+".streak.bonusPoints", s.BonusPoints, 1)
		}
	}
}

func (v *validator) eligibility(path string, e *RewardEligibility, offered map[string]bool) {
	if e == nil {
		return
	}
	if len(e.Memberships) == 0 && len(e.MemberTags) == 0 {
		v.fail(path, "needs at least one membership or member tag")
	}
	for _, m := range e.Memberships {
		if !offered[m] {
			v.fail(path+".memberships", "no membership named %q", m)
		}
	}
	for j, tag := range e.MemberTags {
		v.text(fmt.Sprintf("%s.memberTags[%d]", path, j), tag, 1, MaxTagLength)
	}
}
