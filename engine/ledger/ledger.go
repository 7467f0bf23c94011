// Package ledger is the points ledger: members, append-only entries, earn lots
// and materialised balances. It knows nothing of HTTP or Kubernetes; stores
// (SQLite, PostgreSQL) implement Ledger and the service layers call it.
package ledger

import (
	"errors"
	"fmt"
	"time"
)

// EntryKind is what a ledger entry records.
type EntryKind string

const (
	// EntryEarn credits points from a purchase or action (pending or available).
	EntryEarn EntryKind = "earn"
	// EntryRelease moves points from pending to available when their pending period ends.
	EntryRelease EntryKind = "release"
	// EntryRedeem debits available points.
	EntryRedeem EntryKind = "redeem"
	// EntryReverse claws back the points of an earlier earn (refund or return).
	EntryReverse EntryKind = "reverse"
	// EntryAdjust is an admin correction, positive or negative, with a reason.
	EntryAdjust EntryKind = "adjust"
	// EntryExpire removes points whose lot expired.
	EntryExpire EntryKind = "expire"
	// EntryTier records a tier change with zero point deltas: Reference is
	// the new tier, Reason says "upgrade from X" or "downgrade from X".
	EntryTier EntryKind = "tier"
)

// Member is an enrolled customer.
type Member struct {
	ID         string    `json:"memberId"`
	Tags       []string  `json:"tags,omitempty"`
	EnrolledAt time.Time `json:"enrolledAt"`
	// ReferralCode is the member's own code to refer others with.
	ReferralCode string `json:"referralCode,omitempty"`
}

// Balance is a member's materialised balance. Invariants: Available equals the
// sum of the entries' available deltas and the remaining points of the
// member's available lots; Pending likewise for pending deltas and lots;
// neither is ever negative.
type Balance struct {
	Available int64 `json:"available"`
	Pending   int64 `json:"pending"`
	// LifetimeEarned counts points credited by earns and positive adjustments,
	// minus reversed points; redemptions and expiry do not lower it.
	LifetimeEarned int64 `json:"lifetimeEarned"`
}

