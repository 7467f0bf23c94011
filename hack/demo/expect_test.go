package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

// readSampleCampaigns reads the Campaigns of config/samples, the ones make demo applies.
func readSampleCampaigns(t *testing.T) []loyaltyv1alpha1.Campaign {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "config", "samples", "loyaltyops_v1alpha1_campaign.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := f.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	var campaigns []loyaltyv1alpha1.Campaign
	decoder := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	for {
		var c loyaltyv1alpha1.Campaign
		if err := decoder.Decode(&c); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		campaigns = append(campaigns, c)
	}
	if len(campaigns) != 2 {
		t.Fatalf("config/samples has %d campaigns; the cases below are written for weekend-double-beans and happy-hour", len(campaigns))
	}
	return campaigns
}

func berlin(t *testing.T, value string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	at, err := time.ParseInLocation("2006-01-02 15:04:05", value, loc)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

func utc(t *testing.T, value string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339, value)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// TestExpectedOutcomes sets the clock to instants the sample campaigns make
// interesting, with the demo campaign's window around each, and checks what
// the demo then expects of each campaign.
func TestExpectedOutcomes(t *testing.T) {
	var (
		applied       = outcome{applied: true}
		outside       = outcome{reason: rules.ReasonOutsideWindow}
		notInAudience = outcome{reason: rules.ReasonAudienceTier}
		overridden    = outcome{reason: rules.ReasonExclusiveOverridden, overriddenBy: "weekend-double-beans"}
	)
	samples := readSampleCampaigns(t)
	cases := []struct {
		name string
		at   time.Time
		// The demo campaign's window opens at at plus open and lasts a minute.
		open time.Duration
		tier string
		want map[string]outcome
	}{{
		name: "a Saturday inside the weekend window, demo window open: the exclusive weekend campaign overrides it",
		at:   berlin(t, "2026-12-12 11:00:00"), open: -30 * time.Second, tier: "bronze",
		want: map[string]outcome{"weekend-double-beans": applied, "happy-hour": outside, demoCampaignName: overridden},
	}, {
		name: "a Sunday inside the weekend window, before the demo window",
		at:   berlin(t, "2026-12-13 23:59:59"), open: 30 * time.Second, tier: "bronze",
		want: map[string]outcome{"weekend-double-beans": applied, "happy-hour": outside, demoCampaignName: outside},
	}, {
		name: "the last instant of a Friday: the weekend has not begun, the demo campaign applies",
		at:   berlin(t, "2026-12-11 23:59:59"), open: -30 * time.Second, tier: "bronze",
		want: map[string]outcome{"weekend-double-beans": outside, "happy-hour": outside, demoCampaignName: applied},
	}, {
		name: "Saturday midnight: the weekend begins inside the demo window and overrides it",
		at:   berlin(t, "2026-12-12 00:00:00"), open: -30 * time.Second, tier: "bronze",
		want: map[string]outcome{"weekend-double-beans": applied, "happy-hour": outside, demoCampaignName: overridden},
	}, {
		name: "Monday midnight: the weekend is over",
		at:   berlin(t, "2026-12-14 00:00:00"), open: -30 * time.Second, tier: "bronze",
		want: map[string]outcome{"weekend-double-beans": outside, "happy-hour": outside, demoCampaignName: applied},
	}, {
		name: "Berlin happy hour, winter time, a silver member: both stacking campaigns apply",
		at:   berlin(t, "2026-12-09 15:30:00"), open: -30 * time.Second, tier: "silver",
		want: map[string]outcome{"weekend-double-beans": outside, "happy-hour": applied, demoCampaignName: applied},
	}, {
		name: "Berlin happy hour, a bronze member is not in its audience",
		at:   berlin(t, "2026-12-09 15:30:00"), open: -30 * time.Second, tier: "bronze",
		want: map[string]outcome{"weekend-double-beans": outside, "happy-hour": notInAudience, demoCampaignName: applied},
	}, {
		name: "Berlin happy hour in summer time opens at 15:00 local, 13:00 UTC",
		at:   utc(t, "2027-07-07T13:00:00Z"), open: time.Minute, tier: "gold",
		want: map[string]outcome{"weekend-double-beans": outside, "happy-hour": applied, demoCampaignName: outside},
	}, {
		name: "Berlin happy hour in summer time is over at 17:00 local",
		at:   utc(t, "2027-07-07T15:00:00Z"), open: -30 * time.Second, tier: "gold",
		want: map[string]outcome{"weekend-double-beans": outside, "happy-hour": outside, demoCampaignName: applied},
	}, {
		name: "the spring DST night, just before the clocks jump: weekend",
		at:   berlin(t, "2027-03-28 01:59:59"), open: -30 * time.Second, tier: "bronze",
		want: map[string]outcome{"weekend-double-beans": applied, "happy-hour": outside, demoCampaignName: overridden},
	}, {
		name: "the spring DST night, 48 elapsed hours reach 00:30 on Monday: still the weekend",
		at:   berlin(t, "2027-03-29 00:30:00"), open: -30 * time.Second, tier: "bronze",
		want: map[string]outcome{"weekend-double-beans": applied, "happy-hour": outside, demoCampaignName: overridden},
	}, {
		name: "after the spring DST weekend, 01:00 on Monday: over",
		at:   berlin(t, "2027-03-29 01:00:00"), open: -30 * time.Second, tier: "bronze",
		want: map[string]outcome{"weekend-double-beans": outside, "happy-hour": outside, demoCampaignName: applied},
	}, {
		name: "the autumn DST night, 02:30 the first time (summer time)",
		at:   utc(t, "2026-10-25T00:30:00Z"), open: -30 * time.Second, tier: "bronze",
		want: map[string]outcome{"weekend-double-beans": applied, "happy-hour": outside, demoCampaignName: overridden},
	}, {
		name: "the autumn DST night, 02:30 the second time (winter time)",
		at:   utc(t, "2026-10-25T01:30:00Z"), open: -30 * time.Second, tier: "bronze",
		want: map[string]outcome{"weekend-double-beans": applied, "happy-hour": outside, demoCampaignName: overridden},
	}, {
		name: "after the autumn DST night, 23:00 on Sunday: 48 elapsed hours are over",
		at:   berlin(t, "2026-10-25 23:00:00"), open: -30 * time.Second, tier: "bronze",
		want: map[string]outcome{"weekend-double-beans": outside, "happy-hour": outside, demoCampaignName: applied},
	}, {
		name: "the Monday after the autumn change, happy hour opens at 15:00 winter time, 14:00 UTC",
		at:   utc(t, "2026-10-26T14:00:00Z"), open: -30 * time.Second, tier: "silver",
		want: map[string]outcome{"weekend-double-beans": outside, "happy-hour": applied, demoCampaignName: applied},
	}, {
		name: "the Monday after the autumn change, 15:00 in summer time would be 13:00 UTC: not yet",
		at:   utc(t, "2026-10-26T13:30:00Z"), open: -30 * time.Second, tier: "silver",
		want: map[string]outcome{"weekend-double-beans": outside, "happy-hour": outside, demoCampaignName: applied},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opens := tc.at.Add(tc.open)
			campaigns := append(append([]loyaltyv1alpha1.Campaign(nil), samples...), *demoCampaign(opens, opens.Add(time.Minute)))
			got, err := expectedOutcomes(campaigns, purchase{at: tc.at, amount: "8.00", tier: tc.tier})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got outcomes for %d campaigns, want %d: %v", len(got), len(tc.want), got)
			}
			for name, want := range tc.want {
				if got[name] != want {
					t.Errorf("%s: got %s, want %s", name, got[name], want)
				}
			}
		})
	}
}

