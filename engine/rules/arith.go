package rules

import (
	"math/big"
	"strings"

	"github.com/loyaltyops/loyalty-operator/engine/config"
)

// Exact arithmetic: a non-negative rational num/10^places, where every
// Decimal factor contributes four places. big.Int keeps products of many
// multipliers exact (fifty campaigns at "10" are 10^50).

var bigTen = big.NewInt(10)

func pow10(n int) *big.Int {
	if n < len(powersOf10) {
		return powersOf10[n]
	}
	return new(big.Int).Exp(bigTen, big.NewInt(int64(n)), nil)
}

// powersOf10 are 10^0 … 10^255, read only: rounding after each of many
// stacked multipliers needs a large power every time.
var powersOf10 = func() []*big.Int {
	p := make([]*big.Int, 256)
	p[0] = big.NewInt(1)
	for i := 1; i < len(p); i++ {
		p[i] = new(big.Int).Mul(p[i-1], bigTen)
	}
	return p
}()

// scaled is num / 10^places.
type scaled struct {
	num    *big.Int
	places int
}

func integer(n int64) scaled { return scaled{num: big.NewInt(n)} }

// times multiplies by a Decimal exactly. The Decimal's trailing zeros are
// dropped first (1.01 is 101/10^2, not 10100/10^4), so that a product of
// many multipliers carries half the digits.
func (a scaled) times(d config.Decimal) scaled {
	units, places := reduced(d)
	return scaled{num: new(big.Int).Mul(a.num, big.NewInt(units)), places: a.places + places}
}

// mulInPlace multiplies a by d like times, but into a's own number: for a
// running product that nothing else holds.
func (a *scaled) mulInPlace(d config.Decimal) {
	units, places := reduced(d)
	var f big.Int
	a.num.Mul(a.num, f.SetInt64(units))
	a.places += places
}

// reduced is d's units and places with the trailing zeros dropped.
func reduced(d config.Decimal) (units int64, places int) {
	units, places = d.Units(), 4
	for places > 0 && units != 0 && units%10 == 0 {
		units, places = units/10, places-1
	}
	return units, places
}

// round rounds to whole points by mode: Floor, Nearest (half up) or Ceiling.
// The value is never negative, so truncating division is floor.
func (a scaled) round(mode string) int64 {
	var q, r big.Int
	return a.roundWith(mode, &q, &r)
}

// roundWith is round, computing in q and r, so that rounding after each of
// many stacked campaigns reuses them.
func (a scaled) roundWith(mode string, q, r *big.Int) int64 {
	if a.places == 0 {
		return a.num.Int64()
	}
	// One division, its remainder deciding the rounding.
	q.QuoRem(a.num, pow10(a.places), r)
	switch {
	case mode == config.RoundingCeiling && r.Sign() > 0,
		mode == config.RoundingNearest && r.Cmp(halfPow10(a.places)) >= 0:
		return q.Int64() + 1
	}
	return q.Int64()
}

// halfPow10 is 10^n / 2, for n ≥ 1.
func halfPow10(n int) *big.Int {
	if n < len(halfPowersOf10) {
		return halfPowersOf10[n]
	}
	return new(big.Int).Quo(pow10(n), big.NewInt(2))
}

var halfPowersOf10 = func() []*big.Int {
	p := make([]*big.Int, len(powersOf10))
	for i := 1; i < len(p); i++ {
		p[i] = new(big.Int).Quo(powersOf10[i], big.NewInt(2))
	}
	return p
}()

// String writes the exact value without trailing zeros, such as "24.7".
func (a scaled) String() string {
	s := a.num.String()
	if a.places == 0 {
		return s
	}
	if len(s) <= a.places {
		s = strings.Repeat("0", a.places-len(s)+1) + s
	}
	whole, frac := s[:len(s)-a.places], strings.TrimRight(s[len(s)-a.places:], "0")
	if frac == "" {
		return whole
	}
	return whole + "." + frac
}

// decimalCmp compares two decimals.
func decimalCmp(a, b config.Decimal) int {
	switch {
	case a.Units() < b.Units():
		return -1
	case a.Units() > b.Units():
		return 1
	}
	return 0
}

// quoDecimal is num/den in Decimal units, the exact quotient rounded half
// up to four places; 0 when den is 0. num is in Decimal units when
// numIsDecimal, else whole. Both are non-negative.
func quoDecimal(num int64, numIsDecimal bool, den int64) config.Decimal {
	if den == 0 {
		return config.DecimalFromUnits(0)
	}
	n := big.NewInt(num)
	if !numIsDecimal {
		n.Mul(n, big.NewInt(config.DecimalScale))
	}
	// floor(n/den + 1/2) = floor((2n + den) / 2den), exactly.
	n.Mul(n, big.NewInt(2)).Add(n, big.NewInt(den))
	return config.DecimalFromUnits(n.Quo(n, big.NewInt(2*den)).Int64())
}
