package controllers

import (
	"context"
	"errors"
	"fmt"
	"io"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
	"github.com/loyaltyops/loyalty-operator/contract"
	"github.com/loyaltyops/loyalty-operator/controllers/render"
)

// FieldOwner is the field manager of every write the operator makes.
const FieldOwner = "loyalty-operator"

// LoyaltyProgramReconciler deploys and configures the points engine of each program.
type LoyaltyProgramReconciler struct {
	client.Client
	Scheme *runtime.Scheme
	// APIReader reads objects the manager does not cache: pods behind engine
	// reports and the PostgreSQL Secret on deletion.
	APIReader client.Reader
	// EngineImage is the engine image of programs that do not name one.
	EngineImage string
	// Random generates API keys.
	Random io.Reader
}

// RBAC, each rule with its reason:
// Programs are read, and patched only to add or remove the member-data finalizer.
// +kubebuilder:rbac:groups=loyaltyops.io,resources=loyaltyprograms,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=loyaltyops.io,resources=loyaltyprograms/finalizers,verbs=update
// The engine's identity, API keys, configuration and Service are created and patched; garbage collection deletes them.
// +kubebuilder:rbac:groups="",resources=serviceaccounts;services;configmaps;secrets,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings,verbs=get;list;watch;create;patch
// Workloads and the disruption budget are also deleted on a storage switch or a scale-down to one replica.
// +kubebuilder:rbac:groups=apps,resources=statefulsets;deployments,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;patch;delete
// Engine reports are read, and deleted when the pod that wrote one is gone.
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;delete
// Secrets named by spec.events are read one at a time, uncached, to refuse
// deploying an engine whose event secrets cannot be mounted.
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
// Pods are read one at a time to tell whether a report's replica still exists.
// +kubebuilder:rbac:groups="",resources=pods,verbs=get
// The engine's Role grants these, and RBAC only lets the operator grant what it holds.
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;create;update;delete

// Reconcile brings a program's engine and configuration to its spec and
// reports the outcome in one status patch.
func (r *LoyaltyProgramReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var p loyaltyv1alpha1.LoyaltyProgram
	if err := r.Get(ctx, req.NamespacedName, &p); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !p.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.finalize(ctx, &p)
	}
	if err := r.syncFinalizer(ctx, &p); err != nil {
		return ctrl.Result{}, err
	}

	before := p.DeepCopy()
	outcome, err := r.reconcileProgram(ctx, &p)
	outcome.apply(&p.Status.Conditions, p.Generation)
	p.Status.ObservedGeneration = p.Generation
	if patchErr := patchStatus(ctx, r.Client, &p, before); patchErr != nil && err == nil {
		err = patchErr
	}
	return ctrl.Result{RequeueAfter: outcome.requeueAfter}, err
}

// reconcileProgram runs the steps in order and says how far they got.
func (r *LoyaltyProgramReconciler) reconcileProgram(ctx context.Context, p *loyaltyv1alpha1.LoyaltyProgram) (kstatus, error) {
	if p.Spec.Paused {
		return kstatus{
			ready:   meta.IsStatusConditionTrue(p.Status.Conditions, loyaltyv1alpha1.ConditionReady),
			reason:  ReasonPaused,
			message: "spec.paused is true: the engine keeps serving its last configuration and the operator changes nothing",
		}, nil
	}
	objs, err := loadProgramObjects(ctx, r.Client, p.Namespace, p.Name)
	if err != nil {
		return failed(err), err
	}
	resolution := render.Resolve(objs)

	steps := []struct {
		name string
		run  func(context.Context, *loyaltyv1alpha1.LoyaltyProgram) error
	}{
		{"service account", r.ensureServiceAccount},
		{"role", r.ensureRole},
		{"role binding", r.ensureRoleBinding},
		{"API key secret", r.ensureAPIKeys},
		{"event sink secrets", r.checkEventSecrets},
		{"configuration", func(ctx context.Context, p *loyaltyv1alpha1.LoyaltyProgram) error {
			return r.ensureConfigMap(ctx, p, resolution.Snapshot)
		}},
		{"workload", r.ensureWorkload},
		{"service", r.ensureService},
		{"disruption budget", r.ensureDisruptionBudget},
		{"network policy", r.ensureNetworkPolicy},
	}
	for _, step := range steps {
		if err := step.run(ctx, p); err != nil {
			if tooLarge := (*render.SnapshotTooLargeError)(nil); errors.As(err, &tooLarge) {
				return kstatus{stalled: true, reason: "SnapshotTooLarge", message: err.Error()}, nil
			}
			if missing := (*eventSecretError)(nil); errors.As(err, &missing) {
				return kstatus{stalled: true, reason: ReasonSecretNotFound, message: err.Error(), requeueAfter: secretRetry}, nil
			}
			err = fmt.Errorf("reconciling the %s: %w", step.name, err)
			return failed(err), err
		}
	}
	p.Status.Endpoint = fmt.Sprintf("http://%s.%s.svc", render.EngineName(p.Name), p.Namespace)
	p.Status.APIKeySecret = render.APIKeySecretName(p.Name)

	if resolution.ProgramProblem != "" {
		return kstatus{stalled: true, reason: ReasonInvalid, message: resolution.ProgramProblem}, nil
	}
	applied, err := r.observeConfigApplied(ctx, p)
	if err != nil {
		return failed(err), err
	}
	observeEventsDelivering(p, applied.reports)
	ready, readyMessage, err := r.engineAvailable(ctx, p)
	if err != nil {
		return failed(err), err
	}
	switch {
	case !ready:
		return kstatus{reason: ReasonEngineNotReady, message: readyMessage, inFlight: true, inFlightR: ReasonEngineNotReady}, nil
	case !applied.ok:
		return kstatus{reason: ReasonConfigPending, message: applied.message, inFlight: true, inFlightR: ReasonConfigPending}, nil
	}
	return kstatus{ready: true, reason: ReasonReconciled, message: fmt.Sprintf("%s; %s", readyMessage, applied.message)}, nil
}

