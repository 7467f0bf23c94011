package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
)

// setup creates every object and waits until all of them are Ready.
func (b *bench) setup(ctx context.Context, res *results, engineErrs <-chan error) error {
	now := time.Now()
	var objs []client.Object
	for i := 0; i < b.opts.programs; i++ {
		objs = append(objs, b.programObjects(i, now)...)
	}
	cpu0, err := readProcStats(b.manager.pid())
	if err != nil {
		return err
	}
	logf("creating %d objects in %d namespaces, %d at a time", len(objs), b.opts.programs, b.opts.concurrency)
	t0 := time.Now()
	if err := b.createAll(ctx, objs); err != nil {
		return err
	}
	res.CreateSeconds = time.Since(t0).Seconds()
	logf("created in %.1fs; waiting for every object to be Ready", res.CreateSeconds)

	stopProgress := b.reportProgress(ctx)
	err = b.obs.waitFor(ctx, b.opts.readyTimeout, "every object to be Ready", func() bool { return !b.obs.allReadyAt.IsZero() })
	stopProgress()
	if err != nil {
		select {
		case engineErr := <-engineErrs:
			if engineErr != nil {
				return fmt.Errorf("%w (the real engine did not start: %v)", err, engineErr)
			}
		default:
		}
		b.obs.mu.Lock()
		err = fmt.Errorf("%w: %d of %d Ready", err, b.obs.readyCount, b.obs.expected)
		b.obs.mu.Unlock()
		return err
	}
	b.obs.mu.Lock()
	readyAt := b.obs.allReadyAt
	b.obs.mu.Unlock()
	res.ReadySeconds = readyAt.Sub(t0).Seconds()
	cpu1, err := readProcStats(b.manager.pid())
	if err != nil {
		return err
	}
	res.SetupManagerCPU = cpu1.cpu - cpu0.cpu
	w, err := b.writesBetween(t0, time.Now())
	if err != nil {
		return err
	}
	res.SetupWrites, res.SetupWritesByKind = w.byUser[managerUser], w.byKind
	logf("every object Ready %.1fs after the first create; the operator made %d writes", res.ReadySeconds, res.SetupWrites)
	return nil
}

// reportProgress logs how many objects are Ready every five seconds.
func (b *bench) reportProgress(ctx context.Context) func() {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		tick := time.NewTicker(5 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				b.obs.mu.Lock()
				ready, expected := b.obs.readyCount, b.obs.expected
				b.obs.mu.Unlock()
				logf("  %d of %d objects Ready", ready, expected)
			}
		}
	}()
	return cancel
}

// idle counts every write made while nothing changes. The operator should
// make none: it writes only when what it renders or reports differs.
func (b *bench) idle(ctx context.Context, res *results) error {
	logf("counting writes for %s with nothing changing", b.opts.idle)
	before, err := readProcStats(b.manager.pid())
	if err != nil {
		return err
	}
	from := time.Now()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(b.opts.idle):
	}
	to := time.Now()
	after, err := readProcStats(b.manager.pid())
	if err != nil {
		return err
	}
	w, err := b.writesBetween(from, to)
	if err != nil {
		return err
	}
	res.IdleSeconds = to.Sub(from).Seconds()
	res.IdleWrites, res.IdleOtherWrites = w.byUser[managerUser], w.others()
	if res.IdleWrites > 0 {
		res.IdleWritesBy = w.byKind
		logf("the operator wrote while idle, for example: %v", w.samples)
	}
	res.IdleManagerCPU = after.cpu - before.cpu
	res.ManagerRSSMiB = mib(after.rss)
	logf("idle: %d operator writes, %.2fs manager CPU, RSS %.0f MiB", res.IdleWrites, res.IdleManagerCPU, res.ManagerRSSMiB)
	return nil
}

