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
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
)

// MaxClockSkew is how far in the future an event's occurredAt or a
// member's enrolledAt may be, to tolerate clocks of shops, POS terminals
// and the engine's replicas running slightly apart.
const MaxClockSkew = 5 * time.Minute

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
