package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/service"
)

// Earner is the earn use case (*service.Service).
type Earner interface {
	Earn(ctx context.Context, ev service.EarnEvent, body []byte) (ledger.EarnResult, error)
}

// Purchase is a message of an ingestion stream: the body of POST /v1/earn
// without its idempotency key, which is the message's Nats-Msg-Id.
type Purchase struct {
	MemberID   string `json:"memberId"`
	EventID    string `json:"eventId"`
	Amount     string `json:"amount,omitempty"`
	Action     string `json:"action,omitempty"`
	Currency   string `json:"currency,omitempty"`
	OccurredAt string `json:"occurredAt"`
}

// HeaderParkReason says why a parked message was not applied.
const HeaderParkReason = "Loyalty-Park-Reason"

// Ingest applies purchases and actions from a JetStream consumer through
// the earn use case. A message is acknowledged only once the ledger
// committed it (or replayed it: its Nats-Msg-Id is the idempotency key,
// so a message delivered again applies once). A message that cannot be
// applied (malformed, refused by the program's rules) is published to
// ParkSubject with the reason in HeaderParkReason and terminated, so it
// never blocks the stream; while the store is unavailable a message is
// negatively acknowledged and comes back later.
type Ingest struct {
	Consumer    jetstream.Consumer
	JS          jetstream.JetStream
	ParkSubject string
	Earner      Earner
	Log         *slog.Logger
	// Retry is the redelivery delay while the store is unavailable; 1s
	// when zero.
	Retry time.Duration
}

// Run consumes until ctx ends.
func (in *Ingest) Run(ctx context.Context) error {
	if in.Log == nil {
		in.Log = slog.New(slog.DiscardHandler)
	}
	if in.Retry <= 0 {
		in.Retry = time.Second
	}
	msgs, err := in.Consumer.Messages()
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	stop := context.AfterFunc(ctx, msgs.Stop)
	defer stop()
	for {
		msg, err := msgs.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			in.Log.Warn("ingestion: next message", "error", err.Error())
			continue
		}
		if err := in.Handle(ctx, msg); err != nil && ctx.Err() == nil {
			in.Log.Warn("ingestion: acknowledging", "subject", msg.Subject(), "error", err.Error())
		}
	}
}

// Handle applies one message and acknowledges it accordingly.
func (in *Ingest) Handle(ctx context.Context, msg jetstream.Msg) error {
	key := msg.Headers().Get(jetstream.MsgIDHeader)
	if key == "" {
		return in.park(ctx, msg, "the message has no "+jetstream.MsgIDHeader+" header, its idempotency key")
	}
	var p Purchase
	dec := json.NewDecoder(bytes.NewReader(msg.Data()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return in.park(ctx, msg, "malformed purchase: "+err.Error())
	}
	_, err := in.Earner.Earn(ctx, service.EarnEvent{IdempotencyKey: key, MemberID: p.MemberID, EventID: p.EventID,
		Amount: p.Amount, Action: p.Action, Currency: p.Currency, OccurredAt: p.OccurredAt}, msg.Data())
	switch {
	case err == nil:
		// Acknowledged only now, after the commit; DoubleAck waits for the
		// server, so a lost acknowledgement redelivers and replays.
		return msg.DoubleAck(ctx)
	case transient(err):
		in.Log.Info("ingestion: retrying later", "key", key, "error", err.Error())
		return msg.NakWithDelay(in.Retry)
	default:
		return in.park(ctx, msg, err.Error())
	}
}

// transient errors may succeed later: the message is retried.
func transient(err error) bool {
	return errors.Is(err, ledger.ErrStoreUnavailable) || errors.Is(err, ledger.ErrClosed) ||
		errors.Is(err, ledger.ErrTierChanged) || errors.Is(err, service.ErrNoConfiguration) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// park publishes the message with the reason to ParkSubject, then
// terminates it: it is not delivered again.
func (in *Ingest) park(ctx context.Context, msg jetstream.Msg, reason string) error {
	in.Log.Warn("ingestion: message parked", "subject", msg.Subject(), "reason", reason)
	out := nats.NewMsg(in.ParkSubject)
	out.Data = msg.Data()
	for k, v := range msg.Headers() {
		out.Header[k] = v
	}
	out.Header.Set(HeaderParkReason, reason)
	out.Header.Set("Loyalty-Original-Subject", msg.Subject())
	// The parked copy keeps no message id: the park stream must not drop
	// it as a duplicate of the original.
	out.Header.Del(jetstream.MsgIDHeader)
	if _, err := in.JS.PublishMsg(ctx, out); err != nil {
		_ = msg.NakWithDelay(in.Retry)
		return fmt.Errorf("park: %w", err)
	}
	// Terminated without a reason: servers before 2.10.4 ignore one; the
	// parked copy carries it.
	return msg.Term()
}
