package events

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// TypePrefix is put before an event type to make its CloudEvents type:
// points.earned is io.loyaltyops.points.earned.
const TypePrefix = "io.loyaltyops."

// ContentType is the media type of a structured CloudEvent in JSON.
const ContentType = "application/cloudevents+json; charset=utf-8"

// Source is the CloudEvents source of a program's events.
func Source(namespace, program string) string {
	return "/loyaltyops/" + namespace + "/" + program
}

// CloudEvent is the event as a CloudEvents 1.0 event: id the stable event
// id, source the program, subject the member, and the outbox sequence in
// the sequence extension.
func CloudEvent(source string, ev ledger.OutboxEvent) (event.Event, error) {
	e := event.New(event.CloudEventsVersionV1)
	e.SetID(ev.ID)
	e.SetSource(source)
	e.SetType(TypePrefix + string(ev.Type))
	e.SetSubject(ev.MemberID)
	e.SetTime(ev.Occurred)
	e.SetExtension("sequence", strconv.FormatInt(ev.Seq, 10))
	if err := e.SetData(event.ApplicationJSON, []byte(ev.Data)); err != nil {
		return e, fmt.Errorf("event %s: %w", ev.ID, err)
	}
	if err := e.Validate(); err != nil {
		return e, fmt.Errorf("event %s: %w", ev.ID, err)
	}
	return e, nil
}

// Structured is the event in CloudEvents' structured JSON format.
func Structured(source string, ev ledger.OutboxEvent) ([]byte, error) {
	e, err := CloudEvent(source, ev)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", ev.ID, err)
	}
	return body, nil
}
