package main

import (
	"slices"
	"testing"

	"github.com/loyaltyops/loyalty-operator/engine/config"
)

func TestExhaustedCampaigns(t *testing.T) {
	budget := func(n int64) *config.CampaignLimits { return &config.CampaignLimits{TotalBonusBudget: &n} }
	s := &config.Snapshot{Campaigns: []config.Campaign{
		{Name: "spent", Limits: budget(100)},
		{Name: "overspent-by-a-race-elsewhere", Limits: budget(100)},
		{Name: "left", Limits: budget(100)},
		{Name: "unbudgeted"},
	}}
	spend := map[string]int64{"spent": 100, "overspent-by-a-race-elsewhere": 101, "left": 99, "unbudgeted": 1_000_000}
	if got := exhaustedCampaigns(s, spend); !slices.Equal(got, []string{"spent", "overspent-by-a-race-elsewhere"}) {
		t.Errorf("exhaustedCampaigns = %v", got)
	}
	if exhaustedCampaigns(nil, spend) != nil {
		t.Error("no snapshot, nothing to report")
	}
}
