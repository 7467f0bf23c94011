package background

import (
	"context"
	"log/slog"
	"time"
)

// MembershipEnder ends memberships whose period ended; every ledger.Ledger is one.
type MembershipEnder interface {
	EndDueMemberships(ctx context.Context, now time.Time) (int, error)
}

// Memberships ends, every Interval, the memberships whose billing period
// ended without a renewal and the cancelled ones at their period end.
type Memberships struct {
	Ledger   MembershipEnder
	Interval time.Duration
	Log      *slog.Logger
	Clock    Clock            // nil: real time
	Now      func() time.Time // nil: time.Now
}

// Run ends due memberships until ctx ends. A failure is logged and left
// to the next pass.
func (j Memberships) Run(ctx context.Context) {
	now := j.Now
	if now == nil {
		now = time.Now
	}
	every(ctx, j.Clock, j.Interval, func() {
		n, err := j.Ledger.EndDueMemberships(ctx, now())
		switch {
		case err != nil && ctx.Err() == nil:
			j.Log.Error("ending due memberships", "error", err.Error())
		case n > 0:
			j.Log.Info("ended due memberships", "ended", n)
		}
	})
}
