package strictjson

import "testing"

// earnBody is a typical single earn.
var earnBody = []byte(`{"idempotencyKey":"pos-17-order-1001","memberId":"alice","eventId":"order-1001","amount":"12.40","occurredAt":"2026-11-24T13:04:05Z"}`)

type earnEvent struct {
	IdempotencyKey string `json:"idempotencyKey"`
	MemberID       string `json:"memberId"`
	EventID        string `json:"eventId"`
	Amount         string `json:"amount,omitempty"`
	Action         string `json:"action,omitempty"`
	Currency       string `json:"currency,omitempty"`
	OccurredAt     string `json:"occurredAt"`
}

// BenchmarkUnmarshalEarn decodes a single earn's body, as every earn does.
func BenchmarkUnmarshalEarn(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		var ev earnEvent
		if err := Unmarshal(earnBody, &ev); err != nil {
			b.Fatal(err)
		}
	}
}
