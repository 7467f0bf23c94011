package events

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// NATS publishes each event, as a structured CloudEvent, to JetStream on
// <Prefix>.<event type> with the event id as Nats-Msg-Id, so the server
// drops a second publish of an event within the stream's duplicate window.
type NATS struct {
	SinkName string
	Source   string // the CloudEvents source (Source)
	Prefix   string // e.g. loyalty.shop
	JS       jetstream.JetStream
	// Stream must capture Prefix.>; it is created when missing if Create
	// is set, else a missing stream fails delivery.
	Stream string
	Create bool
	// DuplicateWindow of a created stream; 10 minutes when zero.
	DuplicateWindow time.Duration

	// checked is set once the stream was found or created; Send is called
	// from one goroutine, the sink's deliverer.
	checked bool
}

// Name implements Sink.
func (n *NATS) Name() string { return n.SinkName }

// Subject is where an event type is published.
func (n *NATS) Subject(typ ledger.EventType) string { return n.Prefix + "." + string(typ) }

// Send implements Sink.
func (n *NATS) Send(ctx context.Context, ev ledger.OutboxEvent) error {
	if err := n.ensureStream(ctx); err != nil {
		return err
	}
	body, err := Structured(n.Source, ev)
	if err != nil {
		return err
	}
	msg := nats.NewMsg(n.Subject(ev.Type))
	msg.Data = body
	msg.Header.Set("Content-Type", ContentType)
	ack, err := n.JS.PublishMsg(ctx, msg, jetstream.WithMsgID(ev.ID), jetstream.WithExpectStream(n.Stream))
	if err != nil {
		return fmt.Errorf("nats %s: publish %s: %w", n.SinkName, ev.ID, err)
	}
	_ = ack.Duplicate // a duplicate is delivered already: success
	return nil
}

// ensureStream checks once that the stream exists, creating it if asked.
// A failure is tried again at the next Send.
func (n *NATS) ensureStream(ctx context.Context) error {
	if n.checked {
		return nil
	}
	if err := n.checkStream(ctx); err != nil {
		return err
	}
	n.checked = true
	return nil
}

func (n *NATS) checkStream(ctx context.Context) error {
	_, err := n.JS.Stream(ctx, n.Stream)
	switch {
	case err == nil:
		return nil
	case !errors.Is(err, jetstream.ErrStreamNotFound) || !n.Create:
		return fmt.Errorf("nats %s: stream %s: %w", n.SinkName, n.Stream, err)
	}
	window := n.DuplicateWindow
	if window <= 0 {
		window = 10 * time.Minute
	}
	_, err = n.JS.CreateStream(ctx, jetstream.StreamConfig{Name: n.Stream, Subjects: []string{n.Prefix + ".>"}, Duplicates: window})
	if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return fmt.Errorf("nats %s: create stream %s: %w", n.SinkName, n.Stream, err)
	}
	return nil
}
