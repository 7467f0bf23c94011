package controllers

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
	"github.com/loyaltyops/loyalty-operator/contract"
	"github.com/loyaltyops/loyalty-operator/controllers/render"
)

// Reasons and the condition of event delivery.
const (
	// ReasonSecretNotFound: a Secret or key spec.events refers to is missing.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonSinkFailing: an engine replica fails to deliver to a sink.
	ReasonSinkFailing = "SinkFailing"
	// ReasonDelivering: every replica delivers to every sink.
	ReasonDelivering = "Delivering"
	// ReasonAwaitingReport: no engine replica has reported yet.
	ReasonAwaitingReport = "AwaitingReport"

	// ConditionEventsDelivering is True while every event sink delivers;
	// present only for programs with sinks.
	ConditionEventsDelivering = "EventsDelivering"
)

// eventSecretError is a Secret or key of spec.events that does not exist.
// The engine would not start with it (its volume cannot be mounted), so
// the configuration and workload are left as they are until it appears.
type eventSecretError struct{ message string }

func (e *eventSecretError) Error() string { return e.message }

// checkEventSecrets looks up every Secret key spec.events refers to. The
// Secrets are the user's, outside the operator's cache, so they are read
// directly; a missing one is looked up again after secretRetry.
func (r *LoyaltyProgramReconciler) checkEventSecrets(ctx context.Context, p *loyaltyv1alpha1.LoyaltyProgram) error {
	for _, ref := range render.EventSecretRefs(p) {
		var secret corev1.Secret
		err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: ref.Ref.Name}, &secret)
		if apierrors.IsNotFound(err) {
			return &eventSecretError{fmt.Sprintf("%s: Secret %s not found in namespace %s", ref.Field, ref.Ref.Name, p.Namespace)}
		}
		if err != nil {
			return fmt.Errorf("%s: reading Secret %s: %w", ref.Field, ref.Ref.Name, err)
		}
		if _, ok := secret.Data[ref.Ref.Key]; !ok {
			return &eventSecretError{fmt.Sprintf("%s: Secret %s has no key %q", ref.Field, ref.Ref.Name, ref.Ref.Key)}
		}
	}
	return nil
}

// hasSinks reports whether the program delivers events anywhere.
func hasSinks(p *loyaltyv1alpha1.LoyaltyProgram) bool {
	e := p.Spec.Events
	return e != nil && len(e.Webhooks)+len(e.NATS) > 0
}

// observeEventsDelivering sets EventsDelivering from the live replicas'
// reports. meta.SetStatusCondition keeps the condition as it is while
// nothing changes, so a quiet program is never written.
func observeEventsDelivering(p *loyaltyv1alpha1.LoyaltyProgram, reports []coordinationv1.Lease) {
	if !hasSinks(p) {
		meta.RemoveStatusCondition(&p.Status.Conditions, ConditionEventsDelivering)
		return
	}
	cond := metav1.Condition{Type: ConditionEventsDelivering, ObservedGeneration: p.Generation}
	var failing []string
	for i := range reports {
		sinks, err := contract.EventsHealth(reports[i].Annotations)
		if err != nil {
			failing = append(failing, fmt.Sprintf("%s sent an unreadable report: %v", holder(&reports[i]), err))
			continue
		}
		for _, s := range sinks {
			failing = append(failing, sinkText(s, holder(&reports[i])))
		}
	}
	sort.Strings(failing)
	switch {
	case len(failing) > 0:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, ReasonSinkFailing, strings.Join(failing, "; ")
	case len(reports) == 0:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionUnknown, ReasonAwaitingReport, "no engine replica has reported yet"
	default:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionTrue, ReasonDelivering, "every engine replica delivers to every sink"
	}
	meta.SetStatusCondition(&p.Status.Conditions, cond)
}

func sinkText(s contract.SinkHealth, replica string) string {
	text := fmt.Sprintf("sink %s fails on %s", s.Sink, replica)
	if s.DeadLetters > 0 {
		text += fmt.Sprintf(" (%d events dead-lettered)", s.DeadLetters)
	}
	if s.Error != "" {
		text += ": " + s.Error
	}
	return text
}

// secretRetry is how soon a missing Secret of spec.events is looked up again.
const secretRetry = 15 * time.Second