// Entry is one append-only ledger line. Available, Pending and Lifetime are
// the signed changes it made to the balance.
type Entry struct {
	Seq       int64     `json:"seq"`
	MemberID  string    `json:"memberId"`
	Kind      EntryKind `json:"kind"`
	Available int64     `json:"available"`
	Pending   int64     `json:"pending"`
	Lifetime  int64     `json:"lifetime"`
	EventID   string    `json:"eventId,omitempty"`
	Reference string    `json:"reference,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	// Shortfall is the part of a reversal that could not be clawed back
	// because the member had already spent or lost the points.
	Shortfall int64     `json:"shortfall,omitempty"`
	At        time.Time `json:"at"`
}

// Errors the ledger returns; callers map them to API responses (see ErrorCode).
var (
	ErrInvalidRequest     = errors.New("invalid request")
	ErrMemberNotFound     = errors.New("member not found")
	ErrMemberExists       = errors.New("member already enrolled")
	ErrEventNotFound      = errors.New("event not found")
	ErrDuplicateEvent     = errors.New("event already recorded")
	ErrNothingToReverse   = errors.New("event already fully reversed")
	ErrInsufficientPoints = errors.New("insufficient available points")
	ErrIdempotencyReuse   = errors.New("idempotency key reused with a different request")
	ErrStoreUnavailable   = errors.New("store unavailable")
	ErrClosed             = errors.New("store closed")
	// ErrTierChanged refuses an earn priced for a tier the member no longer
	// has (see EarnRequest.PricedTier); nothing was written.
	ErrTierChanged = errors.New("member's tier changed since the event was priced")
	// ErrTagsChanged refuses an earn priced with tags the member no longer
	// has (see EarnRequest.PricedTagsRev); nothing was written. It matches
	// ErrTierChanged, whose retry with a fresh pricing it shares.
	ErrTagsChanged error = tagsChanged{}
	// ErrReadAborted ends a read that held its snapshot of the ledger
	// longer than the store allows (a client that stopped reading an
	// export, a long analytics query): on SQLite such a reader would keep
	// the write-ahead log from being checkpointed and restarted.
	ErrReadAborted = errors.New("read aborted: it held its snapshot of the ledger too long")
)

// InsufficientPointsError refuses a debit of more points than the member
// has available; it matches ErrInsufficientPoints with errors.Is.
type InsufficientPointsError struct {
	// Needed is what the request would debit, Available what the member
	// has that can be spent (pending points cannot).
	Needed    int64
	Available int64
}

func (e *InsufficientPointsError) Error() string {
	return fmt.Sprintf("%v: %d needed, %d available", ErrInsufficientPoints, e.Needed, e.Available)
}

// Is makes errors.Is(err, ErrInsufficientPoints) true.
func (e *InsufficientPointsError) Is(target error) bool { return target == ErrInsufficientPoints }

// States of StoreHealth.
const (
	// StoreOK: writes are taken.
	StoreOK = "ok"
	// StoreDiskFull: a write or checkpoint failed for lack of room; writes
	// are refused until the volume has room again.
	StoreDiskFull = "disk_full"
	// StoreWriteFailed: the last write failed because the database cannot
	// be written (an I/O error, a read-only volume); writes are tried and
	// the state clears with the first that succeeds.
	StoreWriteFailed = "write_failed"
	// StoreCheckpointStalled: writes are taken, but the write-ahead log is
	// over its limit and readers keep it from being restarted (SQLite).
	StoreCheckpointStalled = "checkpoint_stalled"
)

// StoreHealth is the store's write health.
type StoreHealth struct {
	// State is StoreOK or one of the other states above.
	State string `json:"state"`
	// Writable is false while writes fail or are refused (disk_full,
	// write_failed); the engine is then not ready.
	Writable bool `json:"writable"`
	// Reason says what is wrong, empty when the state is ok.
	Reason string `json:"reason,omitempty"`
	// Since is when the store entered the state.
	Since time.Time `json:"since"`
}

// FieldError is a validation failure of one request field. It matches
// ErrInvalidRequest with errors.Is. Field uses the JSON name, with an index for
// batch items (e.g. "events[3].points").
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

func (e *FieldError) Error() string { return fmt.Sprintf("invalid %s: %s", e.Field, e.Reason) }

// Unwrap makes errors.Is(err, ErrInvalidRequest) true.
func (e *FieldError) Unwrap() error { return ErrInvalidRequest }

func fieldErr(field, reason string) error { return &FieldError{Field: field, Reason: reason} }

// ErrorCode is a stable, machine-readable code for err, used in batch results
// and problem responses. Unknown errors are "internal".
func ErrorCode(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrInvalidRequest):
		return "invalid_request"
	case errors.Is(err, ErrMemberNotFound):
		return "member_not_found"
	case errors.Is(err, ErrMemberExists):
		return "member_exists"
	case errors.Is(err, ErrEventNotFound):
		return "event_not_found"
	case errors.Is(err, ErrDuplicateEvent):
		return "duplicate_event"
	case errors.Is(err, ErrNothingToReverse):
		return "nothing_to_reverse"
	case errors.Is(err, ErrInsufficientPoints):
		return "insufficient_points"
	case errors.Is(err, ErrIdempotencyReuse):
		return "idempotency_key_reused"
	case errors.Is(err, ErrTierChanged):
		return "tier_changed"
	case errors.Is(err, ErrMemberErased):
		return "member_erased"
	case errors.Is(err, ErrRedemptionNotFound):
		return "redemption_not_found"
	case errors.Is(err, ErrRedemptionCancelled):
		return "redemption_cancelled"
	case errors.Is(err, ErrMembershipState):
		return "membership_state"
	case errors.Is(err, ErrNoMembership):
		return "membership_not_found"
	case errors.Is(err, ErrReadAborted):
		return "read_aborted"
	case errors.Is(err, ErrStoreUnavailable), errors.Is(err, ErrClosed):
		return "unavailable"
	default:
		return "internal"
	}
}

type tagsChanged struct{}

func (tagsChanged) Error() string { return "member's tags changed since the event was priced" }

// Is makes errors.Is(err, ErrTierChanged) true.
func (tagsChanged) Is(target error) bool { return target == ErrTierChanged }
