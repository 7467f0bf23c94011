package config

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/loyaltyops/loyalty-operator/engine/schedule"
)

// FieldError is one problem of a snapshot: the JSON path of the field and why.
type FieldError struct {
	Path   string `json:"field"`
	Reason string `json:"reason"`
}

func (e FieldError) Error() string { return e.Path + ": " + e.Reason }

// ValidationError lists every problem found in a snapshot, in document order.
type ValidationError struct {
	Errors []FieldError
}

func (e *ValidationError) Error() string {
	msgs := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		msgs[i] = fe.Error()
	}
	return "invalid snapshot: " + strings.Join(msgs, "; ")
}

// Parse decodes and validates a snapshot, fills in defaults and sorts its
// lists. Unknown fields are errors, so that a typo does not silently drop a
// setting. A *ValidationError names every invalid field.
func Parse(data []byte) (*Snapshot, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s Snapshot
	if err := dec.Decode(&s); err != nil {
		return nil, &ValidationError{Errors: []FieldError{decodeError(err)}}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &ValidationError{Errors: []FieldError{{Path: "(document)", Reason: "unexpected data after the snapshot object"}}}
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// decodeError names the field of a JSON type error where encoding/json knows it.
func decodeError(err error) FieldError {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return FieldError{Path: te.Field, Reason: fmt.Sprintf("want %s, got JSON %s", te.Type, te.Value)}
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return FieldError{Path: "(document)", Reason: fmt.Sprintf("malformed JSON at byte %d: %s", se.Offset, se.Error())}
	}
	if msg, ok := strings.CutPrefix(err.Error(), "json: "); ok {
		return FieldError{Path: "(document)", Reason: msg}
	}
	return FieldError{Path: "(document)", Reason: err.Error()}
}

// Marshal writes the snapshot as canonical JSON: compact, fields in a fixed
// order, lists sorted by their key and defaults filled in. Equal
// configurations marshal to equal bytes.
func (s *Snapshot) Marshal() ([]byte, error) {
	c := s.normalized()
	b, err := json.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("marshal snapshot: %w", err)
	}
	return b, nil
}

