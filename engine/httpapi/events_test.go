package httpapi

import (
	"context"
	"strings"
	"testing"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

var eventsSnapshot = strings.Replace(testSnapshot, `"points":`, `"events": {"webhooks": [{"name": "crm", "url": "https://crm.example/hooks",
    "secretFile": "/var/run/loyaltyops/events/crm/secret"}]},
  "points":`, 1)

func TestRedeliver(t *testing.T) {
	e := newEnv(t, eventsSnapshot)
	body := map[string]any{"idempotencyKey": "r1", "sink": "crm", "fromSequence": 1, "toSequence": 10}
	for range 2 { // the replay is accepted again
		if r := e.do(t, "POST", "/v1/admin/events/redeliver", adminKey, body); r.status != 202 {
			t.Fatalf("redeliver: %d %s", r.status, r.body)
		}
	}
	pending, err := e.store.(ledger.Outbox).PendingRedeliveries(context.Background(), "crm")
	if err != nil || len(pending) != 1 || pending[0].FromSeq != 1 || pending[0].ToSeq != 10 {
		t.Fatalf("pending %+v, %v", pending, err)
	}
	body["toSequence"] = 11
	if r := e.do(t, "POST", "/v1/admin/events/redeliver", adminKey, body); r.status != 409 {
		t.Fatalf("key reused for another range: %d %s", r.status, r.body)
	}
	for _, tc := range []struct {
		body    map[string]any
		field   string
		invalid bool // the document refuses it already
	}{
		{map[string]any{"idempotencyKey": "r2", "sink": "erp", "fromSequence": 1, "toSequence": 2}, "sink", false},
		{map[string]any{"idempotencyKey": "r2", "sink": "crm", "fromSequence": 5, "toSequence": 2}, "toSequence", false},
		{map[string]any{"idempotencyKey": "", "sink": "crm", "fromSequence": 1, "toSequence": 2}, "idempotencyKey", true},
	} {
		send := e.do
		if tc.invalid {
			send = e.doInvalid
		}
		r := send(t, "POST", "/v1/admin/events/redeliver", adminKey, tc.body)
		if r.status != 400 || !strings.Contains(string(r.body), `"field":"`+tc.field+`"`) {
			t.Errorf("%v: %d %s, want 400 naming %s", tc.body, r.status, r.body, tc.field)
		}
	}
}
