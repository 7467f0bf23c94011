// Package config is the configuration snapshot the operator hands the points
// engine: a versioned JSON snapshot of one loyalty program, rendered by the
// operator from the LoyaltyProgram, Tier, RewardCatalog and Campaign objects
// and read by the engine. The names it is published under are in package
// contract.
//
// The snapshot mirrors the CRDs' field names. Amounts and multipliers are
// exact decimal strings ("2.5"), durations use the CRD format ("30d",
// "1d12h", "0s"), instants are RFC 3339 in UTC. Parse validates a snapshot and
// applies the CRD defaults for enumerations left empty; Marshal writes it
// canonically (lists sorted by their key, defaults filled in) so that Hash
// identifies a configuration regardless of how it was written.
//
// The package imports nothing from Kubernetes: the operator builds a Snapshot
// from plain Go values, and the engine loads one from a file (WatchFile) or a
// ConfigMap (sub-package k8swatch). A validated snapshot carries its
// campaigns' compiled schedules (Schedule).
package config

import (
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/schedule"
)

// Version is the only snapshot version this package reads and writes.
const Version = "loyaltyops.io/snapshot/v1"

// Snapshot is the whole configuration of one program.
type Snapshot struct {
	// Version must be Version.
	Version string `json:"version"`
	// Program identifies the program.
	Program Program `json:"program"`
	// Points says how points are earned and how long they last.
	Points PointsPolicy `json:"points"`
	// Tiers is the tier ladder, sorted by rank. Empty for a program without tiers.
	Tiers []Tier `json:"tiers"`
	// Rewards are the rewards of all the program's catalogs, sorted by id.
	Rewards []Reward `json:"rewards"`
	// Campaigns are the program's campaigns, sorted by name.
	Campaigns []Campaign `json:"campaigns"`
	// Referral rewards referrals; nil disables them.
	Referral *ReferralPolicy `json:"referral,omitempty"`
	// Memberships are the program's paid memberships, sorted by name.
	Memberships []Membership `json:"memberships,omitempty"`
	// Events declares the sinks the engine delivers its events to; nil
	// delivers none (they are still kept in the outbox).
	Events *EventsPolicy `json:"events,omitempty"`

	// schedules are the campaigns' schedules compiled by Validate; see Schedule.
	schedules map[scheduleKey]*schedule.Schedule
	// loc is Program.TimeZone loaded by Validate; see Location.
	loc *time.Location
}

// Location is the program's time zone, which calendar periods are cut in:
// the one Validate loaded, or UTC for a zone that does not load.
func (s *Snapshot) Location() *time.Location {
	if s.loc != nil {
		return s.loc
	}
	// A snapshot built in code and never validated.
	if loc, err := schedule.LoadLocation(s.Program.TimeZone); err == nil {
		return loc
	}
	return time.UTC
}

// Program identifies the LoyaltyProgram the snapshot was rendered from.
type Program struct {
	Name        string `json:"name"`
	Namespace   string `json:"namespace"`
	DisplayName string `json:"displayName"`
	// Currency is an ISO 4217 code such as "EUR".
	Currency string `json:"currency"`
	// TimeZone is the IANA zone calendar periods are counted in: the days,
	// weeks, months and years of action and redemption limits and the
	// calendar years of tiers. Defaults to "UTC".
	TimeZone string `json:"timeZone"`
}

// Rounding modes turn fractional points into whole points.
const (
	RoundingFloor   = "Floor"
	RoundingNearest = "Nearest"
	RoundingCeiling = "Ceiling"
)

// PointsPolicy says how points are earned and how long they last.
type PointsPolicy struct {
	// Name of the points currency as members see it; defaults to "points".
	Name string `json:"name"`
	// EarnRate is points per whole unit of currency, before multipliers.
	EarnRate Decimal `json:"earnRate"`
	// Rounding is Floor, Nearest or Ceiling; defaults to Floor.
	Rounding string `json:"rounding"`
	// PendingPeriod holds earned points back before they become available.
	PendingPeriod Duration `json:"pendingPeriod"`
	// Expiry says when points expire; nil for never.
	Expiry *PointsExpiry `json:"expiry,omitempty"`
	// LateEventGracePeriod is how old an event may be when it arrives (required).
	LateEventGracePeriod Duration `json:"lateEventGracePeriod"`
	// Actions are the points earned for named engagement actions, sorted by name.
	Actions []ActionReward `json:"actions"`
	// Birthday is the points granted once a year around a member's
	// birthday; nil for none.
	Birthday *BirthdayReward `json:"birthday,omitempty"`
}

// BirthdayReward is the points a member gets once a year for a birthday.
type BirthdayReward struct {
	// Points granted once per birthday year, from 1 to 1,000,000.
	Points int64 `json:"points"`
	// Window is LimitDay, LimitWeek or LimitMonth: the day, the ISO week or
	// the month of the birthday, in the program's time zone.
	Window string `json:"window"`
}