// Hash is the hex SHA-256 of the canonical JSON; it identifies a configuration.
func (s *Snapshot) Hash() string {
	b, err := s.Marshal()
	if err != nil {
		// Every field of a Snapshot marshals; this cannot happen short of memory exhaustion.
		panic(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Validate checks every field, as the CRDs and the operator do, plus the
// references between objects (tiers named by rewards and campaigns). It fills
// in defaults and sorts lists first, so a valid snapshot is also canonical,
// and compiles the campaigns' schedules for Schedule.
func (s *Snapshot) Validate() error {
	*s = s.normalized()
	v := &validator{}
	v.snapshot(s)
	if len(v.errs) > 0 {
		return &ValidationError{Errors: v.errs}
	}
	s.schedules = compileSchedules(s.Campaigns)
	s.loc, _ = schedule.LoadLocation(s.Program.TimeZone) // validated above
	for i := range s.Tiers {
		s.Tiers[i].TimeZone = s.loc
	}
	return nil
}

// normalized returns a copy with defaults applied and lists sorted.
func (s *Snapshot) normalized() Snapshot {
	c := *s
	c.Points.Actions = sortedBy(c.Points.Actions, func(a ActionReward) string { return a.Name })
	c.Program.TimeZone = orDefault(c.Program.TimeZone, "UTC")
	if b := c.Points.Birthday; b != nil {
		cp := *b
		cp.Window = orDefault(cp.Window, LimitDay)
		c.Points.Birthday = &cp
	}
	c.Points.Name = orDefault(c.Points.Name, "points")
	c.Points.Rounding = orDefault(c.Points.Rounding, RoundingFloor)
	if !c.Points.PendingPeriod.set {
		c.Points.PendingPeriod = Duration{set: true}
	}
	c.Tiers = slices.Clone(c.Tiers)
	for i := range c.Tiers {
		t := &c.Tiers[i]
		t.Qualification.Period = orDefault(t.Qualification.Period, PeriodRollingWindow)
		if !t.EarnMultiplier.set {
			t.EarnMultiplier = DecimalFromUnits(DecimalScale)
		}
		t.Perks = sortedBy(t.Perks, func(p string) string { return p })
		if !t.DowngradeGracePeriod.set {
			t.DowngradeGracePeriod = Duration{set: true}
		}
	}
	slices.SortStableFunc(c.Tiers, func(a, b Tier) int { return cmp.Or(cmp.Compare(a.Rank, b.Rank), cmp.Compare(a.Name, b.Name)) })
	c.Memberships = normalizedMemberships(c.Memberships)
	c.Rewards = sortedBy(c.Rewards, func(r Reward) string { return r.ID })
	for i := range c.Rewards {
		if e := c.Rewards[i].Eligibility; e != nil {
			e2 := RewardEligibility{Memberships: sortedBy(e.Memberships, func(s string) string { return s }), MemberTags: sortedBy(e.MemberTags, func(s string) string { return s })}
			if len(e2.Memberships) == 0 {
				e2.Memberships = nil
			}
			if len(e2.MemberTags) == 0 {
				e2.MemberTags = nil
			}
			c.Rewards[i].Eligibility = &e2
		}
	}
	c.Campaigns = sortedBy(c.Campaigns, func(c Campaign) string { return c.Name })
	for i := range c.Campaigns {
		cp := &c.Campaigns[i]
		cp.Schedule.TimeZone = orDefault(cp.Schedule.TimeZone, "UTC")
		cp.Stacking = orDefault(cp.Stacking, StackingStack)
		if a := cp.Audience; a != nil {
			a2 := *a
			a2.Tiers = sortedBy(a2.Tiers, func(s string) string { return s })
			a2.MemberTags = sortedBy(a2.MemberTags, func(s string) string { return s })
			if len(a2.Tiers) == 0 {
				a2.Tiers = nil
			}
			if len(a2.MemberTags) == 0 {
				a2.MemberTags = nil
			}
			if a2.Memberships = sortedBy(a2.Memberships, func(s string) string { return s }); len(a2.Memberships) == 0 {
				a2.Memberships = nil
			}
			cp.Audience = &a2
		}
		if rb := cp.Rules.PurchaseBonus; rb != nil && !rb.MinimumSpend.set {
			b := *rb
			b.MinimumSpend = Decimal{set: true}
			cp.Rules.PurchaseBonus = &b
		}
		cp.Rules.ActionBonuses = sortedBy(cp.Rules.ActionBonuses, func(a ActionBonus) string { return a.Action })
		if len(cp.Rules.ActionBonuses) == 0 {
			cp.Rules.ActionBonuses = nil
		}
	}
	if r := c.Referral; r != nil {
		r2 := *r
		if !r2.QualifyingPurchaseMinimum.set {
			r2.QualifyingPurchaseMinimum = Decimal{set: true}
		}
		if !r2.HoldPeriod.set {
			r2.HoldPeriod = Duration{set: true}
		}
		r2.ReferrerRewardTiers = slices.Clone(r2.ReferrerRewardTiers)
		slices.SortStableFunc(r2.ReferrerRewardTiers, func(a, b ReferrerRewardTier) int { return cmp.Compare(a.MinReferrals, b.MinReferrals) })
		if r2.ReferrerRewardTiers == nil {
			r2.ReferrerRewardTiers = []ReferrerRewardTier{}
		}
		c.Referral = &r2
	}
	return c
}

// sortedBy returns a sorted copy, never nil, so that lists marshal as [] and not null.
func sortedBy[T any](in []T, key func(T) string) []T {
	out := make([]T, len(in))
	copy(out, in)
	slices.SortStableFunc(out, func(a, b T) int { return cmp.Compare(key(a), key(b)) })
	return out
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Limits shared with the CRDs.
const (
	maxPoints   = 1_000_000_000
	maxMultiple = 10 * DecimalScale
)

var (
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	actionName   = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	currencyCode = regexp.MustCompile(`^[A-Z]{3}$`)
)

type validator struct {
	errs []FieldError
}

func (v *validator) fail(path, format string, args ...any) {
	v.errs = append(v.errs, FieldError{Path: path, Reason: fmt.Sprintf(format, args...)})
}

// key names a list element by its key, or by index when the key is empty.
func key(k string, i int) string {
	if k == "" {
		return fmt.Sprintf("[%d]", i)
	}
	return "[" + k + "]"
}

func (v *validator) text(path, s string, least, most int) {
	switch n := len([]rune(s)); {
	case n == 0 && least > 0:
		v.fail(path, "required")
	case n < least:
		v.fail(path, "must be at least %d characters", least)
	case n > most:
		v.fail(path, "must be at most %d characters", most)
	}
}

func (v *validator) name(path, s string, pattern *regexp.Regexp, most int) {
	switch {
	case s == "":
		v.fail(path, "required")
	case len(s) > most:
		v.fail(path, "must be at most %d characters", most)
	case !pattern.MatchString(s):
		v.fail(path, "%q must match %s", s, pattern)
	}
}

func (v *validator) oneOf(path, s string, allowed ...string) {
	if !slices.Contains(allowed, s) {
		v.fail(path, "%q must be one of %s", s, strings.Join(allowed, ", "))
	}
}

func (v *validator) points(path string, p int64, least int64) {
	if p < least || p > maxPoints {
		v.fail(path, "%d must be between %d and %d", p, least, maxPoints)
	}
}

func (v *validator) intRange(path string, n, least, most int32) {
	if n < least || n > most {
		v.fail(path, "%d must be between %d and %d", n, least, most)
	}
}

func (v *validator) decimal(path string, d Decimal, required bool) {
	switch {
	case d.err != nil:
		v.fail(path, "%v", d.err)
	case !d.set && required:
		v.fail(path, "required")
	}
}

// multiplier checks the CRD Multiplier: "1" to "10" with at most two decimal places.
func (v *validator) multiplier(path string, d Decimal) {
	v.decimal(path, d, true)
	if d.err != nil || !d.set {
		return
	}
	if d.units < DecimalScale || d.units > maxMultiple || d.units%100 != 0 {
		v.fail(path, "%q must be from 1 to 10 with at most two decimal places", d.String())
	}
}

func (v *validator) duration(path string, d Duration, required, positive bool) {
	switch {
	case d.err != nil:
		v.fail(path, "%v", d.err)
	case !d.set && required:
		v.fail(path, "required")
	case positive && d.d <= 0:
		v.fail(path, "must be longer than zero")
	}
}

func (v *validator) time(path string, t Time) bool {
	switch {
	case t.err != nil:
		v.fail(path, "%v", t.err)
	case !t.set:
		v.fail(path, "required")
	default:
		return true
	}
	return false
}

func (v *validator) snapshot(s *Snapshot) {
	if s.Version != Version {
		v.fail("version", "%q is not supported; want %q", s.Version, Version)
	}
	p := s.Program
	v.name("program.name", p.Name, dnsLabel, 63)
	v.name("program.namespace", p.Namespace, dnsLabel, 63)
	v.text("program.displayName", p.DisplayName, 1, 128)
	if !currencyCode.MatchString(p.Currency) {
		v.fail("program.currency", "%q must be an ISO 4217 code such as \"EUR\"", p.Currency)
	}
	if _, err := schedule.LoadLocation(p.TimeZone); err != nil {
		v.fail("program.timeZone", "%v", err)
	}
	v.pointsPolicy(&s.Points)
	if s.Events != nil {
		v.events(s.Events)
	}

	tierNames := map[string]bool{}
	ranks := map[int32]string{}
	for i, t := range s.Tiers {
		path := "tiers" + key(t.Name, i)
		v.name(path+".name", t.Name, dnsLabel, 63)
		if tierNames[t.Name] && t.Name != "" {
			v.fail(path+".name", "duplicate tier name")
		}
		tierNames[t.Name] = true
		v.text(path+".displayName", t.DisplayName, 1, 64)
		v.intRange(path+".rank", t.Rank, 0, 100)
		if other, dup := ranks[t.Rank]; dup {
			v.fail(path+".rank", "rank %d is already held by tier %q", t.Rank, other)
		}
		ranks[t.Rank] = t.Name
		v.qualification(path+".qualification", t.Qualification)
		v.multiplier(path+".earnMultiplier", t.EarnMultiplier)
		if len(t.Perks) > 32 {
			v.fail(path+".perks", "at most 32 perks")
		}
		for j, perk := range t.Perks {
			v.text(fmt.Sprintf("%s.perks[%d]", path, j), perk, 1, 128)
			if j > 0 && t.Perks[j-1] == perk {
				v.fail(fmt.Sprintf("%s.perks[%d]", path, j), "duplicate perk %q", perk)
			}
		}
		v.duration(path+".downgradeGracePeriod", t.DowngradeGracePeriod, false, false)
	}
	if _, ok := ranks[0]; len(s.Tiers) > 0 && !ok {
		v.fail("tiers", "no entry tier: one tier must have rank 0")
	}

	v.memberships(s.Memberships, p.Currency, tierNames)

	offered := map[string]bool{}
	for _, m := range s.Memberships {
		offered[m.Name] = true
	}
	ids := map[string]bool{}
	if len(s.Rewards) > 5000 {
		v.fail("rewards", "at most 5000 rewards")
	}
	for i, r := range s.Rewards {
		path := "rewards" + key(r.ID, i)
		v.name(path+".id", r.ID, dnsLabel, 63)
		if ids[r.ID] && r.ID != "" {
			v.fail(path+".id", "duplicate reward id")
		}
		ids[r.ID] = true
		v.reward(path, r, tierNames)
		v.eligibility(path+".eligibility", r.Eligibility, offered)
	}

	names := map[string]bool{}
	for i, c := range s.Campaigns {
		if a := c.Audience; a != nil {
			for _, m := range a.Memberships {
				if !offered[m] {
					v.fail("campaigns"+key(c.Name, i)+".audience.memberships", "no membership named %q", m)
				}
			}
		}
		path := "campaigns" + key(c.Name, i)
		v.name(path+".name", c.Name, dnsLabel, 63)
		if names[c.Name] && c.Name != "" {
			v.fail(path+".name", "duplicate campaign name")
		}
		names[c.Name] = true
		v.campaign(path, c, tierNames)
	}

	if r := s.Referral; r != nil {
		v.points("referral.referrerReward", r.ReferrerReward, 0)
		v.points("referral.refereeReward", r.RefereeReward, 0)
		v.decimal("referral.qualifyingPurchaseMinimum", r.QualifyingPurchaseMinimum, false)
		if m := r.MaxReferralsPerReferrer; m != nil {
			v.intRange("referral.maxReferralsPerReferrer", *m, 1, 100000)
		}
		v.duration("referral.holdPeriod", r.HoldPeriod, false, false)
		if len(r.ReferrerRewardTiers) > 10 {
			v.fail("referral.referrerRewardTiers", "at most 10 tiers")
		}
		for j, t := range r.ReferrerRewardTiers {
			path := fmt.Sprintf("referral.referrerRewardTiers[%d]", t.MinReferrals)
			v.intRange(path+".minReferrals", t.MinReferrals, 2, 100000)
			if j > 0 && r.ReferrerRewardTiers[j-1].MinReferrals == t.MinReferrals {
				v.fail(path+".minReferrals", "duplicate minReferrals")
			}
			v.points(path+".reward", t.Reward, 0)
			if t.Reward < r.ReferrerReward {
				v.fail(path+".reward", "%d is below referrerReward %d; tiers only raise the reward", t.Reward, r.ReferrerReward)
			}
		}
	}
}

func (v *validator) pointsPolicy(p *PointsPolicy) {
	v.text("points.name", p.Name, 1, 32)
	v.decimal("points.earnRate", p.EarnRate, true)
	v.oneOf("points.rounding", p.Rounding, RoundingFloor, RoundingNearest, RoundingCeiling)
	v.duration("points.pendingPeriod", p.PendingPeriod, false, false)
	if e := p.Expiry; e != nil {
		switch {
		case (e.AfterEarn == nil) == (e.AfterInactivity == nil):
			v.fail("points.expiry", "set exactly one of afterEarn or afterInactivity")
		case e.AfterEarn != nil:
			v.duration("points.expiry.afterEarn", *e.AfterEarn, true, true)
			if e.AfterEarn.err == nil && p.PendingPeriod.err == nil && e.AfterEarn.d > 0 && e.AfterEarn.d <= p.PendingPeriod.d {
				// Points would expire before they ever became available.
				v.fail("points.expiry.afterEarn", "%s must be longer than pendingPeriod %s", e.AfterEarn, p.PendingPeriod)
			}
		default:
			v.duration("points.expiry.afterInactivity", *e.AfterInactivity, true, true)
		}
	}
	v.duration("points.lateEventGracePeriod", p.LateEventGracePeriod, true, false)
	if b := p.Birthday; b != nil {
		if b.Points < 1 || b.Points > 1_000_000 {
			v.fail("points.birthday.points", "%d must be between 1 and 1000000", b.Points)
		}
		v.oneOf("points.birthday.window", b.Window, LimitDay, LimitWeek, LimitMonth)
	}
	if len(p.Actions) > 32 {
		v.fail("points.actions", "at most 32 actions")
	}
	for i, a := range p.Actions {
		path := "points.actions" + key(a.Name, i)
		v.name(path+".name", a.Name, actionName, 63)
		if i > 0 && a.Name != "" && p.Actions[i-1].Name == a.Name {
			v.fail(path+".name", "duplicate action name")
		}
		v.points(path+".points", a.Points, 0)
		if a.MaxPerDay != nil {
			v.intRange(path+".maxPerDay", *a.MaxPerDay, 1, 1000)
			if a.Limit != nil {
				v.fail(path+".maxPerDay", "set limit or maxPerDay, not both: maxPerDay N is limit {count: N, per: Day}")
			}
		}
		if l := a.Limit; l != nil {
			v.intRange(path+".limit.count", l.Count, 1, 1000)
			v.oneOf(path+".limit.per", l.Per, LimitDay, LimitWeek, LimitMonth, LimitYear, LimitLifetime)
		}
	}
}

func (v *validator) qualification(path string, q TierQualification) {
	if (q.MinQualifyingPoints == nil) == (q.MinSpend == nil) {
		v.fail(path, "set exactly one of minQualifyingPoints or minSpend")
	}
	if q.MinQualifyingPoints != nil {
		v.points(path+".minQualifyingPoints", *q.MinQualifyingPoints, 0)
	}
	if q.MinSpend != nil {
		v.decimal(path+".minSpend", *q.MinSpend, true)
	}
	v.oneOf(path+".period", q.Period, PeriodRollingWindow, PeriodCalendarYear)
	switch {
	case q.Period == PeriodRollingWindow && q.Window == nil:
		v.fail(path+".window", "required with period RollingWindow")
	case q.Period == PeriodCalendarYear && q.Window != nil:
		v.fail(path+".window", "not allowed with period CalendarYear")
	case q.Window != nil:
		v.duration(path+".window", *q.Window, true, true)
	}
}

func (v *validator) reward(path string, r Reward, tiers map[string]bool) {
	v.text(path+".displayName", r.DisplayName, 1, 128)
	v.oneOf(path+".type", r.Type, RewardDiscount, RewardFreeProduct, RewardGiftCard, RewardExperience, RewardDonation, RewardCoupon)
	v.points(path+".cost", r.Cost, 0)
	if r.Value != nil {
		v.decimal(path+".value", *r.Value, true)
	}
	if r.MinimumTier != "" && !tiers[r.MinimumTier] {
		v.fail(path+".minimumTier", "no tier named %q", r.MinimumTier)
	}
	if r.Stock != nil && (*r.Stock < 0 || *r.Stock > maxPoints) {
		v.fail(path+".stock", "%d must be between 0 and %d", *r.Stock, maxPoints)
	}
	if l := r.Limit; l != nil {
		v.intRange(path+".limit.count", l.Count, 1, 10000)
		v.oneOf(path+".limit.period", l.Period, LimitDay, LimitWeek, LimitMonth, LimitYear, LimitLifetime)
	}
	if a := r.Availability; a != nil {
		okStart := a.Start != nil && v.time(path+".availability.start", *a.Start)
		okEnd := a.End != nil && v.time(path+".availability.end", *a.End)
		switch {
		case a.Start == nil && a.End == nil:
			v.fail(path+".availability", "needs start, end or both")
		case okStart && okEnd && !a.End.t.After(a.Start.t):
			v.fail(path+".availability.end", "must be after availability.start")
		}
	}
}

func (v *validator) campaign(path string, c Campaign, tiers map[string]bool) {
	v.text(path+".displayName", c.DisplayName, 1, 128)
	s := c.Schedule
	okStart := v.time(path+".schedule.start", s.Start)
	if s.End != nil && v.time(path+".schedule.end", *s.End) && okStart && !s.End.t.After(s.Start.t) {
		v.fail(path+".schedule.end", "must be after schedule.start")
	}
	if s.End == nil && s.Recurrence == nil {
		v.fail(path+".schedule.end", "required unless schedule.recurrence is set")
	}
	if r := s.Recurrence; r != nil {
		if _, err := schedule.ParseCron(r.Cron); err != nil {
			v.fail(path+".schedule.recurrence.cron", "%v", err)
		}
		v.duration(path+".schedule.recurrence.duration", r.Duration, true, true)
	}
	if _, err := schedule.LoadLocation(s.TimeZone); err != nil {
		v.fail(path+".schedule.timeZone", "%v", err)
	}
	if a := c.Audience; a != nil {
		for _, t := range a.Tiers {
			if !tiers[t] {
				v.fail(path+".audience.tiers", "no tier named %q", t)
			}
		}
		for j, tag := range a.MemberTags {
			v.text(fmt.Sprintf("%s.audience.memberTags[%d]", path, j), tag, 1, MaxTagLength)
		}
		if a.NewMembersWithin != nil {
			v.duration(path+".audience.newMembersWithin", *a.NewMembersWithin, true, true)
		}
	}
	r := c.Rules
	if r.PointsMultiplier == nil && r.PurchaseBonus == nil && len(r.ActionBonuses) == 0 {
		v.fail(path+".rules", "needs at least one of pointsMultiplier, purchaseBonus or actionBonuses")
	}
	if r.PointsMultiplier != nil {
		v.multiplier(path+".rules.pointsMultiplier", *r.PointsMultiplier)
	}
	if b := r.PurchaseBonus; b != nil {
		v.points(path+".rules.purchaseBonus.points", b.Points, 1)
		v.decimal(path+".rules.purchaseBonus.minimumSpend", b.MinimumSpend, false)
	}
	for i, b := range r.ActionBonuses {
		bp := path + ".rules.actionBonuses" + key(b.Action, i)
		v.name(bp+".action", b.Action, actionName, 63)
		if i > 0 && b.Action != "" && r.ActionBonuses[i-1].Action == b.Action {
			v.fail(bp+".action", "duplicate action")
		}
		v.points(bp+".points", b.Points, 1)
	}
	if l := c.Limits; l != nil {
		if l.TotalBonusBudget != nil {
			v.points(path+".limits.totalBonusBudget", *l.TotalBonusBudget, 0)
		}
		if l.PerMemberCap != nil {
			v.points(path+".limits.perMemberCap", *l.PerMemberCap, 0)
		}
		if l.TotalBonusBudget != nil && l.PerMemberCap != nil && *l.PerMemberCap > *l.TotalBonusBudget {
			v.fail(path+".limits.perMemberCap", "%d exceeds totalBonusBudget %d", *l.PerMemberCap, *l.TotalBonusBudget)
		}
	}
	v.oneOf(path+".stacking", c.Stacking, StackingStack, StackingExclusive)
	v.intRange(path+".priority", c.Priority, 0, 1000)
}
