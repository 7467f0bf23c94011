package background

import (
	"context"
	"log/slog"
	"time"
)

// TierPassInterval spaces the passes over members' tiers.
const TierPassInterval = time.Minute

// TierPass re-evaluates the tier of every member above the entry tier,
// first after Interval and then once a TierPassInterval, at most Rate
// members a second. Tiers change on earning; this pass only finds lapsed
// qualifications, whose grace periods are days long. It runs beside Due so
// that a long pass over a large program holds up no release.
type TierPass struct {
	Ledger   DueProcessor
	Config   Snapshots
	Metrics  DueObserver
	Interval time.Duration
	Rate     float64 // members a second
	Log      *slog.Logger
	Clock    Clock // nil: real time
}

// Run makes tier passes until ctx ends.
func (j TierPass) Run(ctx context.Context) {
	clock := clockOrReal(j.Clock)
	wait := j.Interval
	for {
		select {
		case <-ctx.Done():
			return
		case <-clock.After(wait):
		}
		opts := dueOptions(j.Config.Current())
		if opts.Tiers == nil {
			wait = j.Interval // no ladder yet: look again soon
			continue
		}
		opts.TierPassRate = j.Rate
		runDue(ctx, j.Ledger, j.Metrics, opts, j.Log)
		wait = TierPassInterval
	}
}