// PointsExpiry sets exactly one way for points to expire.
type PointsExpiry struct {
	// AfterEarn expires each earned lot this long after it was earned.
	AfterEarn *Duration `json:"afterEarn,omitempty"`
	// AfterInactivity expires the whole balance after this long without activity.
	AfterInactivity *Duration `json:"afterInactivity,omitempty"`
}

// ActionReward gives points for a named engagement action.
type ActionReward struct {
	Name   string `json:"name"`
	Points int64  `json:"points"`
	// MaxPerDay is the deprecated form of Limit {Count: MaxPerDay, Per:
	// Day}; Validate refuses both set. Read the cap with EffectiveLimit.
	MaxPerDay *int32 `json:"maxPerDay,omitempty"`
	// Limit caps how often one member earns for the action per period of
	// the program's time zone; nil for no cap.
	Limit *ActionLimit `json:"limit,omitempty"`
}

// EffectiveLimit is the action's limit: Limit, or MaxPerDay as a limit per
// Day; nil for no cap.
func (a *ActionReward) EffectiveLimit() *ActionLimit {
	if a.Limit == nil && a.MaxPerDay != nil {
		return &ActionLimit{Count: *a.MaxPerDay, Per: LimitDay}
	}
	return a.Limit
}

// ActionLimit caps how often one member earns for an action per period.
type ActionLimit struct {
	Count int32 `json:"count"`
	// Per is LimitDay, LimitWeek (from Monday), LimitMonth, LimitYear or
	// LimitLifetime (never resets).
	Per string `json:"per"`
}

// Qualification periods of a tier.
const (
	PeriodRollingWindow = "RollingWindow"
	PeriodCalendarYear  = "CalendarYear"
)

// Tier is one rung of the tier ladder.
type Tier struct {
	// Name is the Tier object's name; rewards and campaigns refer to it.
	Name        string `json:"name"`
	DisplayName string `json:"displayName"`
	// Rank orders the ladder; 0 is the entry tier and must exist when there are tiers.
	Rank          int32             `json:"rank"`
	Qualification TierQualification `json:"qualification"`
	// EarnMultiplier is from "1" to "10" with at most two decimal places; defaults to "1".
	EarnMultiplier Decimal `json:"earnMultiplier"`
	// Perks are described to members, sorted.
	Perks                []string `json:"perks"`
	DowngradeGracePeriod Duration `json:"downgradeGracePeriod"`
	// TimeZone is the program's time zone, which a CalendarYear is counted
	// in: Validate sets it from Program.TimeZone, so that the tier ladder
	// carries it wherever it is handed on alone. nil is UTC.
	TimeZone *time.Location `json:"-"`
}

// TierQualification sets exactly one threshold and the period it is counted over.
type TierQualification struct {
	MinQualifyingPoints *int64   `json:"minQualifyingPoints,omitempty"`
	MinSpend            *Decimal `json:"minSpend,omitempty"`
	// Period is RollingWindow (default) or CalendarYear.
	Period string `json:"period"`
	// Window is required with RollingWindow and not allowed with CalendarYear.
	Window *Duration `json:"window,omitempty"`
}

// Reward types.
const (
	RewardDiscount    = "Discount"
	RewardFreeProduct = "FreeProduct"
	RewardGiftCard    = "GiftCard"
	RewardExperience  = "Experience"
	RewardDonation    = "Donation"
	RewardCoupon      = "Coupon"
)

// Limit periods of a per-member redemption limit and of an action limit,
// calendar spans in the program's time zone.
const (
	LimitDay      = "Day"
	LimitWeek     = "Week"
	LimitMonth    = "Month"
	LimitYear     = "Year"
	LimitLifetime = "Lifetime"
)

// Reward is one item members can redeem points for.
type Reward struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	Type        string `json:"type"`
	// Cost in points.
	Cost int64 `json:"cost"`
	// Value in the program's currency, for liability reporting.
	Value *Decimal `json:"value,omitempty"`
	// MinimumTier names a tier of the snapshot a member must hold at least.
	MinimumTier string `json:"minimumTier,omitempty"`
	// Stock is how many can be redeemed in total; nil for unlimited.
	Stock        *int64           `json:"stock,omitempty"`
	Limit        *RedemptionLimit `json:"limit,omitempty"`
	Availability *Availability    `json:"availability,omitempty"`
	// Eligibility restricts the reward to some members; nil for every member.
	Eligibility *RewardEligibility `json:"eligibility,omitempty"`
}

