package background

import (
	"cmp"
	"context"
	"log/slog"
	"os"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/report"
)

// Reports tells the operator which snapshot this replica applied, which
// campaign budgets are spent and which event sinks fail, through a Lease
// per replica, and withdraws it when the job stops. The program's name comes from the first
// snapshot, so it needs no flag of its own.
type Reports struct {
	Client kubernetes.Interface
	Config *config.Holder
	Ledger SpendReader
	// Namespace and ConfigMap name the ConfigMap the snapshot is read from;
	// the report is written beside it and owned by its owners.
	Namespace string
	ConfigMap string
	// Pod is the replica's pod name; empty for a plain process, which is
	// then named by its host.
	Pod string
	// Interval spaces the checks of the campaigns' spend.
	Interval time.Duration
	// Delivery, if set, is the event sinks' health the deliverers record;
	// it is reported on the same Lease when a sink's standing changes.
	Delivery *report.DeliveryHealth
	// DeliveryHold spaces two delivery reports; report.DefaultDeliveryHold
	// when zero.
	DeliveryHold time.Duration
	Log          *slog.Logger
	Clock        Clock // nil: real time
}

// Run reports until ctx ends, then withdraws the report.
func (j Reports) Run(ctx context.Context) {
	if !waitForSnapshot(ctx, j.Config) {
		return
	}
	identity := j.Pod
	if identity == "" {
		identity = hostIdentity()
	}
	r := &report.Reporter{Client: j.Client, Namespace: j.Namespace, Program: j.Config.Current().Program.Name, Identity: identity, Pod: j.Pod}
	var budgets sync.WaitGroup
	budgets.Go(func() {
		Exhausted{Ledger: j.Ledger, Config: j.Config, Sink: r, Interval: j.Interval, Log: j.Log, Clock: j.Clock}.Run(ctx)
	})
	if j.Delivery != nil {
		hold := cmp.Or(j.DeliveryHold, report.DefaultDeliveryHold)
		budgets.Go(func() { report.FollowDelivery(ctx, j.Delivery, r, hold, j.Log) })
	}
	report.Follow(ctx, j.Config, r, j.ConfigMap, j.Log)
	budgets.Wait()
}

// waitForSnapshot returns true once h holds a snapshot, false if ctx ends first.
func waitForSnapshot(ctx context.Context, h *config.Holder) bool {
	for {
		changed := h.Changed() // taken before the check, so a snapshot applied in between is not missed
		if h.Current() != nil {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-changed:
		}
	}
}

// hostIdentity names a plain process by its host, stable across restarts,
// so a restarted engine takes over its own report instead of leaving one
// behind.
func hostIdentity() string {
	host, err := os.Hostname()
	if err != nil {
		return "unknown-host"
	}
	return host
}