// engineReport passes every change of an engine's report Lease: its
// annotations, which never bump a generation, are what the operator reads.
var engineReport = predicate.NewPredicateFuncs(func(o client.Object) bool {
	return o.GetLabels()[contract.LabelReport] == contract.ReportTrue
})

// deletionStarted passes the update that marks an object for deletion, which
// a finalizer must act on whether or not the generation changed.
var deletionStarted = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		return e.ObjectOld.GetDeletionTimestamp() == nil && e.ObjectNew.GetDeletionTimestamp() != nil
	},
	CreateFunc:  func(event.CreateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
}

func failed(err error) kstatus {
	return kstatus{reason: ReasonReconcileError, message: err.Error(), inFlight: true, inFlightR: ReasonReconcileError}
}

// SetupWithManager watches programs, everything they own, the objects that
// refer to them and the engines' reports. Status-only changes of the program
// itself do not trigger work.
func (r *LoyaltyProgramReconciler) SetupWithManager(mgr ctrl.Manager) error {
	specChanged := builder.WithPredicates(predicate.GenerationChangedPredicate{})
	isReport := builder.WithPredicates(engineReport)
	return ctrl.NewControllerManagedBy(mgr).
		For(&loyaltyv1alpha1.LoyaltyProgram{}, builder.WithPredicates(predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, deletionStarted))).
		Owns(&corev1.ServiceAccount{}).
		Owns(&rbacv1.Role{}).
		Owns(&rbacv1.RoleBinding{}).
		Owns(&corev1.Secret{}).
		Owns(&corev1.ConfigMap{}).
		Owns(&corev1.Service{}).
		Owns(&appsv1.StatefulSet{}).
		Owns(&appsv1.Deployment{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Owns(&networkingv1.NetworkPolicy{}).
		Watches(&loyaltyv1alpha1.Tier{}, enqueueProgram(), specChanged).
		Watches(&loyaltyv1alpha1.RewardCatalog{}, enqueueProgram(), specChanged).
		Watches(&loyaltyv1alpha1.Campaign{}, enqueueProgram(), specChanged).
		Watches(&coordinationv1.Lease{}, enqueueProgram(), isReport).
		Complete(r)
}

// ensure creates obj or patches it when mutate changes it, and never writes
// otherwise. It stamps the operator's labels and the controller reference.
func (r *LoyaltyProgramReconciler) ensure(ctx context.Context, p *loyaltyv1alpha1.LoyaltyProgram, obj client.Object, mutate func() error) error {
	_, err := controllerutil.CreateOrPatch(ctx, r.Client, obj, func() error {
		labels := obj.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		for k, v := range render.Labels(p.Name) {
			labels[k] = v
		}
		obj.SetLabels(labels)
		if err := mutate(); err != nil {
			return err
		}
		return controllerutil.SetControllerReference(p, obj, r.Scheme)
	})
	if err != nil {
		return fmt.Errorf("%T %s: %w", obj, obj.GetName(), err)
	}
	return nil
}