// RewardEligibility admits a member holding any of Memberships (active)
// or carrying any of MemberTags.
type RewardEligibility struct {
	Memberships []string `json:"memberships,omitempty"`
	MemberTags  []string `json:"memberTags,omitempty"`
}

// RedemptionLimit caps how often one member redeems a reward per period.
type RedemptionLimit struct {
	Count  int32  `json:"count"`
	Period string `json:"period"`
}

// Availability is a window [start, end) with either end optional.
type Availability struct {
	Start *Time `json:"start,omitempty"`
	End   *Time `json:"end,omitempty"`
}

// Stacking modes of a campaign.
const (
	StackingStack     = "Stack"
	StackingExclusive = "Exclusive"
)

// Campaign is a time-boxed promotion.
type Campaign struct {
	Name        string           `json:"name"`
	DisplayName string           `json:"displayName"`
	Schedule    CampaignSchedule `json:"schedule"`
	// Audience restricts the campaign; nil for every member.
	Audience *CampaignAudience `json:"audience,omitempty"`
	Rules    CampaignRules     `json:"rules"`
	Limits   *CampaignLimits   `json:"limits,omitempty"`
	// Stacking is Stack (default) or Exclusive.
	Stacking string `json:"stacking"`
	Priority int32  `json:"priority"`
	Paused   bool   `json:"paused"`
}

// CampaignSchedule is a window [start, end), or recurring windows inside it.
type CampaignSchedule struct {
	Start Time `json:"start"`
	// End is optional for a recurring campaign.
	End        *Time       `json:"end,omitempty"`
	Recurrence *Recurrence `json:"recurrence,omitempty"`
	// TimeZone is an IANA zone name; defaults to "UTC".
	TimeZone string `json:"timeZone"`
}

// Recurrence opens a window of Duration at every match of Cron.
type Recurrence struct {
	// Cron is five fields (minute hour day-of-month month day-of-week) or a descriptor such as @daily.
	Cron     string   `json:"cron"`
	Duration Duration `json:"duration"`
}

// MaxTagLength is the most characters a member tag has, at enrolment and
// in a campaign's audience alike, like a Kubernetes label value: a tag a
// member could carry that no campaign could name would be of no use. The
// Campaign CRD's memberTags marker repeats it.
const MaxTagLength = 63

// CampaignAudience restricts a campaign to members matching every set criterion.
type CampaignAudience struct {
	Tiers            []string  `json:"tiers,omitempty"`
	MemberTags       []string  `json:"memberTags,omitempty"`
	NewMembersWithin *Duration `json:"newMembersWithin,omitempty"`
	// Memberships: a member holding any of them, active, qualifies.
	Memberships []string `json:"memberships,omitempty"`
}

// CampaignRules are what a campaign gives; at least one is set.
type CampaignRules struct {
	PointsMultiplier *Decimal       `json:"pointsMultiplier,omitempty"`
	PurchaseBonus    *PurchaseBonus `json:"purchaseBonus,omitempty"`
	ActionBonuses    []ActionBonus  `json:"actionBonuses,omitempty"`
}

// PurchaseBonus adds points to each purchase of at least MinimumSpend.
type PurchaseBonus struct {
	Points       int64   `json:"points"`
	MinimumSpend Decimal `json:"minimumSpend"`
}

// ActionBonus adds points to a named action.
type ActionBonus struct {
	Action string `json:"action"`
	Points int64  `json:"points"`
}

// CampaignLimits cap the bonus points a campaign gives.
type CampaignLimits struct {
	TotalBonusBudget *int64 `json:"totalBonusBudget,omitempty"`
	PerMemberCap     *int64 `json:"perMemberCap,omitempty"`
}

// HasCampaignLimits reports whether some campaign has a budget or a
// per-member cap: only then does pricing need what campaigns granted.
func (s *Snapshot) HasCampaignLimits() bool {
	for i := range s.Campaigns {
		if l := s.Campaigns[i].Limits; l != nil && (l.TotalBonusBudget != nil || l.PerMemberCap != nil) {
			return true
		}
	}
	return false
}

// ReferralPolicy rewards both sides of a referral.
type ReferralPolicy struct {
	ReferrerReward            int64                `json:"referrerReward"`
	RefereeReward             int64                `json:"refereeReward"`
	QualifyingPurchaseMinimum Decimal              `json:"qualifyingPurchaseMinimum"`
	MaxReferralsPerReferrer   *int32               `json:"maxReferralsPerReferrer,omitempty"`
	HoldPeriod                Duration             `json:"holdPeriod"`
	ReferrerRewardTiers       []ReferrerRewardTier `json:"referrerRewardTiers"`
}

// ReferrerRewardTier is the referrer's reward from MinReferrals converted referrals on.
type ReferrerRewardTier struct {
	MinReferrals int32 `json:"minReferrals"`
	Reward       int64 `json:"reward"`
}
