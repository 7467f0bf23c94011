package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const eventsBase = `{"version": "loyaltyops.io/snapshot/v1",
  "program": {"name": "club", "namespace": "shop", "displayName": "Club", "currency": "EUR"},
  "points": {"earnRate": "1", "pendingPeriod": "0s", "expiry": {"afterEarn": "365d"}, "lateEventGracePeriod": "72h"},
  "events": %s}`

func TestEventsPolicy(t *testing.T) {
	s, err := Parse([]byte(strings.Replace(eventsBase, "%s", `{"webhooks": [{"name": "crm", "url": "https://crm.example/h",
	  "secretFile": "/var/run/loyaltyops/events/crm/secret"}], "nats": [{"name": "bus", "url": "nats://nats:4222", "stream": "LOYALTY"}]}`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	p := s.Events
	if p.Attempts() != DefaultEventMaxAttempts || p.RetentionOrDefault() != DefaultEventRetention ||
		p.Webhooks[0].TimeoutOrDefault() != DefaultWebhookTimeout || p.NATS[0].Prefix("club") != "loyalty.club" {
		t.Fatalf("defaults: %+v", p)
	}
	if _, err := Parse([]byte(strings.Replace(eventsBase, "%s", `{"ingest": [{"name": "pos", "url": "nats://nats:4222",
	  "stream": "PURCHASES", "filterSubject": "pos.*.purchases", "parkSubject": "pos.parked"}]}`, 1))); err != nil {
		t.Fatalf("ingest: %v", err)
	}
	if s, err := Parse([]byte(strings.Replace(eventsBase, "%s", `{"maxAttempts": 3, "retention": "2d"}`, 1))); err != nil ||
		s.Events.Attempts() != 3 || s.Events.RetentionOrDefault() != 48*time.Hour {
		t.Fatalf("set values: %+v, %v", s, err)
	}
}

func TestEventsPolicyRefusals(t *testing.T) {
	for _, tc := range []struct{ events, field string }{
		{`{"maxAttempts": -1}`, "events.maxAttempts"},
		{`{"retention": "0s"}`, "events.retention"},
		{`{"webhooks": [{"name": "crm", "url": "ftp://x", "secretFile": "/s"}]}`, "events.webhooks[crm].url"},
		{`{"webhooks": [{"name": "crm", "url": "https://x"}]}`, "events.webhooks[crm].secretFile"},
		{`{"webhooks": [{"name": "crm", "url": "https://x", "secretFile": "../s"}]}`, "events.webhooks[crm].secretFile"},
		{`{"webhooks": [{"name": "crm", "url": "https://x", "secretFile": "/s"}], "nats": [{"name": "crm", "url": "nats://n", "stream": "S"}]}`, "events.nats[crm].name"},
		{`{"nats": [{"name": "bus", "url": "http://n", "stream": "S"}]}`, "events.nats[bus].url"},
		{`{"nats": [{"name": "bus", "url": "nats://n", "stream": "a b"}]}`, "events.nats[bus].stream"},
		{`{"nats": [{"name": "bus", "url": "nats://n", "stream": "S", "subjectPrefix": "a.*"}]}`, "events.nats[bus].subjectPrefix"},
		{`{"ingest": [{"name": "pos", "url": "nats://n", "stream": "S", "parkSubject": "p.>"}]}`, "events.ingest[pos].parkSubject"},
		{`{"ingest": [{"name": "pos", "url": "nats://n", "stream": "S", "parkSubject": "p", "filterSubject": "a.>.b"}]}`, "events.ingest[pos].filterSubject"},
		{`{"ingest": [{"name": "pos", "url": "nats://n", "stream": "", "parkSubject": "p"}]}`, "events.ingest[pos].stream"},
	} {
		_, err := Parse([]byte(strings.Replace(eventsBase, "%s", tc.events, 1)))
		var ve *ValidationError
		if !errors.As(err, &ve) || !strings.Contains(err.Error(), tc.field+":") {
			t.Errorf("%s: %v, want an error naming %s", tc.events, err, tc.field)
		}
	}
}
