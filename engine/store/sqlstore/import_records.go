package sqlstore

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// checks collects the first failed validation of a record.
type checks struct{ err error }

func (c *checks) fail(field, reason string) {
	if c.err == nil {
		c.err = &ledger.FieldError{Field: field, Reason: reason}
	}
}

func (c *checks) id(field, v string, maxLen int) {
	switch {
	case v == "":
		c.fail(field, "required")
	case len(v) > maxLen:
		c.fail(field, fmt.Sprintf("longer than %d bytes", maxLen))
	}
}

func (c *checks) nonNegative(field string, v int64) {
	if v < 0 {
		c.fail(field, fmt.Sprintf("%d: must not be negative", v))
	}
}

func (c *checks) positive(field string, v int64) {
	if v <= 0 {
		c.fail(field, fmt.Sprintf("%d: must be positive", v))
	}
}

func (c *checks) atMost(field string, v int64, other string, most int64) {
	if v > most {
		c.fail(field, fmt.Sprintf("%d: more than %s (%d)", v, other, most))
	}
}

func (c *checks) oneOf(field, v string, allowed ...string) {
	if !slices.Contains(allowed, v) {
		c.fail(field, fmt.Sprintf("%q: want one of %s", v, strings.Join(allowed, ", ")))
	}
}

func (c *checks) at(field string, t stamp) {
	if t.IsZero() {
		c.fail(field, "required")
	}
}

func optMicros(t *stamp) any {
	if t == nil {
		return nil
	}
	return t.micros()
}

func zeroMicros(t *stamp) int64 {
	if t == nil {
		return 0
	}
	return t.micros()
}

