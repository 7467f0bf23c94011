package rules

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
)

func referralProgram() *config.Snapshot {
	return &config.Snapshot{Referral: &config.ReferralPolicy{
		ReferrerReward: 100, RefereeReward: 50,
		QualifyingPurchaseMinimum: dec("20"),
		MaxReferralsPerReferrer:   ptr(int32(5)),
		HoldPeriod:                dur("14d"),
		ReferrerRewardTiers:       []config.ReferrerRewardTier{{MinReferrals: 3, Reward: 150}, {MinReferrals: 5, Reward: 200}},
	}}
}

func wantCode(t *testing.T, err error, code, field string) {
	t.Helper()
	var re *Error
	if code == "" {
		if err != nil {
			t.Errorf("error %v, want none", err)
		}
		return
	}
	if !errors.As(err, &re) || re.Code != code || re.Field != field || re.Message == "" {
		t.Errorf("error %v, want code %s on %s", err, code, field)
	}
}

func TestReferrerReward(t *testing.T) {
	p := referralProgram().Referral
	for count, want := range map[int64]int64{1: 100, 2: 100, 3: 150, 4: 150, 5: 200, 6: 200} {
		if got := ReferrerReward(p, count); got != want {
			t.Errorf("ReferrerReward(%d) = %d, want %d", count, got, want)
		}
	}
	if got := ReferrerReward(nil, 3); got != 0 {
		t.Errorf("no policy: %d", got)
	}
}

func TestCheckReferral(t *testing.T) {
	tests := []struct {
		name        string
		s           *config.Snapshot
		r           Referral
		code, field string
	}{
		{"valid", referralProgram(), Referral{ReferrerID: "ann", RefereeID: "bob", ReferrerConverted: 4}, "", ""},
		{"disabled", &config.Snapshot{}, Referral{ReferrerID: "ann", RefereeID: "bob"}, CodeReferralsDisabled, "referralCode"},
		{"unknown code", referralProgram(), Referral{RefereeID: "bob"}, CodeUnknownReferralCode, "referralCode"},
		{"self", referralProgram(), Referral{ReferrerID: "ann", RefereeID: "ann"}, CodeSelfReferral, "referralCode"},
		{"duplicate referee", referralProgram(), Referral{ReferrerID: "ann", RefereeID: "bob", RefereeAlreadyReferred: true}, CodeAlreadyReferred, "memberId"},
		{"referrer cap", referralProgram(), Referral{ReferrerID: "ann", RefereeID: "bob", ReferrerConverted: 5}, CodeReferrerCapReached, "referralCode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, CheckReferral(tt.s, tt.r), tt.code, tt.field) })
	}
}

func TestConvertReferral(t *testing.T) {
	at := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		s           *config.Snapshot
		c           Conversion
		want        ReferralRewards
		code, field string
	}{
		{"third conversion earns the tier reward", referralProgram(), Conversion{Amount: dec("20"), OccurredAt: at, ReferrerConverted: 2},
			ReferralRewards{Referrer: 150, Referee: 50, AvailableAt: at.Add(14 * 24 * time.Hour)}, "", ""},
		{"first conversion", referralProgram(), Conversion{Amount: dec("99.5"), OccurredAt: at},
			ReferralRewards{Referrer: 100, Referee: 50, AvailableAt: at.Add(14 * 24 * time.Hour)}, "", ""},
		{"below the qualifying minimum", referralProgram(), Conversion{Amount: dec("19.99"), OccurredAt: at}, ReferralRewards{}, CodeBelowQualifyingMinimum, "amount"},
		{"over the referrer cap", referralProgram(), Conversion{Amount: dec("20"), OccurredAt: at, ReferrerConverted: 5}, ReferralRewards{}, CodeReferrerCapReached, "referralCode"},
		{"disabled", &config.Snapshot{}, Conversion{Amount: dec("20"), OccurredAt: at}, ReferralRewards{}, CodeReferralsDisabled, "referralCode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ConvertReferral(tt.s, tt.c)
			wantCode(t, err, tt.code, tt.field)
			if got != tt.want {
				t.Errorf("rewards %+v, want %+v", got, tt.want)
			}
		})
	}
}

func catalog() *config.Snapshot {
	s := ladder()
	s.Rewards = []config.Reward{
		{ID: "coffee", Cost: 200, Limit: &config.RedemptionLimit{Count: 2, Period: config.LimitDay}},
		{ID: "lounge", Cost: 5000, MinimumTier: "silver",
			Availability: &config.Availability{Start: ptr(config.TimeOf(juneStart)), End: ptr(config.TimeOf(juneEnd))}},
		{ID: "mug", Cost: 800, Limit: &config.RedemptionLimit{Count: 1, Period: config.LimitLifetime}},
	}
	return s
}