// TestExpectedOutcomesRules covers what the samples do not: pausing, tags,
// new members, minimum spend, rules for actions only, and priority between
// exclusive campaigns.
func TestExpectedOutcomesRules(t *testing.T) {
	at := utc(t, "2026-12-09T12:00:00Z")
	campaign := func(name string, mutate func(*loyaltyv1alpha1.CampaignSpec)) loyaltyv1alpha1.Campaign {
		c := *demoCampaign(at.Add(-time.Hour), at.Add(time.Hour))
		c.Name = name
		mutate(&c.Spec)
		return c
	}
	newMembers := loyaltyv1alpha1.Duration("30d")
	cases := []struct {
		name      string
		campaigns []loyaltyv1alpha1.Campaign
		p         purchase
		want      map[string]outcome
	}{{
		name:      "paused",
		campaigns: []loyaltyv1alpha1.Campaign{campaign("c", func(s *loyaltyv1alpha1.CampaignSpec) { s.Paused = true })},
		p:         purchase{at: at, amount: "5"},
		want:      map[string]outcome{"c": {reason: rules.ReasonPaused}},
	}, {
		name: "member tags: none match",
		campaigns: []loyaltyv1alpha1.Campaign{campaign("c", func(s *loyaltyv1alpha1.CampaignSpec) {
			s.Audience = &loyaltyv1alpha1.CampaignAudience{MemberTags: []string{"student"}}
		})},
		p:    purchase{at: at, amount: "5", tags: []string{"app"}},
		want: map[string]outcome{"c": {reason: rules.ReasonAudienceTags}},
	}, {
		name: "member tags: one matches",
		campaigns: []loyaltyv1alpha1.Campaign{campaign("c", func(s *loyaltyv1alpha1.CampaignSpec) {
			s.Audience = &loyaltyv1alpha1.CampaignAudience{MemberTags: []string{"student", "app"}}
		})},
		p:    purchase{at: at, amount: "5", tags: []string{"app"}},
		want: map[string]outcome{"c": {applied: true}},
	}, {
		name: "new members only, enrolled 31 days before",
		campaigns: []loyaltyv1alpha1.Campaign{campaign("c", func(s *loyaltyv1alpha1.CampaignSpec) {
			s.Audience = &loyaltyv1alpha1.CampaignAudience{NewMembersWithin: &newMembers}
		})},
		p:    purchase{at: at, amount: "5", enrolledAt: at.Add(-31 * 24 * time.Hour)},
		want: map[string]outcome{"c": {reason: rules.ReasonNotNewMember}},
	}, {
		name: "a purchase bonus below its minimum spend, no multiplier",
		campaigns: []loyaltyv1alpha1.Campaign{campaign("c", func(s *loyaltyv1alpha1.CampaignSpec) {
			s.Rules = loyaltyv1alpha1.CampaignRules{PurchaseBonus: &loyaltyv1alpha1.PurchaseBonus{Points: 10, MinimumSpend: "5"}}
		})},
		p:    purchase{at: at, amount: "4.99"},
		want: map[string]outcome{"c": {reason: rules.ReasonBelowMinimumSpend}},
	}, {
		name: "a purchase bonus below its minimum spend, with a multiplier",
		campaigns: []loyaltyv1alpha1.Campaign{campaign("c", func(s *loyaltyv1alpha1.CampaignSpec) {
			s.Rules.PurchaseBonus = &loyaltyv1alpha1.PurchaseBonus{Points: 10, MinimumSpend: "5"}
		})},
		p:    purchase{at: at, amount: "4.99"},
		want: map[string]outcome{"c": {applied: true}},
	}, {
		name: "action bonuses only",
		campaigns: []loyaltyv1alpha1.Campaign{campaign("c", func(s *loyaltyv1alpha1.CampaignSpec) {
			s.Rules = loyaltyv1alpha1.CampaignRules{ActionBonuses: []loyaltyv1alpha1.ActionBonus{{Action: "review", Points: 5}}}
		})},
		p:    purchase{at: at, amount: "5"},
		want: map[string]outcome{"c": {reason: rules.ReasonNoRuleForEvent}},
	}, {
		name: "two exclusive campaigns: the higher priority wins, the stacking one is overridden too",
		campaigns: []loyaltyv1alpha1.Campaign{
			campaign("a-low", func(s *loyaltyv1alpha1.CampaignSpec) { s.Stacking, s.Priority = loyaltyv1alpha1.StackingExclusive, 1 }),
			campaign("b-high", func(s *loyaltyv1alpha1.CampaignSpec) { s.Stacking, s.Priority = loyaltyv1alpha1.StackingExclusive, 2 }),
			campaign("c-stack", func(s *loyaltyv1alpha1.CampaignSpec) { s.Priority = 5 }),
		},
		p: purchase{at: at, amount: "5"},
		want: map[string]outcome{
			"a-low":   {reason: rules.ReasonExclusiveOverridden, overriddenBy: "b-high"},
			"b-high":  {applied: true},
			"c-stack": {reason: rules.ReasonExclusiveOverridden, overriddenBy: "b-high"},
		},
	}, {
		name: "two exclusive campaigns of equal priority: the name sorting first wins",
		campaigns: []loyaltyv1alpha1.Campaign{
			campaign("z", func(s *loyaltyv1alpha1.CampaignSpec) { s.Stacking = loyaltyv1alpha1.StackingExclusive }),
			campaign("a", func(s *loyaltyv1alpha1.CampaignSpec) { s.Stacking = loyaltyv1alpha1.StackingExclusive }),
		},
		p: purchase{at: at, amount: "5"},
		want: map[string]outcome{
			"a": {applied: true},
			"z": {reason: rules.ReasonExclusiveOverridden, overriddenBy: "a"},
		},
	}, {
		name: "an exclusive campaign outside its window overrides nothing",
		campaigns: []loyaltyv1alpha1.Campaign{
			campaign("x", func(s *loyaltyv1alpha1.CampaignSpec) {
				s.Stacking = loyaltyv1alpha1.StackingExclusive
				s.Schedule.Start.Time = at.Add(time.Hour)
				s.Schedule.End.Time = at.Add(2 * time.Hour)
			}),
			campaign("s", func(*loyaltyv1alpha1.CampaignSpec) {}),
		},
		p: purchase{at: at, amount: "5"},
		want: map[string]outcome{
			"x": {reason: rules.ReasonOutsideWindow},
			"s": {applied: true},
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := expectedOutcomes(tc.campaigns, tc.p)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for name, want := range tc.want {
				if got[name] != want {
					t.Errorf("%s: got %s, want %s", name, got[name], want)
				}
			}
		})
	}
}