func optString(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

func parseMember(b []byte) ([]any, error) {
	var r memberRecord
	if err := decodeStrict(b, &r); err != nil {
		return nil, err
	}
	var c checks
	c.id("id", r.ID, ledger.MaxIDLength)
	c.at("enrolledAt", r.EnrolledAt)
	c.nonNegative("available", r.Available)
	c.nonNegative("pending", r.Pending)
	for i, tag := range r.Tags {
		c.id(fmt.Sprintf("tags[%d]", i), tag, ledger.MaxIDLength)
	}
	if r.ReferralCode != nil {
		c.id("referralCode", *r.ReferralCode, ledger.MaxIDLength)
	}
	if c.err != nil {
		return nil, c.err
	}
	p := ledger.Profile{Attributes: r.Attributes, BirthDate: r.BirthDate, Consents: r.Consents}
	// A birth year is checked against the clock of the import.
	if err := ledger.CheckProfile(p, time.Now()); err != nil {
		return nil, err
	}
	tags, err := json.Marshal(r.Tags)
	if err != nil {
		return nil, fmt.Errorf("encode tags: %w", err)
	}
	if p.Attributes == nil {
		p.Attributes = map[string]string{}
	}
	if p.Consents == nil {
		p.Consents = map[string]ledger.Consent{}
	}
	attrs, consents, month, day, year, err := profileColumns(p)
	if err != nil {
		return nil, err
	}
	return []any{r.ID, string(tags), r.EnrolledAt.micros(), r.Available, r.Pending, r.LifetimeEarned,
		zeroMicros(r.LastActivityAt), r.Tier, zeroMicros(r.TierSince), optString(r.ReferralCode),
		attrs, consents, month, day, year, optMicros(r.ErasedAt)}, nil
}

func parseMemberTier(b []byte) ([]any, error) {
	var r memberTierRecord
	if err := decodeStrict(b, &r); err != nil {
		return nil, err
	}
	var c checks
	c.id("memberId", r.MemberID, ledger.MaxIDLength)
	c.id("tier", r.Tier, ledger.MaxIDLength)
	c.at("lastQualifiedAt", r.LastQualifiedAt)
	return []any{r.MemberID, r.Tier, r.LastQualifiedAt.micros()}, c.err
}

func parseReferral(b []byte) ([]any, error) {
	var r referralRecord
	if err := decodeStrict(b, &r); err != nil {
		return nil, err
	}
	var c checks
	c.id("refereeId", r.RefereeID, ledger.MaxIDLength)
	c.id("referrerId", r.ReferrerID, ledger.MaxIDLength)
	c.at("createdAt", r.CreatedAt)
	c.nonNegative("referrerReward", r.ReferrerReward)
	c.nonNegative("refereeReward", r.RefereeReward)
	return []any{r.RefereeID, r.ReferrerID, r.CreatedAt.micros(), optMicros(r.ConvertedAt), optString(r.QualifyingEventID),
		r.ReferrerReward, r.RefereeReward, r.ClawedBack}, c.err
}

func parseEvent(b []byte) ([]any, error) {
	var r eventRecord
	if err := decodeStrict(b, &r); err != nil {
		return nil, err
	}
	var c checks
	c.id("memberId", r.MemberID, ledger.MaxIDLength)
	c.id("eventId", r.EventID, ledger.MaxIDLength)
	c.nonNegative("points", r.Points)
	c.nonNegative("reversed", r.Reversed)
	c.atMost("reversed", r.Reversed, "points", r.Points)
	c.nonNegative("purchaseAmount", r.PurchaseAmount)
	if r.Points == 0 && r.PurchaseAmount == 0 {
		c.fail("points", "must be positive for an event that is not a purchase")
	}
	// Streams of earlier versions have no refunded: every event then
	// earned points, and its spend followed the points left.
	var refunded int64
	switch {
	case r.Refunded != nil:
		refunded = *r.Refunded
	case r.Points > 0:
		refunded = r.PurchaseAmount - r.PurchaseAmount*(r.Points-r.Reversed)/r.Points
	}
	c.nonNegative("refunded", refunded)
	c.atMost("refunded", refunded, "purchaseAmount", r.PurchaseAmount)
	c.at("occurredAt", r.OccurredAt)
	c.at("recordedAt", r.RecordedAt)
	c.nonNegative("clawed", r.Clawed)
	c.atMost("clawed", r.Clawed, "reversed", r.Reversed)
	for i, b := range r.Bonuses {
		field := fmt.Sprintf("bonuses[%d]", i)
		c.id(field+".campaign", b.Campaign, ledger.MaxIDLength)
		c.positive(field+".granted", b.Granted)
		c.nonNegative(field+".returned", b.Returned)
		c.atMost(field+".returned", b.Returned, "granted", b.Granted)
	}
	bonuses := marshalBonuses(r.Bonuses)
	return []any{r.MemberID, r.EventID, r.Points, r.Reversed, r.PurchaseAmount, refunded, r.Currency,
		r.OccurredAt.micros(), r.RecordedAt.micros(), r.Action, r.Clawed, bonuses}, c.err
}

func parseLot(b []byte) ([]any, error) {
	var r lotRecord
	if err := decodeStrict(b, &r); err != nil {
		return nil, err
	}
	var c checks
	c.positive("id", r.ID)
	c.id("memberId", r.MemberID, ledger.MaxIDLength)
	c.positive("amount", r.Amount)
	c.nonNegative("remaining", r.Remaining)
	c.atMost("remaining", r.Remaining, "amount", r.Amount)
	c.oneOf("state", r.State, "pending", "available", "spent", "expired")
	if r.State == "spent" && r.Remaining != 0 {
		c.fail("remaining", fmt.Sprintf("%d: a spent lot has none", r.Remaining))
	}
	c.at("availableAt", r.AvailableAt)
	// An export made before lots were spent has emptied lots available;
	// they are imported as the migration of such a database leaves them.
	state := r.State
	if state == "available" && r.Remaining == 0 {
		state = "spent"
	}
	return []any{r.ID, r.MemberID, r.EventID, r.Amount, r.Remaining, state, r.AvailableAt.micros(), optMicros(r.ExpiresAt)}, c.err
}

var entryKinds = []string{
	string(ledger.EntryEarn), string(ledger.EntryRelease), string(ledger.EntryRedeem), string(ledger.EntryReverse),
	string(ledger.EntryAdjust), string(ledger.EntryExpire), string(ledger.EntryTier), string(ledger.EntryCancel),
}

func parseEntry(b []byte) ([]any, error) {
	var r entryRecord
	if err := decodeStrict(b, &r); err != nil {
		return nil, err
	}
	var c checks
	c.positive("seq", r.Seq)
	c.id("memberId", r.MemberID, ledger.MaxIDLength)
	c.oneOf("kind", r.Kind, entryKinds...)
	c.nonNegative("shortfall", r.Shortfall)
	c.at("at", r.At)
	return []any{r.Seq, r.MemberID, r.Kind, r.Available, r.Pending, r.Lifetime, r.EventID, r.Reference, r.Reason,
		r.Shortfall, r.At.micros()}, c.err
}

func parseRedemption(b []byte) ([]any, error) {
	var r redemptionRecord
	if err := decodeStrict(b, &r); err != nil {
		return nil, err
	}
	var c checks
	c.id("code", r.Code, ledger.MaxIDLength)
	c.id("memberId", r.MemberID, ledger.MaxIDLength)
	c.id("rewardId", r.RewardID, ledger.MaxIDLength)
	c.nonNegative("points", r.Points)
	c.oneOf("status", r.Status, ledger.RedemptionActive, ledger.RedemptionCancelled)
	c.at("redeemedAt", r.RedeemedAt)
	if (r.Status == ledger.RedemptionCancelled) != (r.CancelledAt != nil) {
		c.fail("cancelledAt", "set exactly when the status is cancelled")
	}
	return []any{r.Code, r.MemberID, r.RewardID, r.Points, r.Status, r.RedeemedAt.micros(), optMicros(r.CancelledAt),
		optMicros(r.PointsExpireAt)}, c.err
}

func parseRewardStock(b []byte) ([]any, error) {
	var r rewardStockRecord
	if err := decodeStrict(b, &r); err != nil {
		return nil, err
	}
	var c checks
	c.id("rewardId", r.RewardID, ledger.MaxIDLength)
	c.nonNegative("redeemed", r.Redeemed)
	return []any{r.RewardID, r.Redeemed}, c.err
}

func parseCampaignSpend(b []byte) ([]any, error) {
	var r campaignSpendRecord
	if err := decodeStrict(b, &r); err != nil {
		return nil, err
	}
	var c checks
	c.id("campaign", r.Campaign, ledger.MaxIDLength)
	c.nonNegative("granted", r.Granted)
	return []any{r.Campaign, r.Granted}, c.err
}

func parseMemberCampaign(b []byte) ([]any, error) {
	var r memberCampaignRecord
	if err := decodeStrict(b, &r); err != nil {
		return nil, err
	}
	var c checks
	c.id("memberId", r.MemberID, ledger.MaxIDLength)
	c.id("campaign", r.Campaign, ledger.MaxIDLength)
	c.nonNegative("granted", r.Granted)
	return []any{r.MemberID, r.Campaign, r.Granted}, c.err
}

func parseActivity(b []byte) ([]any, error) {
	var r activityRecord
	if err := decodeStrict(b, &r); err != nil {
		return nil, err
	}
	var c checks
	c.id("memberId", r.MemberID, ledger.MaxIDLength)
	return []any{r.MemberID, r.Day, r.Currency, r.Points, r.Spend}, c.err
}

func parseIdempotencyKey(b []byte) ([]any, error) {
	var r idempotencyKeyRecord
	if err := decodeStrict(b, &r); err != nil {
		return nil, err
	}
	var c checks
	c.id("key", r.Key, ledger.MaxKeyLength)
	c.id("op", r.Op, ledger.MaxIDLength)
	c.id("requestHash", r.RequestHash, ledger.MaxIDLength)
	if !json.Valid([]byte(r.Result)) {
		c.fail("result", "not a JSON document")
	}
	c.at("createdAt", r.CreatedAt)
	return []any{r.Key, r.Op, r.RequestHash, r.Result, r.CreatedAt.micros()}, c.err
}
