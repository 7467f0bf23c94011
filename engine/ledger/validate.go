package ledger

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

// Field size limits; they keep rows and idempotency records bounded.
const (
	MaxIDLength   = 128
	MaxKeyLength  = 200
	MaxTextLength = 500
	MaxTags       = 32
	MaxPoints     = int64(1) << 40 // far above any real award, far below overflow
	timePrecision = time.Microsecond
)

// Op names a write kind; it is part of the idempotency request hash.
type Op string

// Write kinds.
const (
	OpEnroll  Op = "enroll"
	OpEarn    Op = "earn"
	OpRedeem  Op = "redeem"
	OpReverse Op = "reverse"
	OpAdjust  Op = "adjust"
)

// NormTime truncates t to the stored precision and UTC so that a value read
// back equals the value written and hashing ignores the time zone.
func NormTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(timePrecision)
}

// RequestHash is the hex SHA-256 of the op and the canonical JSON of req
// (normalised, without the idempotency key).
func RequestHash(op Op, req any) string {
	body, err := json.Marshal(req)
	if err != nil {
		// Requests are plain structs of strings, numbers and times.
		panic(fmt.Sprintf("ledger: marshal %s request: %v", op, err))
	}
	h := sha256.New()
	h.Write([]byte(op))
	h.Write([]byte{0})
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

func checkID(field, v string) error {
	if reason := idProblem(v); reason != "" {
		return fieldErr(field, reason)
	}
	return nil
}

// idProblem says what is wrong with an id, or "" when nothing is.
func idProblem(v string) string {
	switch {
	case v == "":
		return "required"
	case len(v) > MaxIDLength:
		return "longer than " + strconv.Itoa(MaxIDLength) + " bytes"
	}
	return textProblem(v)
}

// textProblem says why a store could not keep v as it is, or "" when it
// can. PostgreSQL refuses NUL and invalid UTF-8 in text while SQLite
// keeps them, so every write refuses them here, before either store sees
// them: a ledger one store accepted always imports into the other.
func textProblem(v string) string {
	switch {
	case !utf8.ValidString(v):
		return "not valid UTF-8"
	case strings.IndexByte(v, 0) >= 0:
		return `contains a NUL character (\u0000), which no text may hold`
	}
	return ""
}

// CheckKey validates an idempotency key: a key it refuses was never
// stored.
func CheckKey(v string) error {
	switch {
	case v == "":
		return fieldErr("idempotencyKey", "required")
	case len(v) > MaxKeyLength:
		return fieldErr("idempotencyKey", fmt.Sprintf("longer than %d bytes", MaxKeyLength))
	}
	if reason := textProblem(v); reason != "" {
		return fieldErr("idempotencyKey", reason)
	}
	return nil
}

func checkText(field, v string) error {
	if len(v) > MaxTextLength {
		return fieldErr(field, fmt.Sprintf("longer than %d bytes", MaxTextLength))
	}
	if reason := textProblem(v); reason != "" {
		return fieldErr(field, reason)
	}
	return nil
}

func checkPositive(field string, v int64) error {
	if reason := positiveProblem(v); reason != "" {
		return fieldErr(field, reason)
	}
	return nil
}

// positiveProblem says what is wrong with a points amount, or "" when
// nothing is.
func positiveProblem(v int64) string {
	switch {
	case v <= 0:
		return "must be positive"
	case v > MaxPoints:
		return "too large"
	}
	return ""
}

// epoch bounds the times a request may set: the store keeps times as
// microseconds since it, and uses 0 for "none" in places.
var epoch = time.Unix(0, 0)

// checkTime refuses a time set (not zero) at or before the epoch: such a
// time can only be a mistake, such as a misparsed date.
func checkTime(field string, t time.Time) error {
	if !t.IsZero() && !t.After(epoch) {
		return fieldErr(field, fmt.Sprintf("%s: must be after 1970-01-01T00:00:00Z", t.UTC().Format(time.RFC3339Nano)))
	}
	return nil
}

// CheckEnrolledAt refuses an enrolment more than rules.MaxClockSkew after
// now: a member "enrolled" in the future would count as a new member for
// every new-member campaign until long after. A retry is never refused
// once the original was accepted, as now only moves on (and replicas'
// clocks are within the skew of each other).
func (r EnrollRequest) CheckEnrolledAt(now time.Time) error {
	if r.EnrolledAt.After(now.Add(rules.MaxClockSkew)) {
		return fieldErr("enrolledAt", fmt.Sprintf("%s is more than %s in the future", r.EnrolledAt.UTC().Format(time.RFC3339), rules.MaxClockSkew))
	}
	return nil
}

// CheckExpiresAt refuses a credit whose points would have expired already
// at now. The store checks it after the key is looked up, so that a retry
// after that time still replays the original.
func (r AdjustRequest) CheckExpiresAt(now time.Time) error {
	if !r.ExpiresAt.IsZero() && !r.ExpiresAt.After(now) {
		return fieldErr("expiresAt", fmt.Sprintf("%s is past: the points would expire at once", r.ExpiresAt.UTC().Format(time.RFC3339)))
	}
	return nil
}

// firstError is the first of errs that is not nil: a request's fields are
// checked in order and the first failure is the one reported.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Normalize validates the request and returns its canonical form with the
// idempotency key cleared, used for hashing and storing.
func (r EnrollRequest) Normalize() (EnrollRequest, error) {
	if err := firstError(CheckKey(r.IdempotencyKey),
		checkID("memberId", r.MemberID)); err != nil {
		return r, err
	}
	if err := checkTags(r.Tags); err != nil {
		return r, err
	}
	if len(r.ReferralCode) > MaxIDLength {
		return r, fieldErr("referralCode", "longer than 128 bytes")
	}
	if reason := textProblem(r.ReferralCode); reason != "" {
		return r, fieldErr("referralCode", reason)
	}
	if err := checkTime("enrolledAt", r.EnrolledAt); err != nil {
		return r, err
	}
	r.IdempotencyKey = ""
	r.EnrolledAt = NormTime(r.EnrolledAt)
	return r, nil
}

// checkTag validates the tag at index i of tags.
func checkTag(i int, tag string) error {
	if reason := textProblem(tag); reason != "" {
		return fieldErr(fmt.Sprintf("tags[%d]", i), reason)
	}
	if n := utf8.RuneCountInString(tag); n == 0 || n > config.MaxTagLength {
		return fieldErr(fmt.Sprintf("tags[%d]", i), fmt.Sprintf("must be 1 to %d characters, as a campaign's memberTags", config.MaxTagLength))
	}
	return nil
}

// CheckPricedTier refuses the earn with ErrTierChanged when it was priced
// for another tier than tier, the member's now (see PricedTier).
func (r *EarnRequest) CheckPricedTier(tier string) error {
	if r.PricedTier == nil || *r.PricedTier == tier {
		return nil
	}
	return fmt.Errorf("%w: priced for tier %q, member %s is now in %q", ErrTierChanged, *r.PricedTier, r.MemberID, tier)
}

// CheckPricedTags refuses the earn with ErrTagsChanged when it was priced
// with another revision of the member's tags than rev, the member's now.
func (r *EarnRequest) CheckPricedTags(rev int64) error {
	if r.PricedTagsRev == nil || *r.PricedTagsRev == rev {
		return nil
	}
	return fmt.Errorf("%w: priced with revision %d of the tags of %s, now %d", ErrTagsChanged, *r.PricedTagsRev, r.MemberID, rev)
}

// CheckUnpriced validates every field of the request but its points and
// campaigns: what an event that earns nothing, and so is never written,
// must pass all the same, so that it is no way around validation.
func (r EarnRequest) CheckUnpriced() error {
	return firstError(r.checkIDs(), r.checkDetails())
}

func (r EarnRequest) checkIDs() error {
	return firstError(CheckKey(r.IdempotencyKey),
		checkID("memberId", r.MemberID),
		checkID("eventId", r.EventID))
}

// checkDetails checks the fields after the points.
func (r EarnRequest) checkDetails() error {
	if r.Limit != nil && r.Action == "" {
		return fieldErr("action", "required with a limit")
	}
	if err := checkText("action", r.Action); err != nil {
		return err
	}
	if len(r.Currency) > 8 {
		return fieldErr("currency", "longer than 8 bytes")
	}
	if reason := textProblem(r.Currency); reason != "" {
		return fieldErr("currency", reason)
	}
	if err := firstError(checkTime("occurredAt", r.OccurredAt),
		checkTime("availableAt", r.AvailableAt),
		checkTime("expiresAt", r.ExpiresAt)); err != nil {
		return err
	}
	if r.PurchaseAmount < 0 {
		return fieldErr("purchaseAmount", "must not be negative")
	}
	if exp, avail := NormTime(r.ExpiresAt), NormTime(r.AvailableAt); !exp.IsZero() && !exp.After(avail) {
		return fieldErr("expiresAt", "must be after availableAt")
	}
	return nil
}

// checkPoints checks the points and the campaigns' attributions: the total
// before caps must be positive but for a purchase, whose spend is recorded
// whatever the points. Points without campaigns may be zero when a
// campaign bonus makes the event earn.
func (r EarnRequest) checkPoints() error {
	total := r.Points
	if r.Points < 0 || r.Points > MaxPoints {
		return fieldErr("points", "must be 0 to 2^40")
	}
	for i, c := range r.Campaigns {
		// The field names are built only for an error: a priced event
		// carries one attribution per applied campaign.
		if reason := idProblem(c.Campaign); reason != "" {
			return fieldErr(fmt.Sprintf("campaigns[%d].campaign", i), reason)
		}
		if reason := positiveProblem(c.Attributed); reason != "" {
			return fieldErr(fmt.Sprintf("campaigns[%d].attributed", i), reason)
		}
		total += c.Attributed
	}
	if r.PurchaseAmount < 0 {
		return fieldErr("purchaseAmount", "must not be negative")
	}
	if r.PurchaseAmount == 0 || total != 0 {
		return checkPositive("points", total)
	}
	return nil
}

// Normalize validates the request and returns its canonical form.
func (r EarnRequest) Normalize() (EarnRequest, error) {
	if err := firstError(r.checkIDs(), r.checkPoints(), r.checkDetails()); err != nil {
		return r, err
	}
	r.IdempotencyKey = ""
	r.OccurredAt = NormTime(r.OccurredAt)
	r.AvailableAt = NormTime(r.AvailableAt)
	r.ExpiresAt = NormTime(r.ExpiresAt)
	return r, nil
}

// Normalize validates the batch shape; items are validated one by one.
func (r EarnBatchRequest) Normalize() error {
	switch {
	case len(r.Events) == 0:
		return fieldErr("events", "required")
	case len(r.Events) > MaxBatchEvents:
		return fieldErr("events", fmt.Sprintf("more than %d events", MaxBatchEvents))
	}
	return nil
}

// Normalize validates the request and returns its canonical form.
func (r RedeemRequest) Normalize() (RedeemRequest, error) {
	if err := firstError(CheckKey(r.IdempotencyKey),
		checkID("memberId", r.MemberID),
		checkPositive("points", r.Points),
		checkText("reference", r.Reference),
		checkText("reason", r.Reason)); err != nil {
		return r, err
	}
	r.IdempotencyKey = ""
	return r, nil
}

// Normalize validates the request and returns its canonical form.
func (r ReverseRequest) Normalize() (ReverseRequest, error) {
	if err := firstError(CheckKey(r.IdempotencyKey),
		checkID("memberId", r.MemberID),
		checkID("eventId", r.EventID)); err != nil {
		return r, err
	}
	if r.Points != 0 {
		if err := checkPositive("points", r.Points); err != nil {
			return r, err
		}
	}
	switch {
	case r.RefundAmount < 0:
		return r, fieldErr("refundAmount", "must not be negative")
	case r.RefundAmount > 0 && r.Points != 0:
		return r, fieldErr("refundAmount", "give points or refundAmount, not both")
	}
	if err := firstError(checkText("reference", r.Reference),
		checkText("reason", r.Reason)); err != nil {
		return r, err
	}
	r.IdempotencyKey = ""
	return r, nil
}

// Normalize validates the request and returns its canonical form.
func (r AdjustRequest) Normalize() (AdjustRequest, error) {
	if err := firstError(CheckKey(r.IdempotencyKey),
		checkID("memberId", r.MemberID)); err != nil {
		return r, err
	}
	switch {
	case r.Points == 0:
		return r, fieldErr("points", "must not be zero")
	case r.Points > MaxPoints || r.Points < -MaxPoints:
		return r, fieldErr("points", "too large")
	}
	if r.Reason == "" {
		return r, fieldErr("reason", "required")
	}
	if err := firstError(checkText("reason", r.Reason),
		checkText("reference", r.Reference)); err != nil {
		return r, err
	}
	if r.Points < 0 && !r.ExpiresAt.IsZero() {
		return r, fieldErr("expiresAt", "only for positive adjustments")
	}
	if err := checkTime("expiresAt", r.ExpiresAt); err != nil {
		return r, err
	}
	r.IdempotencyKey = ""
	r.ExpiresAt = NormTime(r.ExpiresAt)
	return r, nil
}

// Normalize validates the query, applies the default limit and decodes the
// cursor into the sequence number entries must be below (0 for the first page).
func (q HistoryQuery) Normalize() (HistoryQuery, int64, error) {
	if err := checkID("memberId", q.MemberID); err != nil {
		return q, 0, err
	}
	switch {
	case q.Limit == 0:
		q.Limit = DefaultHistoryPage
	case q.Limit < 0 || q.Limit > MaxHistoryLimit:
		return q, 0, fieldErr("limit", fmt.Sprintf("must be 1 to %d", MaxHistoryLimit))
	}
	if q.Cursor == "" {
		return q, 0, nil
	}
	before, err := decodeCursor(q.Cursor)
	if err != nil {
		return q, 0, fieldErr("cursor", "malformed")
	}
	return q, before, nil
}

// CheckMemberID validates a member id given outside a request body.
func CheckMemberID(id string) error { return checkID("memberId", id) }

// CheckEventID validates an event id given outside a write (a dry run).
func CheckEventID(id string) error { return checkID("eventId", id) }

// EncodeCursor makes the opaque cursor for entries below seq.
func EncodeCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("s" + strconv.FormatInt(seq, 10)))
}

