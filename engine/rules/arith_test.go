package rules

import (
	"math/big"
	"math/rand"
	"testing"

	"github.com/loyaltyops/loyalty-operator/engine/config"
)

// TestRound checks rounding of num/10^places against big.Rat, at the
// halves and around them, and over random values as large as 50 stacked
// multipliers make them.
func TestRound(t *testing.T) {
	want := func(num *big.Int, places int, mode string) int64 {
		r := new(big.Rat).SetFrac(num, pow10(places))
		floor := new(big.Int).Quo(r.Num(), r.Denom())
		frac := new(big.Rat).Sub(r, new(big.Rat).SetInt(floor))
		switch {
		case mode == config.RoundingCeiling && frac.Sign() > 0,
			mode == config.RoundingNearest && frac.Cmp(big.NewRat(1, 2)) >= 0:
			return floor.Int64() + 1
		}
		return floor.Int64()
	}
	check := func(num *big.Int, places int) {
		t.Helper()
		for _, mode := range []string{config.RoundingFloor, config.RoundingNearest, config.RoundingCeiling} {
			if got, w := (scaled{num: num, places: places}).round(mode), want(num, places, mode); got != w {
				t.Fatalf("round(%s / 10^%d, %s) = %d, want %d", num, places, mode, got, w)
			}
		}
	}
	// 2.5, 2.4999, 2.5001, 3, 0, 0.5 and 7 with no places.
	for _, c := range []struct {
		num    int64
		places int
	}{{25, 1}, {24999, 4}, {25001, 4}, {30000, 4}, {0, 4}, {5, 1}, {7, 0}, {1, 300}} {
		check(big.NewInt(c.num), c.places)
	}
	rng := rand.New(rand.NewSource(1))
	for range 20000 {
		places := rng.Intn(60)
		// A value below 10^12 points, with up to places digits after the point.
		num := new(big.Int).Mul(big.NewInt(rng.Int63n(1_000_000_000_000)), pow10(places))
		num.Add(num, new(big.Int).Rand(rng, pow10(places)))
		check(num, places)
		// Exactly half way, and one unit either side of it.
		if places > 0 {
			half := new(big.Int).Add(new(big.Int).Mul(big.NewInt(rng.Int63n(1000)), pow10(places)), halfPow10(places))
			check(half, places)
			check(new(big.Int).Sub(half, big.NewInt(1)), places)
			check(new(big.Int).Add(half, big.NewInt(1)), places)
		}
	}
}