func TestCheckRedemption(t *testing.T) {
	tests := []struct {
		name, reward, tier string
		now                time.Time
		count              int64
		cost               int64
		code, field        string
	}{
		{"unlimited tier, under the limit", "coffee", "", midJune, 1, 200, "", ""},
		{"daily limit reached", "coffee", "gold", midJune, 2, 0, CodeLimitReached, "limit"},
		{"lifetime limit reached", "mug", "", midJune, 1, 0, CodeLimitReached, "limit"},
		{"unknown reward", "yacht", "gold", midJune, 0, 0, CodeUnknownReward, "rewardId"},
		{"minimum tier held", "lounge", "silver", midJune, 0, 5000, "", ""},
		{"higher tier than the minimum", "lounge", "gold", midJune, 0, 5000, "", ""},
		{"below the minimum tier", "lounge", "bronze", midJune, 0, 0, CodeBelowMinimumTier, "minimumTier"},
		{"entry tier by default", "lounge", "", midJune, 0, 0, CodeBelowMinimumTier, "minimumTier"},
		{"1ns before availability", "lounge", "gold", juneStart.Add(-time.Nanosecond), 0, 0, CodeNotAvailable, "availability.start"},
		{"at availability start", "lounge", "gold", juneStart, 0, 5000, "", ""},
		{"1ns before availability end", "lounge", "gold", juneEnd.Add(-time.Nanosecond), 0, 5000, "", ""},
		{"at availability end", "lounge", "gold", juneEnd, 0, 0, CodeNotAvailable, "availability.end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cost, err := CheckRedemption(catalog(), tt.reward, tt.tier, tt.now, tt.count)
			wantCode(t, err, tt.code, tt.field)
			if cost != tt.cost {
				t.Errorf("cost %d, want %d", cost, tt.cost)
			}
		})
	}
}

func TestLimitPeriodStart(t *testing.T) {
	thu := time.Date(2026, 6, 18, 15, 4, 5, 6, time.UTC)
	d := func(y int, m time.Month, day int) time.Time { return time.Date(y, m, day, 0, 0, 0, 0, time.UTC) }
	tests := []struct {
		period string
		now    time.Time
		want   time.Time
	}{
		{config.LimitDay, thu, d(2026, 6, 18)},
		{config.LimitWeek, thu, d(2026, 6, 15)},
		{config.LimitWeek, d(2026, 6, 15), d(2026, 6, 15)},                                                  // Monday itself
		{config.LimitWeek, d(2026, 6, 22).Add(-time.Nanosecond), d(2026, 6, 15)},                            // Sunday night
		{config.LimitWeek, d(2027, 1, 1), d(2026, 12, 28)},                                                  // across the year
		{config.LimitWeek, time.Date(2026, 6, 15, 1, 0, 0, 0, time.FixedZone("CEST", 7200)), d(2026, 6, 8)}, // still Sunday in UTC
		{config.LimitMonth, thu, d(2026, 6, 1)},
		{config.LimitYear, thu, d(2026, 1, 1)},
		{config.LimitLifetime, thu, time.Time{}},
	}
	for _, tt := range tests {
		if got := LimitPeriodStart(tt.period, tt.now, time.UTC); !got.Equal(tt.want) {
			t.Errorf("LimitPeriodStart(%s, %s) = %s, want %s", tt.period, tt.now, got, tt.want)
		}
	}
	// In Seoul, 31 December 15:00 UTC is already 1 January 2027.
	seoul := mustZone(t, "Asia/Seoul")
	at := time.Date(2026, 12, 31, 15, 0, 0, 0, time.UTC)
	if got, want := LimitPeriodStart(config.LimitYear, at, seoul), time.Date(2026, 12, 31, 15, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("year in Seoul at %s starts %s, want %s", at, got, want)
	}
}

func TestComputeKPIs(t *testing.T) {
	a := Aggregates{
		Members: 300, ActiveMembers: 50,
		PointsIssued: 100000, PointsRedeemed: 25000, PointsExpired: 5000,
		SpendSinceEnrollment: dec("123456.78"),
		ReferralsMade:        40, ReferralsConverted: 12, Referrers: 8, RepeatReferrers: 3,
		ReferralRewardsCost:  1850,
		OutstandingAvailable: 60000, OutstandingPending: 10000,
	}
	// By hand: 50/300, 25000/100000, 123456.78/300 = 411.5226, 40/300,
	// 12/40, 3/8, 1850/12 = 154.1666… → 154.1667, 60000 + 10000, 5000/100000.
	want := KPIs{
		ParticipationRate: 1.0 / 6, RedemptionRate: 0.25, AverageCLV: dec("411.5226"),
		ReferralRate: 2.0 / 15, ReferralConversionRate: 0.3, RepeatReferrers: 3, RepeatReferrerRate: 0.375,
		ReferralCostPerAcquiredMember: dec("154.1667"), OutstandingLiability: 70000, Breakage: 0.05,
	}
	if got := ComputeKPIs(a); !sameJSON(t, got, want) {
		t.Errorf("ComputeKPIs =\n%+v\nwant\n%+v", got, want)
	}
	zero := KPIs{AverageCLV: config.DecimalFromUnits(0), ReferralCostPerAcquiredMember: config.DecimalFromUnits(0)}
	if got := ComputeKPIs(Aggregates{}); !sameJSON(t, got, zero) {
		t.Errorf("empty program: %+v", got)
	}
}

func TestQuoDecimal(t *testing.T) {
	tests := []struct {
		num       int64
		isDecimal bool
		den       int64
		want      string
	}{
		{1, false, 8, "0.125"},
		{2, false, 3, "0.6667"},
		{1, false, 30000, "0"},
		{1, false, 20000, "0.0001"}, // 0.00005 rounds half up
		{12345, true, 10, "0.1235"}, // 1.2345 / 10 = 0.12345
		{7, false, 0, "0"},
	}
	for _, tt := range tests {
		if got := quoDecimal(tt.num, tt.isDecimal, tt.den).String(); got != tt.want {
			t.Errorf("quoDecimal(%d, %v, %d) = %s, want %s", tt.num, tt.isDecimal, tt.den, got, tt.want)
		}
	}
}

// sameJSON compares KPIs as the API shows them: their decimals hold no
// error to compare.
func sameJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	if errA != nil || errB != nil {
		t.Fatalf("encode: %v %v", errA, errB)
	}
	return string(ja) == string(jb)
}
