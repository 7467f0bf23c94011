package rules

import (
	"math"
	"testing"
)

func TestBonusReturn(t *testing.T) {
	tests := []struct {
		name                                     string
		granted, points, clawedBefore, clawedNow int64
		want                                     int64
	}{
		{"full reversal gives back the whole bonus", 10, 60, 0, 60, 10},
		{"a quarter of the points, a quarter of the bonus", 10, 100, 0, 25, 2},
		{"the next 30 points complete 5 of 55", 10, 100, 25, 30, 3},
		{"the rest gives back what is left", 10, 100, 55, 45, 5},
		{"thirds add up to the whole bonus", 10, 30, 20, 10, 4},
		{"a share below one point gives nothing yet", 10, 100, 0, 9, 0},
		{"nothing clawed back (all shortfall) gives nothing", 10, 100, 0, 0, 0},
		{"clawed beyond the points is capped", 10, 100, 90, 50, 1},
		{"no bonus granted", 0, 100, 0, 100, 0},
		{"an event without points", 10, 0, 0, 5, 0},
		{"large values do not overflow", math.MaxInt64 / 2, 1 << 40, 0, 1 << 39, math.MaxInt64 / 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := BonusReturn(tt.granted, tt.points, tt.clawedBefore, tt.clawedNow); got != tt.want {
				t.Errorf("BonusReturn(%d, %d, %d, %d) = %d, want %d", tt.granted, tt.points, tt.clawedBefore, tt.clawedNow, got, tt.want)
			}
		})
	}
}

// TestBonusReturnNeverExceedsTheBonus reverses events in every split of
// their points: the returns add up to floor(granted × clawed / points) and
// so never to more than the bonus.
func TestBonusReturnNeverExceedsTheBonus(t *testing.T) {
	for points := int64(1); points <= 40; points++ {
		for granted := int64(0); granted <= points; granted++ {
			for step := int64(1); step <= points; step++ {
				var clawed, returned int64
				for clawed < points {
					now := min(step, points-clawed)
					returned += BonusReturn(granted, points, clawed, now)
					clawed += now
					if want := granted * clawed / points; returned != want {
						t.Fatalf("granted %d of %d points, steps of %d: %d returned after %d clawed, want %d", granted, points, step, returned, clawed, want)
					}
				}
				if returned != granted {
					t.Fatalf("granted %d of %d points, steps of %d: full reversal returned %d", granted, points, step, returned)
				}
			}
		}
	}
}
