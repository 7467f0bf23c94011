// Package rules computes what an event earns under a configuration snapshot.
// It is pure: no clock, no store, no I/O, so every rule is table-testable.
// Price applies the earn rate, the tier multiplier and campaigns with their
// caps and explains the result; EvaluateTier, the referral checks,
// CheckRedemption and ComputeKPIs take the member's or program's state as
// input and return decisions that the store applies atomically.
package rules

import (
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
)

// MaxClockSkew is how far in the future an event's occurredAt or a
// member's enrolledAt may be, to tolerate clocks of shops, POS terminals
// and the engine's replicas running slightly apart.
const MaxClockSkew = 5 * time.Minute

// Purchase is an event to price.
type Purchase struct {
	// Amount spent, in the program's currency.
	Amount config.Decimal
	// OccurredAt is when the purchase happened.
	OccurredAt time.Time
}

// Earning is what a purchase earns.
type Earning struct {
	// Points is the whole points after rounding; it may be zero.
	Points int64
	// AvailableAt ends the pending period (OccurredAt + pendingPeriod).
	AvailableAt time.Time
	// ExpiresAt is OccurredAt + expiry.afterEarn, or zero for points that do
	// not expire per lot.
	ExpiresAt time.Time
}

// ErrTooLate and ErrInFuture refuse events by their occurrence time.
var (
	ErrTooLate  = errors.New("event is older than the late-event grace period")
	ErrInFuture = errors.New("event occurs in the future")
)

// TimeError is an event refused for its occurredAt; it wraps ErrTooLate or ErrInFuture.
type TimeError struct {
	Kind   error
	Detail string
}

func (e *TimeError) Error() string { return e.Detail }
func (e *TimeError) Unwrap() error { return e.Kind }

// Earn prices a purchase at now under s: base points only, without tier
// multipliers and campaigns, which need the member's state; the HTTP API
// prices through Price with the member context the store reads, and the
// store enforces the campaigns' caps when it writes.
func Earn(s *config.Snapshot, p Purchase, now time.Time) (Earning, error) {
	base := *s
	base.Tiers, base.Campaigns = nil, nil
	pr, err := Price(&base, Event{Kind: EventPurchase, Amount: p.Amount, OccurredAt: p.OccurredAt}, MemberContext{}, now)
	if err != nil {
		return Earning{}, err
	}
	return Earning{Points: pr.Points, AvailableAt: pr.AvailableAt, ExpiresAt: pr.ExpiresAt}, nil
}

// BasePoints is amount × rate rounded to whole points by mode (Floor,
// Nearest rounding half up, or Ceiling). Both operands are exact decimals
// with four places, so the product is exact in 1/10^8 units; big.Int keeps it
// exact for every amount and rate the snapshot allows.
func BasePoints(amount, rate config.Decimal, mode string) int64 {
	const scale = config.DecimalScale * config.DecimalScale
	prod := new(big.Int).Mul(big.NewInt(amount.Units()), big.NewInt(rate.Units()))
	switch mode {
	case config.RoundingCeiling:
		prod.Add(prod, big.NewInt(scale-1))
	case config.RoundingNearest:
		prod.Add(prod, big.NewInt(scale/2))
	}
	return prod.Quo(prod, big.NewInt(scale)).Int64()
}

// MinorUnits is the number of decimal places of an ISO 4217 currency: 2 for
// most, 0 for currencies such as JPY, 3 for currencies such as KWD.
func MinorUnits(currency string) int {
	switch currency {
	case "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF":
		return 0
	case "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND":
		return 3
	case "CLF", "UYW":
		return 4
	}
	return 2
}

// ToMinor converts an amount to integer minor units of currency (cents for
// EUR), failing when it has more decimal places than the currency.
func ToMinor(amount config.Decimal, currency string) (int64, error) {
	div := int64(1)
	for range 4 - MinorUnits(currency) {
		div *= 10
	}
	if amount.Units()%div != 0 {
		return 0, fmt.Errorf("%s has at most %d decimal places in %s", amount, MinorUnits(currency), currency)
	}
	return amount.Units() / div, nil
}
