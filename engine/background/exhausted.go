package background

import (
	"context"
	"log/slog"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

// ExhaustedSink records the campaigns whose budget is spent;
// *report.Reporter is one.
type ExhaustedSink interface {
	Exhausted(ctx context.Context, campaigns []string) error
}

// Exhausted checks the campaigns' spend every Interval and hands the
// campaigns whose budget is spent to Sink, which writes only when that
// list changes, so a steady engine makes no API writes.
type Exhausted struct {
	Ledger   SpendReader
	Config   Snapshots
	Sink     ExhaustedSink
	Interval time.Duration
	Log      *slog.Logger
	Clock    Clock // nil: real time
}

// Run reports spent budgets until ctx ends.
func (j Exhausted) Run(ctx context.Context) {
	every(ctx, j.Clock, j.Interval, func() {
		spend, err := j.Ledger.CampaignSpend(ctx)
		if err != nil {
			if ctx.Err() == nil {
				j.Log.Warn("reading campaign spend", "error", err.Error())
			}
			return
		}
		if err := j.Sink.Exhausted(ctx, exhaustedCampaigns(j.Config.Current(), spend)); err != nil && ctx.Err() == nil {
			j.Log.Warn("reporting spent campaign budgets", "error", err.Error())
		}
	})
}

// exhaustedCampaigns are the snapshot's campaigns that granted their whole budget.
func exhaustedCampaigns(s *config.Snapshot, spend map[string]int64) []string {
	if s == nil {
		return nil
	}
	var names []string
	for _, c := range s.Campaigns {
		if c.Limits != nil && c.Limits.TotalBonusBudget != nil && rules.BudgetLeft(*c.Limits.TotalBonusBudget, spend[c.Name]) == 0 {
			names = append(names, c.Name)
		}
	}
	return names
}
