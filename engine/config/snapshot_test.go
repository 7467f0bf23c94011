package config

import (
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func readGood(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/snapshot.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseGood(t *testing.T) {
	s, err := Parse(readGood(t))
	if err != nil {
		t.Fatal(err)
	}
	if s.Program.Name != "coffee-club" || s.Points.EarnRate.Units() != 25000 || s.Points.Rounding != RoundingNearest {
		t.Errorf("program/points parsed wrong: %+v %+v", s.Program, s.Points)
	}
	if s.Points.PendingPeriod.D() != 36*time.Hour || s.Points.Expiry.AfterEarn.D() != 365*24*time.Hour {
		t.Errorf("durations parsed wrong: %v %v", s.Points.PendingPeriod, s.Points.Expiry.AfterEarn)
	}
	// Lists come back sorted by key, with defaults filled in.
	if s.Tiers[0].Name != "bronze" || s.Tiers[0].EarnMultiplier.String() != "1" || s.Tiers[0].Qualification.Period != PeriodRollingWindow {
		t.Errorf("tier defaults or order wrong: %+v", s.Tiers[0])
	}
	if l := s.Points.Actions[0].EffectiveLimit(); l == nil || *l != (ActionLimit{Count: 1, Per: LimitLifetime}) {
		t.Errorf("app-download limit %+v", l)
	}
	if l := s.Points.Actions[2].EffectiveLimit(); l == nil || *l != (ActionLimit{Count: 1, Per: LimitDay}) || s.Points.Actions[1].EffectiveLimit() != nil {
		t.Errorf("maxPerDay is not a limit per Day: %+v", l)
	}
	if loc := s.Location(); loc.String() != "Asia/Seoul" || s.Program.TimeZone != "Asia/Seoul" {
		t.Errorf("program location %s", loc)
	}
	if s.Points.Actions[1].Name != "birthday" || s.Rewards[0].ID != "donate" || s.Campaigns[0].Name != "advent" {
		t.Errorf("lists not sorted: %s %s %s", s.Points.Actions[0].Name, s.Rewards[0].ID, s.Campaigns[0].Name)
	}
	if s.Campaigns[0].Schedule.TimeZone != "UTC" || s.Campaigns[0].Stacking != StackingStack {
		t.Errorf("campaign defaults not applied: %+v", s.Campaigns[0])
	}
	if got := s.Rewards[1].Availability.End.T(); !got.Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) || got.Location() != time.UTC {
		t.Errorf("availability end = %v, want 2027-01-01T00:00:00Z in UTC", got)
	}
	if s.Referral.ReferrerRewardTiers[0].MinReferrals != 5 {
		t.Errorf("referral tiers not sorted: %+v", s.Referral.ReferrerRewardTiers)
	}
}

// goldenHash pins the canonical form: changing how snapshots marshal changes
// every deployed engine's applied hash, so it must be a deliberate decision.
const goldenHash = "aaafc0a05ea7088ec43b7abebafbfb4f85c00631495253c9154abf7d9f0b6fb0"

func TestHashStable(t *testing.T) {
	s, err := Parse(readGood(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Hash(); got != goldenHash {
		t.Errorf("Hash() = %s, want %s", got, goldenHash)
	}
	canon, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse(canon)
	if err != nil {
		t.Fatalf("canonical form does not parse: %v", err)
	}
	canon2, _ := again.Marshal()
	if string(canon) != string(canon2) || again.Hash() != s.Hash() {
		t.Errorf("marshal is not a fixed point:\n%s\n%s", canon, canon2)
	}

	// The same configuration written differently: lists reordered, defaults
	// spelled out, durations and times in other notations.
	m := decodeMap(t, readGood(t))
	tiers := m["tiers"].([]any)
	tiers[0], tiers[1] = tiers[1], tiers[0]
	setPath(t, m, "tiers.0.earnMultiplier", "1.00")
	setPath(t, m, "tiers.0.qualification.period", "RollingWindow")
	setPath(t, m, "points.pendingPeriod", "36h")
	setPath(t, m, "rewards.0.availability.end", "2027-01-01T00:00:00Z")
	setPath(t, m, "campaigns.1.schedule.timeZone", "UTC")
	setPath(t, m, "campaigns.0.audience.memberTags", []any{"app", "vip"})
	setPath(t, m, "campaigns.1.rules.purchaseBonus.minimumSpend", "0")
	s2, err := Parse(encodeMap(t, m))
	if err != nil {
		t.Fatal(err)
	}
	if s2.Hash() != s.Hash() {
		a, _ := s2.Marshal()
		t.Errorf("equivalent snapshot hashes differently:\n%s\n%s", canon, a)
	}

	// A real change changes the hash.
	setPath(t, m, "points.earnRate", "2.6")
	s3, err := Parse(encodeMap(t, m))
	if err != nil {
		t.Fatal(err)
	}
	if s3.Hash() == s.Hash() {
		t.Error("different earn rate, same hash")
	}
}

func TestBuildAndMarshal(t *testing.T) {
	// The operator builds snapshots from Go values; what it marshals must parse.
	window := MustDuration("365d")
	s := &Snapshot{
		Version: Version,
		Program: Program{Name: "p", Namespace: "ns", DisplayName: "P", Currency: "USD"},
		Points:  PointsPolicy{EarnRate: MustDecimal("1"), LateEventGracePeriod: MustDuration("72h")},
		Tiers: []Tier{{Name: "base", DisplayName: "Base", Qualification: TierQualification{
			MinQualifyingPoints: new(int64), Window: &window}}},
		Campaigns: []Campaign{{Name: "c", DisplayName: "C", Schedule: CampaignSchedule{
			Start: MustTime("2026-01-01T00:00:00Z"), End: new(MustTime("2026-02-01T00:00:00Z"))},
			Rules: CampaignRules{PointsMultiplier: new(MustDecimal("2"))}}},
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"version":"loyaltyops.io/snapshot/v1","program":{"name":"p","namespace":"ns","displayName":"P","currency":"USD","timeZone":"UTC"},` +
		`"points":{"name":"points","earnRate":"1","rounding":"Floor","pendingPeriod":"0s","lateEventGracePeriod":"3d","actions":[]},` +
		`"tiers":[{"name":"base","displayName":"Base","rank":0,"qualification":{"minQualifyingPoints":0,"period":"RollingWindow","window":"365d"},"earnMultiplier":"1","perks":[],"downgradeGracePeriod":"0s"}],` +
		`"rewards":[],"campaigns":[{"name":"c","displayName":"C","schedule":{"start":"2026-01-01T00:00:00Z","end":"2026-02-01T00:00:00Z","timeZone":"UTC"},` +
		`"rules":{"pointsMultiplier":"2"},"stacking":"Stack","priority":0,"paused":false}]}`
	if string(b) != want {
		t.Errorf("Marshal =\n%s\nwant\n%s", b, want)
	}
	if _, err := Parse(b); err != nil {
		t.Errorf("marshalled snapshot does not parse: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	const del = "\x00delete"
	tests := []struct {
		name string
		set  map[string]any // path -> value, or del
		raw  string         // used instead of the good snapshot when set
		want string
	}{
		{name: "malformed JSON", raw: `{"version": `, want: `(document): unexpected EOF`},
		{name: "syntax", raw: `{"version": x}`, want: `(document): malformed JSON at byte 13: invalid character 'x' looking for beginning of value`},
		{name: "trailing data", raw: `{} {}`, want: `(document): unexpected data after the snapshot object`},
		{name: "unknown field", set: map[string]any{"points.earnRatio": "1"}, want: `(document): unknown field "earnRatio"`},
		{name: "wrong type", set: map[string]any{"rewards.0.cost": "500"}, want: `rewards.cost: want int64, got JSON string`},
		{name: "version", set: map[string]any{"version": "v2"}, want: `version: "v2" is not supported; want "loyaltyops.io/snapshot/v1"`},
		{name: "program name", set: map[string]any{"program.name": "Coffee_Club"}, want: `program.name: "Coffee_Club" must match ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`},
		{name: "program namespace", set: map[string]any{"program.namespace": del}, want: `program.namespace: required`},
		{name: "currency", set: map[string]any{"program.currency": "euro"}, want: `program.currency: "euro" must be an ISO 4217 code such as "EUR"`},
		{name: "earn rate missing", set: map[string]any{"points.earnRate": del}, want: `points.earnRate: required`},
		{name: "earn rate negative", set: map[string]any{"points.earnRate": "-2"}, want: `points.earnRate: invalid decimal "-2": must not be negative`},
		{name: "earn rate number", set: map[string]any{"points.earnRate": 2.5}, want: `points.earnRate: want a decimal string such as "2.5", got 2.5`},
		{name: "rounding", set: map[string]any{"points.rounding": "Up"}, want: `points.rounding: "Up" must be one of Floor, Nearest, Ceiling`},
		{name: "pending period", set: map[string]any{"points.pendingPeriod": "2 days"}, want: `points.pendingPeriod: invalid duration "2 days": want days, hours, minutes and seconds in that order, such as "30d", "1d12h", "90m" or "0s"`},
		{name: "expiry both", set: map[string]any{"points.expiry.afterInactivity": "180d"}, want: `points.expiry: set exactly one of afterEarn or afterInactivity`},
		{name: "expiry zero", set: map[string]any{"points.expiry.afterEarn": "0s"}, want: `points.expiry.afterEarn: must be longer than zero`},
		{name: "expiry within pending", set: map[string]any{"points.expiry.afterEarn": "1d"}, want: `points.expiry.afterEarn: 1d must be longer than pendingPeriod 1d12h`},
		{name: "grace missing", set: map[string]any{"points.lateEventGracePeriod": del}, want: `points.lateEventGracePeriod: required`},
		{name: "action name", set: map[string]any{"points.actions.0.name": "Review"}, want: `points.actions[Review].name: "Review" must match ^[a-z][a-z0-9-]*$`},
		{name: "action duplicate", set: map[string]any{"points.actions.1.name": "review"}, want: `points.actions[review].name: duplicate action name`},
		{name: "action max per day", set: map[string]any{"points.actions.0.maxPerDay": 0}, want: `points.actions[review].maxPerDay: 0 must be between 1 and 1000`},
		{name: "action limit and max per day", set: map[string]any{"points.actions.0.limit": map[string]any{"count": 2, "per": "Week"}}, want: `points.actions[review].maxPerDay: set limit or maxPerDay, not both: maxPerDay N is limit {count: N, per: Day}`},
		{name: "action limit count", set: map[string]any{"points.actions.2.limit.count": 0}, want: `points.actions[app-download].limit.count: 0 must be between 1 and 1000`},
		{name: "action limit period", set: map[string]any{"points.actions.2.limit.per": "Fortnight"}, want: `points.actions[app-download].limit.per: "Fortnight" must be one of Day, Week, Month, Year, Lifetime`},
		{name: "birthday points", set: map[string]any{"points.birthday": map[string]any{"points": 0, "window": "Day"}}, want: `points.birthday.points: 0 must be between 1 and 1000000`},
		{name: "birthday window", set: map[string]any{"points.birthday": map[string]any{"points": 10, "window": "Year"}}, want: `points.birthday.window: "Year" must be one of Day, Week, Month`},
		{name: "program time zone", set: map[string]any{"program.timeZone": "Mars/Olympus"}, want: `program.timeZone: unknown IANA time zone "Mars/Olympus"`},
		{name: "program time zone Local", set: map[string]any{"program.timeZone": "Local"}, want: `program.timeZone: unknown IANA time zone "Local"`},
		{name: "tier duplicate rank", set: map[string]any{"tiers.0.rank": 0}, want: `tiers[gold].rank: rank 0 is already held by tier "bronze"`},
		{name: "no entry tier", set: map[string]any{"tiers.1.rank": 1}, want: `tiers: no entry tier: one tier must have rank 0`},
		{name: "tier both thresholds", set: map[string]any{"tiers.0.qualification.minQualifyingPoints": 10}, want: `tiers[gold].qualification: set exactly one of minQualifyingPoints or minSpend`},
		{name: "tier window with calendar year", set: map[string]any{"tiers.0.qualification.window": "30d"}, want: `tiers[gold].qualification.window: not allowed with period CalendarYear`},
		{name: "tier window missing", set: map[string]any{"tiers.1.qualification.window": del}, want: `tiers[bronze].qualification.window: required with period RollingWindow`},
		{name: "tier multiplier", set: map[string]any{"tiers.0.earnMultiplier": "10.5"}, want: `tiers[gold].earnMultiplier: "10.5" must be from 1 to 10 with at most two decimal places`},
		{name: "tier multiplier precision", set: map[string]any{"tiers.0.earnMultiplier": "1.125"}, want: `tiers[gold].earnMultiplier: "1.125" must be from 1 to 10 with at most two decimal places`},
		{name: "reward type", set: map[string]any{"rewards.0.type": "Voucher"}, want: `rewards[free-latte].type: "Voucher" must be one of Discount, FreeProduct, GiftCard, Experience, Donation, Coupon`},
		{name: "reward negative cost", set: map[string]any{"rewards.1.cost": -1}, want: `rewards[donate].cost: -1 must be between 0 and 1000000000`},
		{name: "reward duplicate id", set: map[string]any{"rewards.1.id": "free-latte"}, want: `rewards[free-latte].id: duplicate reward id`},
		{name: "reward unknown tier", set: map[string]any{"rewards.0.minimumTier": "platinum"}, want: `rewards[free-latte].minimumTier: no tier named "platinum"`},
		{name: "reward limit period", set: map[string]any{"rewards.0.limit.period": "Fortnight"}, want: `rewards[free-latte].limit.period: "Fortnight" must be one of Day, Week, Month, Year, Lifetime`},
		{name: "reward availability order", set: map[string]any{"rewards.0.availability.end": "2025-01-01T00:00:00Z"}, want: `rewards[free-latte].availability.end: must be after availability.start`},
		{name: "reward availability time", set: map[string]any{"rewards.0.availability.start": "tomorrow"}, want: `rewards[free-latte].availability.start: invalid time "tomorrow": want RFC 3339 such as "2026-12-05T00:00:00Z"`},
		{name: "time zone", set: map[string]any{"campaigns.0.schedule.timeZone": "Mars/Base"}, want: `campaigns[happy-hour].schedule.timeZone: unknown IANA time zone "Mars/Base"`},
		{name: "cron", set: map[string]any{"campaigns.0.schedule.recurrence.cron": "0 25 * * *"}, want: `campaigns[happy-hour].schedule.recurrence.cron: invalid cron "0 25 * * *": hour field: value "25" out of range 0-23`},
		{name: "recurrence duration", set: map[string]any{"campaigns.0.schedule.recurrence.duration": "0s"}, want: `campaigns[happy-hour].schedule.recurrence.duration: must be longer than zero`},
		{name: "schedule end missing", set: map[string]any{"campaigns.1.schedule.end": del}, want: `campaigns[advent].schedule.end: required unless schedule.recurrence is set`},
		{name: "schedule end before start", set: map[string]any{"campaigns.1.schedule.end": "2026-11-30T00:00:00Z"}, want: `campaigns[advent].schedule.end: must be after schedule.start`},
		{name: "schedule start missing", set: map[string]any{"campaigns.1.schedule.start": del}, want: `campaigns[advent].schedule.start: required`},
		{name: "audience tier", set: map[string]any{"campaigns.0.audience.tiers": []any{"silver"}}, want: `campaigns[happy-hour].audience.tiers: no tier named "silver"`},
		{name: "no rules", set: map[string]any{"campaigns.1.rules": map[string]any{}}, want: `campaigns[advent].rules: needs at least one of pointsMultiplier, purchaseBonus or actionBonuses`},
		{name: "campaign multiplier", set: map[string]any{"campaigns.0.rules.pointsMultiplier": "0.5"}, want: `campaigns[happy-hour].rules.pointsMultiplier: "0.5" must be from 1 to 10 with at most two decimal places`},
		{name: "bonus points", set: map[string]any{"campaigns.1.rules.purchaseBonus.points": 0}, want: `campaigns[advent].rules.purchaseBonus.points: 0 must be between 1 and 1000000000`},
		{name: "cap above budget", set: map[string]any{"campaigns.0.limits.perMemberCap": 200000}, want: `campaigns[happy-hour].limits.perMemberCap: 200000 exceeds totalBonusBudget 100000`},
		{name: "stacking", set: map[string]any{"campaigns.0.stacking": "Combine"}, want: `campaigns[happy-hour].stacking: "Combine" must be one of Stack, Exclusive`},
		{name: "duplicate campaign", set: map[string]any{"campaigns.1.name": "happy-hour"}, want: `campaigns[happy-hour].name: duplicate campaign name`},
		{name: "referral tier below base", set: map[string]any{"referral.referrerRewardTiers.1.reward": 50}, want: `referral.referrerRewardTiers[5].reward: 50 is below referrerReward 100; tiers only raise the reward`},
		{name: "referral min referrals", set: map[string]any{"referral.referrerRewardTiers.0.minReferrals": 1}, want: `referral.referrerRewardTiers[1].minReferrals: 1 must be between 2 and 100000`},
		{name: "several errors", set: map[string]any{"program.currency": "eur", "points.rounding": "Up"},
			want: `program.currency: "eur" must be an ISO 4217 code such as "EUR"; points.rounding: "Up" must be one of Floor, Nearest, Ceiling`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.raw)
			if tt.raw == "" {
				m := decodeMap(t, readGood(t))
				for path, v := range tt.set {
					if v == del {
						deletePath(t, m, path)
					} else {
						setPath(t, m, path, v)
					}
				}
				data = encodeMap(t, m)
			}
			s, err := Parse(data)
			if err == nil {
				t.Fatalf("Parse accepted the snapshot: %+v", s)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %T is not a *ValidationError: %v", err, err)
			}
			if got := strings.TrimPrefix(err.Error(), "invalid snapshot: "); got != tt.want {
				t.Errorf("error =\n  %s\nwant\n  %s", got, tt.want)
			}
		})
	}
}

func decodeMap(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func encodeMap(t *testing.T, m map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// walk follows a dotted path of object keys and list indices to the parent of its last element.
func walk(t *testing.T, m map[string]any, path string) (any, string) {
	t.Helper()
	parts := strings.Split(path, ".")
	var cur any = m
	for _, p := range parts[:len(parts)-1] {
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[p]
			if !ok {
				next = map[string]any{}
				c[p] = next
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil {
				t.Fatalf("path %s: %q is not an index", path, p)
			}
			cur = c[i]
		default:
			t.Fatalf("path %s: cannot descend into %T", path, cur)
		}
	}
	return cur, parts[len(parts)-1]
}

func setPath(t *testing.T, m map[string]any, path string, v any) {
	t.Helper()
	parent, last := walk(t, m, path)
	switch p := parent.(type) {
	case map[string]any:
		p[last] = v
	case []any:
		i, _ := strconv.Atoi(last)
		p[i] = v
	}
}

func deletePath(t *testing.T, m map[string]any, path string) {
	t.Helper()
	parent, last := walk(t, m, path)
	delete(parent.(map[string]any), last)
}