func TestCheckOutcomes(t *testing.T) {
	type campaign = struct {
		Name         string `json:"name"`
		Applied      bool   `json:"applied"`
		Reason       string `json:"reason"`
		OverriddenBy string `json:"overriddenBy"`
		Multiplier   string `json:"multiplier"`
		Granted      int64  `json:"granted"`
	}
	want := map[string]outcome{
		"weekend-double-beans": {applied: true},
		demoCampaignName:       {reason: rules.ReasonExclusiveOverridden, overriddenBy: "weekend-double-beans"},
	}
	cases := []struct {
		name      string
		campaigns []campaign
		wantErr   string
	}{{
		name: "as expected",
		campaigns: []campaign{
			{Name: "weekend-double-beans", Applied: true, Granted: 8},
			{Name: demoCampaignName, Reason: rules.ReasonExclusiveOverridden, OverriddenBy: "weekend-double-beans"},
		},
	}, {
		name: "the issue's failure: the demo campaign expected to apply in its window during the weekend",
		campaigns: []campaign{
			{Name: "weekend-double-beans", Applied: true, Granted: 8},
			{Name: demoCampaignName, Applied: true},
		},
		wantErr: "campaign double-beans-now: applied; want exclusiveOverridden by weekend-double-beans",
	}, {
		name:      "a campaign missing",
		campaigns: []campaign{{Name: "weekend-double-beans", Applied: true}},
		wantErr:   "campaign double-beans-now is missing from the explanation; want exclusiveOverridden by weekend-double-beans",
	}, {
		name: "a campaign not declared",
		campaigns: []campaign{
			{Name: "weekend-double-beans", Applied: true},
			{Name: demoCampaignName, Reason: rules.ReasonExclusiveOverridden, OverriddenBy: "weekend-double-beans"},
			{Name: "ghost", Reason: rules.ReasonOutsideWindow},
		},
		wantErr: "the explanation names campaign ghost, which is not declared",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ex explanation
			ex.Campaigns = tc.campaigns
			err := checkOutcomes(want, ex)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr):
				t.Fatalf("got error %v, want %q", err, tc.wantErr)
			}
		})
	}
}
