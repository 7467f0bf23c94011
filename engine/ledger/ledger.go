// Package ledger is the points ledger: members, append-only entries, earn lots
// and materialised balances. It knows nothing of HTTP or Kubernetes; stores
// (SQLite, PostgreSQL) implement Store and the service layers call it.
package ledger

import (
	"context"
	"errors"
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
)

// Member is an enrolled customer.
type Member struct {
	ID         string    `json:"id"`
	Tags       []string  `json:"tags,omitempty"`
	EnrolledAt time.Time `json:"enrolledAt"`
}

// Balance is a member's materialised balance. Invariants: Available equals the
// sum of the entries' available deltas and the remaining points of the
// member's live available lots; Pending likewise for pending deltas and lots;
// Available is never negative.
type Balance struct {
	Available      int64 `json:"available"`
	Pending        int64 `json:"pending"`
	LifetimeEarned int64 `json:"lifetimeEarned"`
}

// Entry is one append-only ledger line. Available and Pending are the signed
// changes it made to the balance.
type Entry struct {
	Seq       int64     `json:"seq"`
	MemberID  string    `json:"memberId"`
	Kind      EntryKind `json:"kind"`
	Available int64     `json:"available"`
	Pending   int64     `json:"pending"`
	EventID   string    `json:"eventId,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	At        time.Time `json:"at"`
}

// Errors the ledger returns; callers map them to API responses.
var (
	ErrMemberNotFound     = errors.New("member not found")
	ErrMemberExists       = errors.New("member already enrolled")
	ErrEventNotFound      = errors.New("event not found")
	ErrDuplicateEvent     = errors.New("event already recorded")
	ErrInsufficientPoints = errors.New("insufficient available points")
	ErrIdempotencyReuse   = errors.New("idempotency key reused with a different request")
	ErrStoreUnavailable   = errors.New("store unavailable")
)

// Store is a durable ledger. Every write is atomic, applied at most once per
// idempotency key, and durable before it returns.
type Store interface {
	// Close finishes in-flight writes and releases the store.
	Close() error
	// Ping reports whether the store is reachable.
	Ping(ctx context.Context) error
}
