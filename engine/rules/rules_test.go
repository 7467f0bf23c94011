package rules

import (
	"errors"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
)

func TestBasePoints(t *testing.T) {
	tests := []struct {
		amount, rate, mode string
		want               int64
	}{
		{"10", "1", config.RoundingFloor, 10},
		{"9.99", "1", config.RoundingFloor, 9},
		{"9.99", "1", config.RoundingNearest, 10},
		{"9.49", "1", config.RoundingNearest, 9},
		{"9.5", "1", config.RoundingNearest, 10},
		{"9.01", "1", config.RoundingCeiling, 10},
		{"9", "1", config.RoundingCeiling, 9},
		{"3.3", "2.5", config.RoundingFloor, 8},   // 8.25
		{"3.3", "2.5", config.RoundingNearest, 8}, // 8.25
		{"3.3", "2.5", config.RoundingCeiling, 9},
		{"0.0001", "0.0001", config.RoundingCeiling, 1},
		{"0.0001", "0.0001", config.RoundingNearest, 0},
		{"0", "5", config.RoundingCeiling, 0},
		{"12.34", "0", config.RoundingCeiling, 0},
		// The largest values the snapshot allows overflow int64 in 1/10^8 units; big.Int keeps them exact.
		{"999999999.9999", "999999999.9999", config.RoundingFloor, 999999999999800000},
	}
	for _, tt := range tests {
		got := BasePoints(config.MustDecimal(tt.amount), config.MustDecimal(tt.rate), tt.mode)
		if got != tt.want {
			t.Errorf("BasePoints(%s × %s, %s) = %d, want %d", tt.amount, tt.rate, tt.mode, got, tt.want)
		}
	}
}

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

func TestEarn(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		s          *config.Snapshot
		amount     string
		occurredAt time.Time
		want       Earning
		err        error
		detail     string
	}{
		{name: "now, no pending, no expiry", s: snapshot("0s", ""), amount: "12.5", occurredAt: now,
			want: Earning{Points: 25, AvailableAt: now}},
		{name: "pending and expiry from occurrence", s: snapshot("14d", "365d"), amount: "10", occurredAt: now.Add(-time.Hour),
			want: Earning{Points: 20, AvailableAt: now.Add(-time.Hour + 14*24*time.Hour), ExpiresAt: now.Add(-time.Hour + 365*24*time.Hour)}},
		{name: "inside grace", s: snapshot("0s", ""), amount: "1", occurredAt: now.Add(-72 * time.Hour),
			want: Earning{Points: 2, AvailableAt: now.Add(-72 * time.Hour)}},
		{name: "too late", s: snapshot("0s", ""), amount: "1", occurredAt: now.Add(-72*time.Hour - time.Second),
			err: ErrTooLate, detail: "occurred at 2026-05-29T11:59:59Z, more than the late-event grace period 3d ago"},
		{name: "small clock skew", s: snapshot("0s", ""), amount: "1", occurredAt: now.Add(MaxClockSkew),
			want: Earning{Points: 2, AvailableAt: now.Add(MaxClockSkew)}},
		{name: "future", s: snapshot("0s", ""), amount: "1", occurredAt: now.Add(time.Hour),
			err: ErrInFuture, detail: "occurred at 2026-06-01T13:00:00Z, more than 5m0s in the future"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Earn(tt.s, Purchase{Amount: config.MustDecimal(tt.amount), OccurredAt: tt.occurredAt}, now)
			if tt.err != nil {
				if !errors.Is(err, tt.err) || err.Error() != tt.detail {
					t.Fatalf("error = %v, want %v with %q", err, tt.err, tt.detail)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Earn = %+v, want %+v", got, tt.want)
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
