package background

import (
	"context"
	"log/slog"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// BirthdayGranter is the part of the ledger the birthday job uses.
type BirthdayGranter interface {
	GrantBirthdays(ctx context.Context, req ledger.BirthdaysRequest) (ledger.BirthdaysResult, error)
}

// Birthdays grants the program's birthday points every Interval to the
// members whose birthday window holds the store's now and who have not had
// them for that year; a member's first earn in the window may grant them
// sooner. Without a birthday reward in the snapshot it does nothing.
type Birthdays struct {
	Ledger   BirthdayGranter
	Config   Snapshots
	Interval time.Duration
	Log      *slog.Logger
	Clock    Clock // nil: real time
}

// Run grants birthdays until ctx ends.
func (j Birthdays) Run(ctx context.Context) {
	every(ctx, j.Clock, j.Interval, func() { j.pass(ctx) })
}

// pass makes one birthday pass. A failure is logged and left to the next
// pass, which grants what this one did not: grants are once per year.
func (j Birthdays) pass(ctx context.Context) {
	rule := ledger.BirthdayRuleOf(j.Config.Current())
	if rule == nil {
		return
	}
	res, err := j.Ledger.GrantBirthdays(ctx, ledger.BirthdaysRequest{Rule: *rule}) // zero Now: the store's clock
	if err != nil {
		if ctx.Err() == nil {
			j.Log.Error("granting birthdays", "error", err.Error(), "granted", res.Granted)
		}
		return
	}
	if res.Granted > 0 {
		j.Log.Info("granted birthdays", "members", res.Granted, "points", res.Points)
	}
}
