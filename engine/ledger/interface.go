package ledger

import (
	"context"
	"encoding/json"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

// Limits of the public API.
const (
	MaxBatchEvents     = 1000
	MaxHistoryLimit    = 500
	DefaultHistoryPage = 50
	// ExpiringWindow is how far ahead MemberView.ExpiringSoon looks.
	ExpiringWindow = 30 * 24 * time.Hour
)

// Ledger is the points engine's durable ledger. Every write carries an
// idempotency key, scoped globally per store: the same key with the same
// request returns the original result (with Replayed set); the same key with a
// different request fails with ErrIdempotencyReuse. The request is identified
// by its Fingerprint when the caller sets one (the HTTP API fingerprints the
// client's body, so a retry stays the same request after a configuration
// change), else by a hash of the normalised request. Keys of writes that failed
// are not kept. A write is durable once it returns without error; if ctx ends
// first the write may still be applied, so retry with the same key. All times
// are stored with microsecond precision.
type Ledger interface {
	// Enroll creates a member with a zero balance.
	Enroll(ctx context.Context, req EnrollRequest) (EnrollResult, error)
	// Earn credits points for one event as a lot that is pending until
	// AvailableAt and expires at ExpiresAt. The event id is unique per member.
	Earn(ctx context.Context, req EarnRequest) (EarnResult, error)
	// EarnBatch applies up to MaxBatchEvents earns independently: one failing
	// event does not fail the others. The error is only for a malformed batch
	// (empty, too large) or an unusable store.
	EarnBatch(ctx context.Context, req EarnBatchRequest) (EarnBatchResult, error)
	// Redeem debits available points, consuming the soonest-expiring lots
	// first (lots without expiry last), or fails with an
	// InsufficientPointsError (ErrInsufficientPoints).
	Redeem(ctx context.Context, req RedeemRequest) (RedeemResult, error)
	// Reverse claws back points of an earlier earn event (refund or return),
	// from the event's own pending lots first, then from available lots
	// soonest-expiring first. The balance never goes negative: what cannot be
	// taken is recorded as the shortfall. The campaigns whose bonus the event
	// got are given back, to their budget and to the member's per-member
	// cap, the share of their bonus that the points taken are of the
	// event's points (rules.BonusReturn), under the same locks as grants.
	Reverse(ctx context.Context, req ReverseRequest) (ReverseResult, error)
	// Adjust is an admin correction with a required reason. Positive points
	// create an available lot; negative points debit like a redeem and fail
	// with ErrInsufficientPoints rather than go below zero.
	Adjust(ctx context.Context, req AdjustRequest) (AdjustResult, error)
	// RedeemReward redeems a catalog reward: under the member's lock it
	// checks the reward with rules.CheckRedemption against the member's
	// tier and redemptions of it in the current limit period, then under
	// the reward's stock row lock takes one of its stock (refusing with
	// rules.Error outOfStock when none is left), debits its cost like
	// Redeem and issues a unique random code.
	RedeemReward(ctx context.Context, req RedeemRewardRequest) (RedeemRewardResult, error)
	// CancelRedemption returns a redemption's points, as a new available
	// lot expiring at the earliest expiry of the lots spent, and its stock.
	// A cancelled redemption fails with ErrRedemptionCancelled.
	CancelRedemption(ctx context.Context, req CancelRedemptionRequest) (CancelRedemptionResult, error)
	// Redemptions lists the member's redemptions, newest first.
	Redemptions(ctx context.Context, memberID string) ([]Redemption, error)
	// ChangeMembership starts, renews, pauses, resumes or cancels the
	// member's membership (see Transition), recording the change and
	// crediting the streak bonus a renewal earns, once per streak.
	ChangeMembership(ctx context.Context, req MembershipRequest) (MembershipResult, error)
	// EndDueMemberships ends the memberships whose period ended by now
	// without a renewal, cancelling ones included, and returns how many. It
	// is safe to run concurrently, from several processes, and repeatedly.
	EndDueMemberships(ctx context.Context, now time.Time) (int, error)
	// Member returns the member's balance and the points expiring within
	// ExpiringWindow after now (the store's clock when zero).
	Member(ctx context.Context, memberID string, now time.Time) (MemberView, error)
	// History pages through a member's entries, newest first.
	History(ctx context.Context, q HistoryQuery) (HistoryPage, error)
	// ProcessDue releases pending lots whose AvailableAt is at or before
	// opts.Now, then expires lots whose ExpiresAt is at or before it and,
	// when opts.ExpireAfterInactivity is set, every live lot (available or
	// pending) of members inactive that long, each lot as a ledger entry. It
	// is safe to run concurrently, from several processes, and repeatedly.
	ProcessDue(ctx context.Context, opts DueOptions) (ProcessDueResult, error)
	// Replay looks up idempotency keys before a request is priced, so that a
	// retry is answered with the original result even when the configuration
	// or the clock would now price it differently or refuse it. Each answer
	// says whether the key is known; a known key with another fingerprint
	// answers ErrIdempotencyReuse. Queries with a key no write accepts (see
	// CheckKey) are not known.
	Replay(ctx context.Context, queries []ReplayQuery) ([]ReplayAnswer, error)
	// CheckInvariants verifies, on a consistent snapshot, that balances match
	// the sums of entries and of live lots and that nothing is negative.
	CheckInvariants(ctx context.Context) error
	// Ping reports whether the store is reachable.
	Ping(ctx context.Context) error
	// Health says whether the store takes writes now and, when not or when
	// it is degraded, why (see StoreHealth). It never touches the database.
	Health() StoreHealth
	// PricingContexts reads, for each query in order, what pricing an event
	// for a member depends on: the member's tags, enrolment and tier, the
	// bonus each campaign already gave the member, how often the member
	// already earned for the query's Action in the window of its Limit
	// containing OccurredAt, and each campaign's total granted bonus. A member not
	// enrolled answers Err. It is a read: Earn enforces budgets, caps and
	// action limits again under lock, and the tier may come from memory and be
	// older than another replica's change (Earn checks PricedTier). The
	// error is for an unusable store.
	PricingContexts(ctx context.Context, qs []PricingQuery) ([]PricingState, error)
	// CampaignSpend returns the bonus points each campaign has granted, by
	// name; campaigns that granted nothing are missing.
	CampaignSpend(ctx context.Context) (map[string]int64, error)
	// TierStatus reads the member's tier state and qualifying activity over
	// each tier's window at now (see QualifyingActivity).
	TierStatus(ctx context.Context, memberID string, tiers []config.Tier, now time.Time) (TierStatus, error)
	// EvaluateTier re-evaluates the member's tier under the member's lock
	// and records a change as a "tier" entry. Downgrades are applied only
	// with req.AllowDowngrade (the due job); an earn only upgrades.
	EvaluateTier(ctx context.Context, req TierRequest) (TierResult, error)
	// GrantBirthday grants the member's birthday points under the member's
	// lock, in one transaction, if now is in the member's birthday window of
	// a year not granted yet: at most once per member and year, whatever
	// the restarts and replicas. The grant is an earn entry with reason
	// ReasonBirthday.
	GrantBirthday(ctx context.Context, req BirthdayRequest) (BirthdayResult, error)
	// GrantBirthdays runs GrantBirthday for every member whose birthday
	// window contains now and who has no grant for that year, in bounded
	// pages.
	GrantBirthdays(ctx context.Context, req BirthdaysRequest) (BirthdaysResult, error)
	// Aggregates reads the plain counts and sums of the KPIs over the
	// window [from, to) (from before to, else a FieldError on from), in one
	// statement and so on one consistent snapshot. Times are when the store
	// recorded the entry (ProcessDue's Now for expiries):
	//   - Members: enrolled before to.
	//   - ActiveMembers: members with an earn, redeem or adjust entry in the
	//     window (a referral reward is an earn, as for inactivity).
	//   - PointsIssued: points of earn entries (purchases, actions and
	//     referral rewards, pending or not) and of positive adjustments in
	//     the window, gross of reversals.
	//   - PointsRedeemed: points debited by redemptions in the window less
	//     those returned by cancellations in the window.
	//   - PointsExpired: points (available or pending) expired in the window.
	//   - SpendSinceEnrollment: purchase amounts of events that occurred
	//     before to, of members enrolled before to (purchases that earned no
	//     points included), each net of its refunds as of now: in proportion
	//     of its points reversed (in minor units, rounded down), or the
	//     refunded amount of a purchase that earned no points; in the
	//     currency's units.
	//   - ReferralsMade: referrals recorded in the window; ReferralsConverted
	//     those converted in the window and not clawed back (as of now), so
	//     that it may exceed ReferralsMade of the same window.
	//   - Referrers, RepeatReferrers: referrers with at least one, two of
	//     the window's ReferralsConverted.
	//   - ReferralRewardsCost: referrer plus referee rewards of the window's
	//     ReferralsConverted (clawed-back rewards were taken back).
	//   - OutstandingAvailable, OutstandingPending: all members' balances now,
	//     whatever the window.
	Aggregates(ctx context.Context, from, to time.Time) (rules.Aggregates, error)
	// PatchMember changes a member's tags and profile under the member's
	// lock and records the fields it changed, with Actor and the time, in
	// the member's profile history. A member whose data was erased is
	// refused with ErrMemberErased.
	PatchMember(ctx context.Context, req PatchMemberRequest) (PatchMemberResult, error)
	// EraseMember removes the member's personal data (tags, attributes,
	// birth date, consents, referral code) and replaces the member's id by
	// a random pseudonym in every row that holds it, in one transaction
	// under the member's lock, so that balances, entries and every KPI are
	// unchanged. The old id is then unknown (ErrMemberNotFound) and may be
	// enrolled again as a new member. Erasing an id already erased, and not
	// enrolled again since, answers the same result.
	EraseMember(ctx context.Context, req EraseMemberRequest) (EraseMemberResult, error)
	// ProfileHistory lists the changes to a member's profile, oldest first.
	ProfileHistory(ctx context.Context, memberID string) ([]ProfileChange, error)
	// Portable exports the whole ledger and imports it into an empty store.
	Portable
	// Close finishes in-flight writes and releases the store.
	Close() error
}

// PricingQuery selects the member state an event is priced with.
type PricingQuery struct {
	MemberID string
	// Action, when set with Limit, is counted over the window of Limit
	// containing OccurredAt in TimeZone (rules.ActionLimitWindow; nil
	// TimeZone: UTC), up to Limit.Count.
	Action     string
	Limit      *config.ActionLimit
	TimeZone   *time.Location
	OccurredAt time.Time
	// Grants asks for the campaigns' grants (to the member and in total);
	// without campaigns pricing needs neither.
	Grants bool
	// Fresh reads the member from the database rather than from memory:
	// for pricing again after ErrTierChanged.
	Fresh bool
}

// PricingState is the member context for rules.Price (with BudgetRemaining
// left nil) and each campaign's total granted bonus, by name; or Err, such
// as ErrMemberNotFound or an invalid memberId.
type PricingState struct {
	Member          rules.MemberContext
	CampaignGranted map[string]int64
	// TagsRev is the revision of the member's tags read (see
	// EarnRequest.PricedTagsRev).
	TagsRev int64
	Err     error
}

// TierStatus is a member's stored tier and the input to rules.EvaluateTier.
type TierStatus struct {
	Input rules.TierInput
}

// TierRequest re-evaluates one member's tier at Now under Tiers.
type TierRequest struct {
	MemberID       string
	Tiers          []config.Tier
	Now            time.Time
	AllowDowngrade bool
}

// TierResult is the evaluation and whether it changed the stored tier.
type TierResult struct {
	Decision rules.TierDecision
	Changed  bool
}

// EnrollRequest enrolls a member.
type EnrollRequest struct {
	IdempotencyKey string `json:"idempotencyKey"`
	// Fingerprint, when set, identifies the request for its idempotency key
	// instead of the store's hash of the request (see Ledger).
	Fingerprint string   `json:"-"`
	MemberID    string   `json:"memberId"`
	Tags        []string `json:"tags,omitempty"`
	// EnrolledAt defaults to the store's clock when zero.
	EnrolledAt time.Time `json:"enrolledAt,omitzero"`
	// ReferralCode, when set, enrolls the member as the referee of the
	// code's owner; Referral is the program's policy (nil: referrals
	// disabled), checked with rules.CheckReferral.
	ReferralCode string                 `json:"referralCode,omitempty"`
	Referral     *config.ReferralPolicy `json:"-"`
}

// EnrollResult is the enrolled member.
type EnrollResult struct {
	Member Member `json:"member"`
	// ReferredBy is the referrer's member id when enrolled with a code.
	ReferredBy string `json:"referredBy,omitempty"`
	Replayed   bool   `json:"replayed,omitempty"`
}

// EarnRequest credits points already computed by the caller for one event.
// A purchase (PurchaseAmount above zero) is recorded even when it earns no
// points, with its spend; any other event must earn.
type EarnRequest struct {
	IdempotencyKey string `json:"idempotencyKey"`
	// Fingerprint, when set, identifies the request for its idempotency key
	// instead of the store's hash of the request (see Ledger).
	Fingerprint string `json:"-"`
	MemberID    string `json:"memberId"`
	// EventID identifies the purchase or action; unique per member.
	EventID string `json:"eventId"`
	Points  int64  `json:"points"`
	// PurchaseAmount is in minor currency units (cents), kept for analytics and
	// fractional refunds; zero for non-purchase events.
	PurchaseAmount int64  `json:"purchaseAmount,omitempty"`
	Currency       string `json:"currency,omitempty"`
	// OccurredAt is when the event happened; defaults to the store's clock.
	OccurredAt time.Time `json:"occurredAt,omitzero"`
	// AvailableAt ends the pending period; zero or past means available now.
	AvailableAt time.Time `json:"availableAt,omitzero"`
	// ExpiresAt is when the lot's unspent points expire; zero means never.
	// It must be after AvailableAt.
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
	// Action names the action of an action event; it is counted against
	// Limit.
	Action string `json:"action,omitempty"`
	// Limit, when set, limits how many action events of Action the member
	// earns for in the limit's period containing OccurredAt, cut in
	// TimeZone (rules.ActionLimitWindow); the store counts under the
	// member's lock, and an event over the limit earns nothing.
	Limit *config.ActionLimit `json:"limit,omitempty"`
	// TimeZone is the program's time zone (config.Snapshot.Location); nil
	// is UTC.
	TimeZone *time.Location `json:"-"`
	// Campaigns are the bonuses of the applied campaigns, added to Points
	// after the store cut each to what its caps still allow.
	Campaigns []CampaignBonus `json:"campaigns,omitempty"`
	// Explanation, when set, is rewritten with what the store granted and
	// returned (and stored for replays) with the result.
	Explanation *rules.Explanation `json:"explanation,omitempty"`
	// Referral is the program's referral policy for a purchase (nil for
	// actions or without referrals): the member's first purchase of at
	// least its qualifyingPurchaseMinimum converts their referral.
	Referral *config.ReferralPolicy `json:"-"`
	// Tiers is the program's tier ladder (nil without tiers): a member
	// whose activity the earn lifts to a higher tier is upgraded in the
	// same commit. Earning never downgrades.
	Tiers []config.Tier `json:"-"`
	// Birthday, when set, is the program's birthday reward: the earn
	// grants it in its transaction when it is the member's first event in
	// the birthday window (see Ledger.GrantBirthday).
	Birthday *BirthdayRule `json:"-"`
	// PricedTier, when set, is the member's tier the event was priced for.
	// If the member has another tier when the earn applies (another
	// replica or an earlier earn changed it), the earn is refused with
	// ErrTierChanged and nothing is written: price it again with a fresh
	// PricingQuery.
	PricedTier *string `json:"-"`
	// PricedTagsRev, when set, is the revision of the member's tags the
	// event was priced with (PricingState.TagsRev): if a patch changed the
	// tags since, the earn is refused with ErrTagsChanged, like
	// PricedTier, and priced again.
	PricedTagsRev *int64 `json:"-"`
}

// ReferralConversion is a referral converted by the referee's qualifying
// purchase: both rewards are pending until AvailableAt.
type ReferralConversion struct {
	ReferrerID     string    `json:"referrerId"`
	ReferrerReward int64     `json:"referrerReward"`
	RefereeReward  int64     `json:"refereeReward"`
	AvailableAt    time.Time `json:"availableAt"`
}

// CampaignBonus is a campaign's bonus for one earn and the caps on it.
type CampaignBonus struct {
	Campaign string `json:"campaign"`
	// Attributed is the bonus before caps.
	Attributed int64 `json:"attributed"`
	// Budget is the campaign's totalBonusBudget, over all members.
	Budget *int64 `json:"budget,omitempty"`
	// PerMemberCap is the most bonus the campaign gives one member.
	PerMemberCap *int64 `json:"perMemberCap,omitempty"`
}

// EarnResult reports an applied earn. It is the Go result; the record
// kept with the idempotency key is its EarnRecord, and so is its JSON (the
// store keeps and exports what jsonenc.Marshal gives, and decodes a replay
// with json.Unmarshal), so a replayed EarnResult has Summary, not
// Explanation.
type EarnResult struct {
	EntrySeq int64
	MemberID string
	EventID  string
	Points   int64
	// Pending is true when the points wait for AvailableAt.
	Pending bool
	Balance Balance
	// Explanation is the request's, with the campaign bonuses the store
	// granted and the caps that cut them; nil on a replay.
	Explanation *rules.Explanation
	// Summary is the stored compact explanation, set on a replay.
	Summary *rules.ExplanationSummary
	// Referral is set when this purchase converted the member's referral.
	Referral *ReferralConversion
	Replayed bool
}

// EarnRecord is what an earn keeps with its idempotency key and a replay
// answers: the result with its explanation in compact form.
type EarnRecord struct {
	EntrySeq    int64                     `json:"entrySeq"`
	MemberID    string                    `json:"memberId"`
	EventID     string                    `json:"eventId"`
	Points      int64                     `json:"points"`
	Pending     bool                      `json:"pending"`
	Balance     Balance                   `json:"balance"`
	Explanation *rules.ExplanationSummary `json:"explanation,omitempty"`
	Referral    *ReferralConversion       `json:"referral,omitempty"`
}

// Record is r's record: its explanation summarised.
func (r *EarnResult) Record() EarnRecord {
	rec := EarnRecord{EntrySeq: r.EntrySeq, MemberID: r.MemberID, EventID: r.EventID, Points: r.Points,
		Pending: r.Pending, Balance: r.Balance, Explanation: r.Summary, Referral: r.Referral}
	if r.Explanation != nil {
		rec.Explanation = r.Explanation.Summary()
	}
	return rec
}

// Result is the result a replay of rec answers.
func (rec EarnRecord) Result() EarnResult {
	return EarnResult{EntrySeq: rec.EntrySeq, MemberID: rec.MemberID, EventID: rec.EventID, Points: rec.Points,
		Pending: rec.Pending, Balance: rec.Balance, Summary: rec.Explanation, Referral: rec.Referral}
}

// EarnBatchRequest carries independent earns, each with its own key.
type EarnBatchRequest struct {
	Events []EarnRequest `json:"events"`
}

// EarnBatchResult has one item per request event, in request order.
type EarnBatchResult struct {
	Items     []EarnBatchItem `json:"items"`
	Succeeded int             `json:"succeeded"`
	Failed    int             `json:"failed"`
}

// EarnBatchItem is the outcome of one batch event: Result or Error.
type EarnBatchItem struct {
	Index   int         `json:"index"`
	EventID string      `json:"eventId"`
	Result  *EarnResult `json:"result,omitempty"`
	Error   *ItemError  `json:"error,omitempty"`
	// Err is the Go error behind Error, for callers that map it themselves;
	// unlike Error's, its field names are relative to the event ("points"),
	// as a single earn's are.
	Err error `json:"-"`
	// ResultJSON, when set, is Result's EarnRecord as the store keeps it
	// for replays, handed on so that a response that sends the record does
	// not encode it again. Whoever changes Result must set ResultJSON to
	// nil or to the new encoding.
	ResultJSON []byte `json:"-"`
}

// ItemError describes a failed batch item. Code is ErrorCode of the error;
// Field is set for validation failures.
type ItemError struct {
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// RedeemRequest debits available points.
type RedeemRequest struct {
	IdempotencyKey string `json:"idempotencyKey"`
	// Fingerprint, when set, identifies the request for its idempotency key
	// instead of the store's hash of the request (see Ledger).
	Fingerprint string `json:"-"`
	MemberID    string `json:"memberId"`
	Points      int64  `json:"points"`
	Reference   string `json:"reference,omitempty"`
	Reason      string `json:"reason,omitempty"`
}

// RedeemResult reports an applied redemption.
type RedeemResult struct {
	EntrySeq int64   `json:"entrySeq"`
	MemberID string  `json:"memberId"`
	Points   int64   `json:"points"`
	Balance  Balance `json:"balance"`
	Replayed bool    `json:"replayed,omitempty"`
}

// ReverseRequest claws back points of an earlier earn event.
type ReverseRequest struct {
	IdempotencyKey string `json:"idempotencyKey"`
	// Fingerprint, when set, identifies the request for its idempotency key
	// instead of the store's hash of the request (see Ledger).
	Fingerprint string `json:"-"`
	MemberID    string `json:"memberId"`
	EventID     string `json:"eventId"`
	// Points to claw back; it may not exceed what the event earned and is not
	// yet reversed. Set at most one of Points and RefundAmount; with neither,
	// everything not yet reversed is clawed back.
	Points int64 `json:"points,omitempty"`
	// RefundAmount is a refunded part of the event's purchase amount (minor
	// units); the points clawed back are the same fraction of the event's
	// points, rounded half up and capped at what is not yet reversed. A
	// purchase that earned no points has no points to claw back: a
	// reversal only takes back its spend (the refund amount, or all of it).
	RefundAmount int64  `json:"refundAmount,omitempty"`
	Reference    string `json:"reference,omitempty"`
	Reason       string `json:"reason,omitempty"`
}

// ReverseResult reports an applied reversal.
type ReverseResult struct {
	EntrySeq int64  `json:"entrySeq"`
	MemberID string `json:"memberId"`
	EventID  string `json:"eventId"`
	// Requested is the points reversed on the event; FromPending plus
	// FromAvailable is what was taken from the balance; Shortfall is the rest.
	Requested     int64 `json:"requested"`
	FromPending   int64 `json:"fromPending"`
	FromAvailable int64 `json:"fromAvailable"`
	Shortfall     int64 `json:"shortfall"`
	// BonusReturned is, by campaign, the bonus given back to the
	// campaign's budget and to the member's per-member cap: the share of
	// the event's bonus from the campaign in proportion of the event's
	// points clawed back from the balance (rules.BonusReturn).
	BonusReturned map[string]int64 `json:"bonusReturned,omitempty"`
	Balance       Balance          `json:"balance"`
	// ReferralClawedBack: this reversal completed the full reversal of the
	// purchase that converted the member's referral, so both referral
	// rewards were reversed (from pending, then available; the rest is
	// the entries' shortfall).
	ReferralClawedBack bool `json:"referralClawedBack,omitempty"`
	Replayed           bool `json:"replayed,omitempty"`
}

// AdjustRequest is an admin correction.
type AdjustRequest struct {
	IdempotencyKey string `json:"idempotencyKey"`
	// Fingerprint, when set, identifies the request for its idempotency key
	// instead of the store's hash of the request (see Ledger).
	Fingerprint string `json:"-"`
	MemberID    string `json:"memberId"`
	// Points is signed and non-zero.
	Points    int64  `json:"points"`
	Reason    string `json:"reason"`
	Reference string `json:"reference,omitempty"`
	// ExpiresAt applies to the lot a positive adjustment creates; zero means never.
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
}

// AdjustResult reports an applied adjustment.
type AdjustResult struct {
	EntrySeq int64   `json:"entrySeq"`
	MemberID string  `json:"memberId"`
	Points   int64   `json:"points"`
	Balance  Balance `json:"balance"`
	Replayed bool    `json:"replayed,omitempty"`
}

// MemberView is a member with their balance.
type MemberView struct {
	Member
	Balance
	// ExpiringSoon is the points of live lots expiring by ExpiringBy.
	ExpiringSoon int64     `json:"expiringSoon"`
	ExpiringBy   time.Time `json:"expiringBy"`
	// Tier is the member's stored tier, "" until first evaluated (the
	// entry tier); TierSince is when the member reached it.
	Tier      string     `json:"tier,omitempty"`
	TierSince *time.Time `json:"tierSince,omitempty"`
	// ReferralsMade counts the members enrolled with this member's code;
	// ReferralsConverted those whose qualifying purchase converted and was
	// not clawed back.
	ReferralsMade      int64 `json:"referralsMade"`
	ReferralsConverted int64 `json:"referralsConverted"`
	Profile
	// ErasedAt is set on an erased member (whose id is a pseudonym).
	ErasedAt *time.Time `json:"erasedAt,omitempty"`
	// Membership is the member's current or last paid membership.
	Membership *Membership `json:"membership,omitempty"`
}

// HistoryQuery selects a page of a member's entries.
type HistoryQuery struct {
	MemberID string `json:"memberId"`
	// Cursor is the NextCursor of the previous page; empty for the first.
	Cursor string `json:"cursor,omitempty"`
	// Limit defaults to DefaultHistoryPage and is at most MaxHistoryLimit.
	Limit int `json:"limit,omitempty"`
}

// HistoryPage is entries newest first; NextCursor is empty on the last page.
type HistoryPage struct {
	Entries    []Entry `json:"entries"`
	NextCursor string  `json:"nextCursor,omitempty"`
}

// ProcessDueResult counts the lots a ProcessDue run changed.
type ProcessDueResult struct {
	ReleasedLots   int   `json:"releasedLots"`
	ReleasedPoints int64 `json:"releasedPoints"`
	ExpiredLots    int   `json:"expiredLots"`
	ExpiredPoints  int64 `json:"expiredPoints"`
	// InactiveMembers lost their balance to expiry after inactivity;
	// InactiveExpiredPoints (included in ExpiredPoints) is what they lost.
	InactiveMembers       int   `json:"inactiveMembers,omitempty"`
	InactiveExpiredPoints int64 `json:"inactiveExpiredPoints,omitempty"`
	// TierUpgrades and TierDowngrades count the tier changes of the run.
	TierUpgrades   int `json:"tierUpgrades,omitempty"`
	TierDowngrades int `json:"tierDowngrades,omitempty"`
}

// DueOptions says what a ProcessDue run processes.
type DueOptions struct {
	// Now is the time lots are due by; the store's clock when zero.
	Now time.Time
	// ExpireAfterInactivity, when positive, expires every live lot of the
	// members whose last activity (earn, redeem or adjust; not the engine's
	// releases, expiries or the reversal of a purchase) is at least this long
	// before Now. The configuration lives with the caller, so it passes this in.
	ExpireAfterInactivity time.Duration
	// Tiers, when set, re-evaluates the tier of every member above the
	// entry tier at Now, downgrades included (after their grace period).
	Tiers []config.Tier
	// TierPassRate, when positive, paces that re-evaluation to at most this
	// many members a second, so that a pass over a large program stays
	// background work beside the requests being served; zero: no pacing.
	TierPassRate float64
}

// ReplayQuery is an idempotency key and the fingerprint of the request
// retrying it.
type ReplayQuery struct {
	Key         string
	Fingerprint string
}

// ReplayAnswer is what a key stands for: when Found, the operation and the
// JSON result it returned, or Err (ErrIdempotencyReuse) when the key was
// used with another request.
type ReplayAnswer struct {
	Found  bool
	Op     Op
	Result json.RawMessage
	Err    error
}
