// Package background holds the points engine's work that runs on a timer
// beside the API: releasing and expiring due points, the periodic pass over
// members' tiers, reporting the applied snapshot and the spent campaign
// budgets to the operator, and logging the store's write health. Each job
// is a value with a Run method that returns when its context ends; the
// clock it waits on is injected, so tests drive it without sleeping.
package background

import (
	"context"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// Snapshots gives the configuration snapshot in effect, nil before the
// first one; *config.Holder is one.
type Snapshots interface {
	Current() *config.Snapshot
}

// DueProcessor is the part of the ledger the due and tier jobs use.
type DueProcessor interface {
	ProcessDue(ctx context.Context, opts ledger.DueOptions) (ledger.ProcessDueResult, error)
}

// DueObserver counts what a due pass did; the engine's metrics are one.
type DueObserver interface {
	ObserveProcessDue(r ledger.ProcessDueResult)
}

// SpendReader is the part of the ledger the budget report uses.
type SpendReader interface {
	CampaignSpend(ctx context.Context) (map[string]int64, error)
}

// every runs f once per tick of a ticker of interval until ctx ends. Like
// time.Ticker, a run longer than interval is followed by the next at once.
func every(ctx context.Context, clock Clock, interval time.Duration, f func()) {
	t := clockOrReal(clock).NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			f()
		}
	}
}