// propagation edits the first Campaign of the first program, which a real
// engine serves, one edit at a time, and times each edit until the rendered
// ConfigMap holds a new snapshot, until the engine reports it applied that
// snapshot, and until the program's status says so.
func (b *bench) propagation(ctx context.Context, res *results) error {
	ns := namespaceOf(0)
	key := types.NamespacedName{Namespace: ns, Name: campaignName(0)}
	logf("timing %d edits of Campaign %s, %s apart", b.opts.edits, key, b.opts.editPause)
	var rendered, applied, status []time.Duration
	from := time.Now()
	for i := 0; i < b.opts.edits; i++ {
		b.obs.mu.Lock()
		previous := b.obs.snapshot[ns].value
		b.obs.mu.Unlock()
		// 1.01 to 1.98 over and over: every edit differs from the one before.
		multiplier := loyaltyv1alpha1.Multiplier(fmt.Sprintf("1.%02d", i%98+1))
		patch := fmt.Appendf(nil, `{"spec":{"rules":{"pointsMultiplier":%q}}}`, multiplier)
		edited := time.Now()
		c := &loyaltyv1alpha1.Campaign{}
		c.Namespace, c.Name = key.Namespace, key.Name
		if err := b.k8s.Patch(ctx, c, client.RawPatch(types.MergePatchType, patch), client.FieldOwner(benchUser)); err != nil {
			return fmt.Errorf("edit %d of Campaign %s: %w", i+1, key, err)
		}
		var hash string
		err := b.obs.waitFor(ctx, 30*time.Second, "the rendered snapshot", func() bool {
			hash = b.obs.snapshot[ns].value
			return hash != previous
		})
		if err != nil {
			return fmt.Errorf("edit %d: %w", i+1, err)
		}
		if err := b.obs.waitFor(ctx, 30*time.Second, "the engine to apply snapshot "+hash, func() bool {
			return b.obs.engine[ns].value == hash && b.obs.status[ns].value == hash
		}); err != nil {
			return fmt.Errorf("edit %d: %w", i+1, err)
		}
		b.obs.mu.Lock()
		rendered = append(rendered, b.obs.snapshot[ns].at.Sub(edited))
		applied = append(applied, b.obs.engine[ns].at.Sub(edited))
		status = append(status, b.obs.status[ns].at.Sub(edited))
		b.obs.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(b.opts.editPause):
		}
	}
	w, err := b.writesBetween(from, time.Now())
	if err != nil {
		return err
	}
	res.Edits, res.EditPause = len(rendered), b.opts.editPause.String()
	res.Rendered, res.Applied, res.StatusApplied = summarise(rendered), summarise(applied), summarise(status)
	if res.Edits > 0 {
		res.WritesPerEdit = float64(w.byUser[managerUser]) / float64(res.Edits)
	}
	logf("propagation: rendered %s; applied %s", pct(res.Rendered), pct(res.Applied))
	return nil
}

// phaseLag creates short Campaigns, spread over the programs, whose windows
// open and close a few seconds from now, and times each phase change seen
// through the API against the boundary that caused it.
func (b *bench) phaseLag(ctx context.Context, res *results) error {
	if b.opts.phaseCamps == 0 {
		return nil
	}
	// Whole seconds: that is what a Campaign's schedule holds.
	base := time.Now().Add(b.opts.phaseLead).Truncate(time.Second).Add(time.Second)
	type boundary struct {
		key   string
		phase loyaltyv1alpha1.CampaignPhase
		at    time.Time
	}
	var boundaries []boundary
	var objs []client.Object
	for k := 0; k < b.opts.phaseCamps; k++ {
		ns, name := namespaceOf(k%b.opts.programs), fmt.Sprintf("phase-%02d", k)
		start := base.Add(time.Duration(k%10) * time.Second)
		end := start.Add(time.Duration(3+k%3) * time.Second)
		objs = append(objs, b.campaign(ns, name, start, end, k))
		boundaries = append(boundaries,
			boundary{ns + "/" + name, loyaltyv1alpha1.CampaignActive, start},
			boundary{ns + "/" + name, loyaltyv1alpha1.CampaignCompleted, end})
	}
	logf("creating %d Campaigns with %d window boundaries between %s and %s", len(objs), len(boundaries),
		base.UTC().Format("15:04:05"), base.Add(14*time.Second).UTC().Format("15:04:05"))
	if err := createConcurrently(ctx, b.k8s, objs, b.opts.concurrency); err != nil {
		return err
	}
	if time.Now().After(base) {
		return fmt.Errorf("creating the phase Campaigns took past their first boundary; raise --phase-lead")
	}
	last := slices.MaxFunc(boundaries, func(a, b boundary) int { return a.at.Compare(b.at) }).at
	err := b.obs.waitFor(ctx, time.Until(last)+30*time.Second, "every phase change", func() bool {
		for _, bd := range boundaries {
			if _, seen := b.obs.phases[bd.key][bd.phase]; !seen {
				return false
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	var lags []time.Duration
	b.obs.mu.Lock()
	for _, bd := range boundaries {
		lag := b.obs.phases[bd.key][bd.phase].Sub(bd.at)
		if lag < 0 {
			res.PhaseEarly++
		}
		lags = append(lags, lag)
	}
	b.obs.mu.Unlock()
	res.PhaseBoundary, res.PhaseLag = len(lags), summarise(lags)
	logf("phase lag: %s", pct(res.PhaseLag))
	return nil
}
