package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// EventType names a state change other systems may subscribe to. Each is
// appended to the outbox in the transaction of the write that made it.
type EventType string

// The event types emitted. docs/events.md is the catalogue, with a JSON
// Schema of each type's data.
const (
	EventMemberEnrolled    EventType = "member.enrolled"
	EventMemberUpdated     EventType = "member.updated"
	EventMemberErased      EventType = "member.erased"
	EventPointsEarned      EventType = "points.earned"
	EventPointsRedeemed    EventType = "points.redeemed"
	EventPointsReleased    EventType = "points.released"
	EventPointsReversed    EventType = "points.reversed"
	EventPointsAdjusted    EventType = "points.adjusted"
	EventPointsExpired     EventType = "points.expired"
	EventTierChanged       EventType = "tier.changed"
	EventRewardRedeemed    EventType = "reward.redeemed"
	EventRewardCancelled   EventType = "reward.cancelled"
	EventReferralConverted EventType = "referral.converted"
	EventCampaignExhausted EventType = "campaign.budget_exhausted"
	EventMembershipChanged EventType = "membership.changed"
)

// EventTypes lists every emitted type.
var EventTypes = []EventType{
	EventMemberEnrolled, EventMemberUpdated, EventMemberErased, EventPointsEarned, EventPointsRedeemed, EventPointsReleased, EventPointsReversed,
	EventPointsAdjusted, EventPointsExpired, EventTierChanged, EventRewardRedeemed, EventRewardCancelled,
	EventReferralConverted, EventCampaignExhausted, EventMembershipChanged,
}

// OutboxEvent is one row of the outbox.
type OutboxEvent struct {
	// Seq is the delivery order: it increases with commit order, without
	// gaps, across every process sharing the database.
	Seq int64
	// ID is the event's stable id, the same on every delivery.
	ID       string
	Type     EventType
	MemberID string
	Occurred time.Time
	Data     json.RawMessage
}

// DeadLetter is an event a sink gave up on.
type DeadLetter struct {
	Sink     string
	Seq      int64
	Attempts int
	Reason   string
	At       time.Time
}

// Redelivery asks for a sink to be sent a range of the outbox again.
type Redelivery struct {
	IdempotencyKey string
	Sink           string
	FromSeq, ToSeq int64
}

// Errors of the outbox.
var (
	// ErrRedeliveryRange: fromSequence after toSequence, or below 1.
	ErrRedeliveryRange = errors.New("fromSequence must be at least 1 and at most toSequence")
)

// Outbox is the store side of event delivery: the outbox in sequence
// order, each sink's cursor and dead letters, redelivery requests and
// pruning. Delivery itself (engine/events) knows no SQL.
type Outbox interface {
	// OutboxAfter returns at most limit events after seq, in order.
	OutboxAfter(ctx context.Context, seq int64, limit int) ([]OutboxEvent, error)
	// OutboxHead is the highest sequence appended (0 when none).
	OutboxHead(ctx context.Context) (int64, error)
	// SinkCursor is the last sequence delivered to the sink (0 when none).
	SinkCursor(ctx context.Context, sink string) (int64, error)
	// AdvanceSink records seq as delivered to the sink; it never moves a
	// cursor back.
	AdvanceSink(ctx context.Context, sink string, seq int64) error
	// DeadLetter records that the sink gave up on an event.
	DeadLetter(ctx context.Context, d DeadLetter) error
	// DeadLetters lists a sink's dead letters in sequence order.
	DeadLetters(ctx context.Context, sink string) ([]DeadLetter, error)
	// RequestRedelivery records a redelivery request; a replayed key with
	// the same range is accepted again, with another range it is an
	// ErrIdempotencyReuse.
	RequestRedelivery(ctx context.Context, r Redelivery) error
	// PendingRedeliveries lists a sink's open requests, oldest first.
	PendingRedeliveries(ctx context.Context, sink string) ([]Redelivery, error)
	// FinishRedelivery closes a request.
	FinishRedelivery(ctx context.Context, key string) error
	// PruneOutbox deletes events every listed sink delivered that occurred
	// before cutoff, and returns how many.
	PruneOutbox(ctx context.Context, sinks []string, cutoff time.Time) (int64, error)
}
