package controllers

import (
	"context"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
	"github.com/loyaltyops/loyalty-operator/controllers/render"
)

// programPart is a kind whose objects are parts of a program: Tier,
// RewardCatalog, Campaign. (A member is a customer, in the engine.)
type programPart interface {
	client.Object
	ProgramName() string
	StatusConditions() *[]metav1.Condition
	SetObservedGeneration(int64)
}

// partReconciler reports whether each object of one kind is in effect in
// its program. Tiers and RewardCatalogs need nothing more.
type partReconciler[T any, PT interface {
	*T
	programPart
}] struct {
	client.Client
	kind string
}

// Reconcile resolves the object's program and records the outcome in its status.
func (r *partReconciler[T, PT]) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj := PT(new(T))
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := obj.DeepCopyObject().(client.Object)
	status, err := partStatus(ctx, r.Client, obj.GetNamespace(), obj.ProgramName(), render.ObjectRef{Kind: r.kind, Name: obj.GetName()})
	if err != nil {
		return ctrl.Result{}, err
	}
	status.apply(obj.StatusConditions(), obj.GetGeneration())
	obj.SetObservedGeneration(obj.GetGeneration())
	return ctrl.Result{}, patchStatus(ctx, r.Client, obj, before)
}

// setupPartController watches the kind itself, its siblings and every kind
// whose change can change its standing, mapping each to the kind's objects in
// the same program.
func setupPartController(mgr ctrl.Manager, r reconcileFunc, forObj client.Object, list func() client.ObjectList, dependsOn ...client.Object) error {
	specChanged := builder.WithPredicates(predicate.GenerationChangedPredicate{})
	sameProgram := enqueueParts(mgr.GetClient(), list)
	b := ctrl.NewControllerManagedBy(mgr).For(forObj, specChanged)
	for _, obj := range append([]client.Object{forObj, &loyaltyv1alpha1.LoyaltyProgram{}}, dependsOn...) {
		if _, isLease := obj.(*coordinationv1.Lease); isLease {
			b = b.Watches(obj, sameProgram, builder.WithPredicates(engineReport))
			continue
		}
		b = b.Watches(obj, sameProgram, specChanged)
	}
	return b.Complete(r)
}

type reconcileFunc interface {
	Reconcile(context.Context, ctrl.Request) (ctrl.Result, error)
}
