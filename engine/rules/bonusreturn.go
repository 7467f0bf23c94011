package rules

import "math/bits"

// BonusReturn is how much of a campaign bonus a reversal gives back to the
// campaign's budget and to the member's per-member cap: the bonus in the
// proportion of the event's points clawed back from the member's balance.
// granted is the bonus the event got from the campaign, points all the
// event earned, clawedBefore what earlier reversals of the event took from
// the balance and clawedNow what this one takes (a shortfall, points the
// member had spent already, gives nothing back: the program paid them).
//
// The share is counted over all the event's reversals and rounded down:
// after the reversal, floor(granted × clawed / points) has been given back
// in total. So partial reversals never give back more than their share,
// their roundings do not add up to a drift, and a reversal of everything
// gives back exactly the bonus.
func BonusReturn(granted, points, clawedBefore, clawedNow int64) int64 {
	if granted <= 0 || points <= 0 || clawedNow <= 0 {
		return 0
	}
	before := min(max(clawedBefore, 0), points)
	after := min(before+clawedNow, points)
	return share(granted, after, points) - share(granted, before, points)
}

// share is floor(n × part / whole) without overflow, for 0 ≤ part ≤ whole.
func share(n, part, whole int64) int64 {
	hi, lo := bits.Mul64(uint64(n), uint64(part))
	q, _ := bits.Div64(hi, lo, uint64(whole))
	return int64(q)
}
