package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
	"github.com/loyaltyops/loyalty-operator/contract"
	"github.com/loyaltyops/loyalty-operator/controllers/render"
)

// stamped is a value and when the bench saw it appear.
type stamped struct {
	value string
	at    time.Time
}

// observer follows the cluster through the bench's informers and stamps
// every change it cares about with the time it arrived. Each figure is thus
// what a client watching the API sees, the watch delay included.
type observer struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every recorded change

	// Readiness of the setup's objects, by kind/namespace/name.
	expected   int
	ready      map[string]bool
	readyCount int
	allReadyAt time.Time

	snapshot map[string]stamped // namespace → hash in the program's ConfigMap
	engine   map[string]stamped // namespace → hash in the real engine's report
	status   map[string]stamped // namespace → the program's snapshot hash once ConfigApplied is True for it

	phases map[string]map[loyaltyv1alpha1.CampaignPhase]time.Time // namespace/name → when each phase was first seen
}

func newObserver(expected int) *observer {
	return &observer{
		changed:  make(chan struct{}),
		expected: expected,
		ready:    map[string]bool{},
		snapshot: map[string]stamped{},
		engine:   map[string]stamped{},
		status:   map[string]stamped{},
		phases:   map[string]map[loyaltyv1alpha1.CampaignPhase]time.Time{},
	}
}

// notify wakes every waiter; the caller holds mu.
func (o *observer) notify() {
	close(o.changed)
	o.changed = make(chan struct{})
}

// waitFor returns once check, called under the lock after every change, says yes.
func (o *observer) waitFor(ctx context.Context, timeout time.Duration, what string, check func() bool) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		o.mu.Lock()
		ok, changed := check(), o.changed
		o.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("waiting for %s: gave up after %s", what, timeout)
		case <-changed:
		}
	}
}

// isReady is the kstatus reading of an object: Ready is True and both the
// status and the condition speak of the current generation.
func isReady(obj client.Object, observed int64, conds []metav1.Condition) bool {
	c := meta.FindStatusCondition(conds, loyaltyv1alpha1.ConditionReady)
	return c != nil && c.Status == metav1.ConditionTrue && observed == obj.GetGeneration() && c.ObservedGeneration == obj.GetGeneration()
}

