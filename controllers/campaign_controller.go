package controllers

import (
	"context"
	"fmt"
	"slices"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
	"github.com/loyaltyops/loyalty-operator/contract"
	"github.com/loyaltyops/loyalty-operator/controllers/render"
)

// CampaignReconciler reports each Campaign's phase and wakes up exactly at
// its next window boundary. Engines judge events by their occurrence time
// from the snapshot alone; the phase is what people and Argo CD see.
type CampaignReconciler struct {
	client.Client
	// Clock is injected so tests can place "now" anywhere in a schedule.
	Clock    clock.PassiveClock
	Recorder events.EventRecorder
}

// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile computes the campaign's phase, records it, and requeues at the next transition.
func (r *CampaignReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var c loyaltyv1alpha1.Campaign
	if err := r.Get(ctx, req.NamespacedName, &c); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := c.DeepCopy()
	status, err := partStatus(ctx, r.Client, c.Namespace, c.Spec.ProgramRef.Name, render.ObjectRef{Kind: "Campaign", Name: c.Name})
	if err != nil {
		return ctrl.Result{}, err
	}

	now := r.Clock.Now()
	var requeue time.Duration
	if sched, err := render.ScheduleOf(c); err == nil {
		phase, window, next := sched.Phase(now, c.Spec.Paused)
		c.Status.Phase = loyaltyv1alpha1.CampaignPhase(phase)
		c.Status.CurrentWindow = nil
		if window != nil {
			c.Status.CurrentWindow = &loyaltyv1alpha1.TimeWindow{Start: metav1.NewTime(window.Start.UTC()), End: metav1.NewTime(window.End.UTC())}
		}
		c.Status.NextTransitionTime = nil
		if next != nil {
			c.Status.NextTransitionTime = &metav1.Time{Time: next.UTC()}
			requeue = max(next.Sub(now), time.Millisecond)
		}
		if status.ready {
			status.reason, status.message = phaseCondition(c.Status.Phase, c.Status.NextTransitionTime)
		}
	}
	if c.Status.BudgetExhausted, err = r.budgetExhausted(ctx, &c); err != nil {
		return ctrl.Result{}, err
	}
	status.apply(&c.Status.Conditions, c.Generation)
	c.Status.ObservedGeneration = c.Generation
	if err := patchStatus(ctx, r.Client, &c, before); err != nil {
		return ctrl.Result{}, err
	}
	r.announce(&c, before.Status.Phase)
	if c.Status.BudgetExhausted && !before.Status.BudgetExhausted && r.Recorder != nil {
		r.Recorder.Eventf(&c, nil, corev1.EventTypeWarning, "BudgetExhausted", "BudgetSpent",
			"the engine granted the whole bonus budget of %d points; the campaign adds no more bonus", budgetOf(&c))
	}
	return ctrl.Result{RequeueAfter: requeue}, nil
}

// budgetExhausted says whether any engine replica of the campaign's program
// reports the campaign's budget as spent.
func (r *CampaignReconciler) budgetExhausted(ctx context.Context, c *loyaltyv1alpha1.Campaign) (bool, error) {
	var leases coordinationv1.LeaseList
	if err := r.List(ctx, &leases, client.InNamespace(c.Namespace), client.MatchingLabels{contract.LabelProgram: c.Spec.ProgramRef.Name, contract.LabelReport: contract.ReportTrue}); err != nil {
		return false, fmt.Errorf("listing engine reports: %w", err)
	}
	for _, lease := range leases.Items {
		if slices.Contains(contract.ExhaustedCampaigns(lease.Annotations), c.Name) {
			return true, nil
		}
	}
	return false, nil
}

func budgetOf(c *loyaltyv1alpha1.Campaign) int64 {
	if c.Spec.Limits != nil && c.Spec.Limits.TotalBonusBudget != nil {
		return int64(*c.Spec.Limits.TotalBonusBudget)
	}
	return 0
}

// phaseCondition is the Ready reason and message of a campaign in effect.
// A scheduled campaign is healthy: it is exactly as declared.
func phaseCondition(phase loyaltyv1alpha1.CampaignPhase, next *metav1.Time) (string, string) {
	at := ""
	if next != nil {
		at = next.UTC().Format(time.RFC3339)
	}
	switch phase {
	case loyaltyv1alpha1.CampaignScheduled:
		return ReasonScheduled, "scheduled; the next window opens at " + at
	case loyaltyv1alpha1.CampaignActive:
		return ReasonActive, "active; the current window closes at " + at
	case loyaltyv1alpha1.CampaignPaused:
		return ReasonPaused, "paused by spec.paused; it applies to no event"
	default:
		return ReasonCompleted, "completed; no window is left"
	}
}

// announce records an event only when the phase changes.
func (r *CampaignReconciler) announce(c *loyaltyv1alpha1.Campaign, previous loyaltyv1alpha1.CampaignPhase) {
	if r.Recorder == nil || previous == c.Status.Phase {
		return
	}
	switch c.Status.Phase {
	case loyaltyv1alpha1.CampaignActive:
		r.Recorder.Eventf(c, nil, corev1.EventTypeNormal, "Activated", "PhaseChange", "window open until %s", c.Status.NextTransitionTime.UTC().Format(time.RFC3339))
	case loyaltyv1alpha1.CampaignCompleted:
		r.Recorder.Eventf(c, nil, corev1.EventTypeNormal, "Completed", "PhaseChange", "no window is left")
	case loyaltyv1alpha1.CampaignPaused:
		r.Recorder.Eventf(c, nil, corev1.EventTypeNormal, "Paused", "PhaseChange", "spec.paused is true")
	}
}
