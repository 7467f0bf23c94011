package controllers

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
)

// Condition reasons shared by the controllers.
const (
	ReasonReconciled      = "Reconciled"
	ReasonProgramNotFound = "ProgramNotFound"
	ReasonInvalid         = "Invalid"
	ReasonPaused          = "Paused"
	ReasonEngineNotReady  = "EngineNotReady"
	ReasonConfigPending   = "ConfigPending"
	ReasonConfigApplied   = "ConfigApplied"
	ReasonScheduled       = "Scheduled"
	ReasonActive          = "Active"
	ReasonCompleted       = "Completed"
	ReasonReconcileError  = "ReconcileError"

	// ConditionConfigApplied is True when every engine replica runs the current snapshot.
	ConditionConfigApplied = "ConfigApplied"
)

// kstatus is the outcome of one reconciliation in kstatus terms. Setting it
// through meta.SetStatusCondition keeps lastTransitionTime unless a status
// really changes, so a steady object is never written again.
type kstatus struct {
	ready     bool
	stalled   bool
	reason    string
	message   string
	inFlight  bool // Reconciling: the controller still works towards the spec
	inFlightR string
	// requeueAfter looks again later at what no watch reports, such as a
	// missing Secret of the user's; zero for none.
	requeueAfter time.Duration
}

func (k kstatus) apply(conditions *[]metav1.Condition, generation int64) {
	set := func(condType string, status bool, reason, message string) {
		s := metav1.ConditionFalse
		if status {
			s = metav1.ConditionTrue
		}
		meta.SetStatusCondition(conditions, metav1.Condition{
			Type: condType, Status: s, Reason: reason, Message: message, ObservedGeneration: generation,
		})
	}
	set(loyaltyv1alpha1.ConditionReady, k.ready, k.reason, k.message)
	if k.stalled {
		set(loyaltyv1alpha1.ConditionStalled, true, k.reason, k.message)
	} else {
		set(loyaltyv1alpha1.ConditionStalled, false, ReasonReconciled, "")
	}
	if k.inFlight {
		set(loyaltyv1alpha1.ConditionReconciling, true, k.inFlightR, k.message)
	} else {
		set(loyaltyv1alpha1.ConditionReconciling, false, ReasonReconciled, "")
	}
}