func decodeCursor(c string) (int64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(raw) < 2 || raw[0] != 's' {
		return 0, fmt.Errorf("malformed cursor")
	}
	seq, err := strconv.ParseInt(string(raw[1:]), 10, 64)
	if err != nil || seq <= 0 {
		return 0, fmt.Errorf("malformed cursor")
	}
	return seq, nil
}

// NewItemError describes err for a batch item.
func NewItemError(err error) *ItemError {
	ie := &ItemError{Code: ErrorCode(err), Message: err.Error()}
	var fe *FieldError
	if errors.As(err, &fe) {
		ie.Field = fe.Field
	}
	return ie
}

// BatchItemError prefixes the field of a validation error with the item's
// position, e.g. "events[3].points"; other errors are returned unchanged.
func BatchItemError(index int, err error) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		return &FieldError{Field: fmt.Sprintf("events[%d].%s", index, fe.Field), Reason: fe.Reason}
	}
	return err
}

// RefundPoints is the share of earned points matching refund of purchase,
// rounded half up: earned*refund/purchase without overflow. The caller
// ensures 0 < refund <= purchase.
func RefundPoints(earned, refund, purchase int64) int64 {
	hi, lo := bits.Mul64(uint64(earned), uint64(refund))
	lo, carry := bits.Add64(lo, uint64(purchase/2), 0)
	hi += carry
	q, _ := bits.Div64(hi, lo, uint64(purchase))
	return int64(q)
}