func (o *observer) onObject(obj any) {
	now := time.Now()
	var ready bool
	var kind string
	switch x := obj.(type) {
	case *loyaltyv1alpha1.LoyaltyProgram:
		kind, ready = "program", isReady(x, x.Status.ObservedGeneration, x.Status.Conditions)
		o.onProgram(x, now)
	case *loyaltyv1alpha1.Tier:
		kind, ready = "tier", isReady(x, x.Status.ObservedGeneration, x.Status.Conditions)
	case *loyaltyv1alpha1.RewardCatalog:
		kind, ready = "catalog", isReady(x, x.Status.ObservedGeneration, x.Status.Conditions)
	case *loyaltyv1alpha1.Campaign:
		kind, ready = "campaign", isReady(x, x.Status.ObservedGeneration, x.Status.Conditions)
		o.onCampaign(x, now)
	default:
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.allReadyAt.IsZero() {
		return
	}
	key := kind + "/" + obj.(client.Object).GetNamespace() + "/" + obj.(client.Object).GetName()
	if o.ready[key] != ready {
		o.ready[key] = ready
		if ready {
			o.readyCount++
		} else {
			o.readyCount--
		}
	}
	if o.readyCount == o.expected {
		o.allReadyAt = now
	}
	o.notify()
}

func (o *observer) onProgram(p *loyaltyv1alpha1.LoyaltyProgram, now time.Time) {
	if !meta.IsStatusConditionTrue(p.Status.Conditions, "ConfigApplied") || p.Status.SnapshotHash == "" {
		return
	}
	o.record(o.status, p.Namespace, p.Status.SnapshotHash, now)
}

func (o *observer) onCampaign(c *loyaltyv1alpha1.Campaign, now time.Time) {
	if c.Status.Phase == "" {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	key := c.Namespace + "/" + c.Name
	seen := o.phases[key]
	if seen == nil {
		seen = map[loyaltyv1alpha1.CampaignPhase]time.Time{}
		o.phases[key] = seen
	}
	if _, ok := seen[c.Status.Phase]; !ok {
		seen[c.Status.Phase] = now
		o.notify()
	}
}

func (o *observer) onConfigMap(obj any) {
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok || cm.Name != render.ConfigMapName(programName) {
		return
	}
	o.record(o.snapshot, cm.Namespace, cm.Data[contract.SnapshotHashKey], time.Now())
}

// onLease follows the reports of real engines only: the stand-in reports
// are the bench's own writes.
func (o *observer) onLease(obj any) {
	l, ok := obj.(*coordinationv1.Lease)
	if !ok || l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == standInIdentity {
		return
	}
	o.record(o.engine, l.Namespace, l.Annotations[contract.AnnotationAppliedSnapshot], time.Now())
}

// record keeps the first time a value was seen, and notifies on a new one.
func (o *observer) record(m map[string]stamped, key, value string, now time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if m[key].value == value {
		return
	}
	m[key] = stamped{value: value, at: now}
	o.notify()
}

// watchAll starts informers for every kind the bench observes or stands in for.
func (b *bench) watchAll(ctx context.Context) error {
	c, err := cache.New(b.cfg, cache.Options{Scheme: b.scheme, ByObject: map[client.Object]cache.ByObject{
		&corev1.ConfigMap{}:     {Label: labelSelector(render.LabelManagedBy, render.ManagerName)},
		&coordinationv1.Lease{}: {Label: labelSelector(contract.LabelReport, contract.ReportTrue)},
		&corev1.Secret{}:        {Label: labelSelector(render.LabelManagedBy, render.ManagerName)},
	}})
	if err != nil {
		return fmt.Errorf("creating the bench's cache: %w", err)
	}
	b.cache = c
	objectHandler := toolscache.ResourceEventHandlerFuncs{
		AddFunc:    b.obs.onObject,
		UpdateFunc: func(_, obj any) { b.obs.onObject(obj) },
	}
	handlers := []struct {
		obj     client.Object
		handler toolscache.ResourceEventHandler
	}{
		{&loyaltyv1alpha1.LoyaltyProgram{}, objectHandler},
		{&loyaltyv1alpha1.Tier{}, objectHandler},
		{&loyaltyv1alpha1.RewardCatalog{}, objectHandler},
		{&loyaltyv1alpha1.Campaign{}, objectHandler},
		{&corev1.ConfigMap{}, toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { b.obs.onConfigMap(obj); b.engines.enqueue(obj) },
			UpdateFunc: func(_, obj any) { b.obs.onConfigMap(obj); b.engines.enqueue(obj) },
		}},
		{&coordinationv1.Lease{}, toolscache.ResourceEventHandlerFuncs{
			AddFunc:    b.obs.onLease,
			UpdateFunc: func(_, obj any) { b.obs.onLease(obj) },
		}},
		{&appsv1.StatefulSet{}, toolscache.ResourceEventHandlerFuncs{
			AddFunc:    b.kubelet.enqueue,
			UpdateFunc: func(_, obj any) { b.kubelet.enqueue(obj) },
		}},
		// Secrets only for the real engines' API keys, read from the cache.
		{&corev1.Secret{}, toolscache.ResourceEventHandlerFuncs{}},
	}
	for _, h := range handlers {
		inf, err := c.GetInformer(ctx, h.obj)
		if err != nil {
			return fmt.Errorf("watching %T: %w", h.obj, err)
		}
		if _, err := inf.AddEventHandler(h.handler); err != nil {
			return fmt.Errorf("watching %T: %w", h.obj, err)
		}
	}
	go func() {
		if err := c.Start(ctx); err != nil && ctx.Err() == nil {
			logf("the bench's informers stopped: %v", err)
		}
	}()
	if !c.WaitForCacheSync(ctx) {
		return fmt.Errorf("the bench's informers did not sync")
	}
	return nil
}

func labelSelector(key, value string) labels.Selector {
	return labels.SelectorFromSet(labels.Set{key: value})
}

// objectKeyOf is the informer key of obj: namespace/name.
func objectKeyOf(obj any) (string, bool) {
	key, err := toolscache.MetaNamespaceKeyFunc(obj)
	return key, err == nil && key != ""
}
