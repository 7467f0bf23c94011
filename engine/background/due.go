package background

import (
	"context"
	"log/slog"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// Due releases pending points and expires lots every Interval, and the
// balances of inactive members when the snapshot in effect says so. Tiers
// are left to TierPass.
type Due struct {
	Ledger   DueProcessor
	Config   Snapshots
	Metrics  DueObserver
	Interval time.Duration
	Log      *slog.Logger
	Clock    Clock // nil: real time
}

// Run processes due lots until ctx ends.
func (j Due) Run(ctx context.Context) {
	every(ctx, j.Clock, j.Interval, func() {
		opts := dueOptions(j.Config.Current())
		opts.Tiers = nil // TierPass's work
		runDue(ctx, j.Ledger, j.Metrics, opts, j.Log)
	})
}

// runDue makes one due pass and reports what it did. A failure is logged
// and left to the next pass; none is logged once ctx has ended, as the
// failure is then the shutdown's.
func runDue(ctx context.Context, l DueProcessor, m DueObserver, opts ledger.DueOptions, log *slog.Logger) {
	res, err := l.ProcessDue(ctx, opts) // zero Now: the store's clock
	if err != nil {
		if ctx.Err() == nil {
			log.Error("processing due lots", "error", err.Error())
		}
		return
	}
	m.ObserveProcessDue(res)
	if res.ReleasedLots > 0 || res.ExpiredLots > 0 || res.TierUpgrades > 0 || res.TierDowngrades > 0 {
		log.Info("processed due lots", "releasedLots", res.ReleasedLots, "releasedPoints", res.ReleasedPoints,
			"expiredLots", res.ExpiredLots, "expiredPoints", res.ExpiredPoints,
			"inactiveMembers", res.InactiveMembers, "inactiveExpiredPoints", res.InactiveExpiredPoints,
			"tierUpgrades", res.TierUpgrades, "tierDowngrades", res.TierDowngrades)
	}
}

// dueOptions takes the inactivity expiry and the tiers (re-evaluated, with
// downgrades after their grace period) from the snapshot; without a
// snapshot nothing expires for inactivity and no tier changes, as the
// policy is unknown.
func dueOptions(snap *config.Snapshot) ledger.DueOptions {
	var o ledger.DueOptions
	if snap == nil {
		return o
	}
	if snap.Points.Expiry != nil && snap.Points.Expiry.AfterInactivity != nil {
		o.ExpireAfterInactivity = snap.Points.Expiry.AfterInactivity.D()
	}
	o.Tiers = snap.Tiers
	return o
}
