package rules

import (
	"errors"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
)

func snapshot(pending, afterEarn string) *config.Snapshot {
	s := &config.Snapshot{Points: config.PointsPolicy{
		EarnRate:             config.MustDecimal("2"),
		Rounding:             config.RoundingFloor,
		PendingPeriod:        config.MustDuration(pending),
		LateEventGracePeriod: config.MustDuration("72h"),
	}}
	if afterEarn != "" {
		d := config.MustDuration(afterEarn)
		s.Points.Expiry = &config.PointsExpiry{AfterEarn: &d}
	}
	return s
}

// earning is what TestPriceTimes checks of a Pricing.
type earning struct {
	Points                 int64
	AvailableAt, ExpiresAt time.Time
}

// TestPriceTimes: pending and expiry count from the occurrence, and an event
// is refused past the late-event grace or beyond the clock skew ahead.
func TestPriceTimes(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		s          *config.Snapshot
		amount     string
		occurredAt time.Time
		want       earning
		err        error
		detail     string
	}{
		{name: "now, no pending, no expiry", s: snapshot("0s", ""), amount: "12.5", occurredAt: now,
			want: earning{Points: 25, AvailableAt: now}},
		{name: "pending and expiry from occurrence", s: snapshot("14d", "365d"), amount: "10", occurredAt: now.Add(-time.Hour),
			want: earning{Points: 20, AvailableAt: now.Add(-time.Hour + 14*24*time.Hour), ExpiresAt: now.Add(-time.Hour + 365*24*time.Hour)}},
		{name: "inside grace", s: snapshot("0s", ""), amount: "1", occurredAt: now.Add(-72 * time.Hour),
			want: earning{Points: 2, AvailableAt: now.Add(-72 * time.Hour)}},
		{name: "too late", s: snapshot("0s", ""), amount: "1", occurredAt: now.Add(-72*time.Hour - time.Second),
			err: ErrTooLate, detail: "occurred at 2026-05-29T11:59:59Z, more than the late-event grace period 3d ago"},
		{name: "small clock skew", s: snapshot("0s", ""), amount: "1", occurredAt: now.Add(MaxClockSkew),
			want: earning{Points: 2, AvailableAt: now.Add(MaxClockSkew)}},
		{name: "future", s: snapshot("0s", ""), amount: "1", occurredAt: now.Add(time.Hour),
			err: ErrInFuture, detail: "occurred at 2026-06-01T13:00:00Z, more than 5m0s in the future"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Price(tt.s, Event{Kind: EventPurchase, Amount: config.MustDecimal(tt.amount), OccurredAt: tt.occurredAt}, MemberContext{}, now)
			if tt.err != nil {
				if !errors.Is(err, tt.err) || err.Error() != tt.detail {
					t.Fatalf("error = %v, want %v with %q", err, tt.err, tt.detail)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := (earning{p.Points, p.AvailableAt, p.ExpiresAt}); got != tt.want {
				t.Errorf("Price = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestToMinor(t *testing.T) {
	tests := []struct {
		amount, currency string
		want             int64
		err              string
	}{
		{"12.34", "EUR", 1234, ""},
		{"12", "EUR", 1200, ""},
		{"12.345", "EUR", 0, "12.345 has at most 2 decimal places in EUR"},
		{"500", "JPY", 500, ""},
		{"500.5", "JPY", 0, "500.5 has at most 0 decimal places in JPY"},
		{"1.234", "KWD", 1234, ""},
	}
	for _, tt := range tests {
		got, err := ToMinor(config.MustDecimal(tt.amount), tt.currency)
		if (err == nil) != (tt.err == "") || (err != nil && err.Error() != tt.err) || got != tt.want {
			t.Errorf("ToMinor(%s, %s) = %d, %v; want %d, %q", tt.amount, tt.currency, got, err, tt.want, tt.err)
		}
	}
}
