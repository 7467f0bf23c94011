package controllers

import (
	"context"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
	"github.com/loyaltyops/loyalty-operator/controllers/render"
)

// TierReconciler reports whether each Tier is in effect in its program.
type TierReconciler struct {
	client.Client
}

// Reconcile resolves the tier's program and records the outcome in its status.
func (r *TierReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var tier loyaltyv1alpha1.Tier
	if err := r.Get(ctx, req.NamespacedName, &tier); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := tier.DeepCopy()
	status, err := memberStatus(ctx, r.Client, tier.Namespace, tier.Spec.ProgramRef.Name, render.ObjectRef{Kind: "Tier", Name: tier.Name})
	if err != nil {
		return ctrl.Result{}, err
	}
	status.apply(&tier.Status.Conditions, tier.Generation)
	tier.Status.ObservedGeneration = tier.Generation
	return ctrl.Result{}, patchStatus(ctx, r.Client, &tier, before)
}

// SetupWithManager watches Tiers, and every object whose change can change a
// Tier's standing: its program and its sibling Tiers.
func (r *TierReconciler) SetupWithManager(mgr ctrl.Manager) error {
	tiersOfProgram := enqueueMembers(mgr.GetClient(), func() client.ObjectList { return &loyaltyv1alpha1.TierList{} })
	return ctrl.NewControllerManagedBy(mgr).
		For(&loyaltyv1alpha1.Tier{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&loyaltyv1alpha1.Tier{}, tiersOfProgram, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&loyaltyv1alpha1.LoyaltyProgram{}, tiersOfProgram, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(r)
}

// RewardCatalogReconciler reports whether each RewardCatalog is in effect in its program.
type RewardCatalogReconciler struct {
	client.Client
}

// Reconcile resolves the catalog's program and records the outcome in its status.
func (r *RewardCatalogReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var catalog loyaltyv1alpha1.RewardCatalog
	if err := r.Get(ctx, req.NamespacedName, &catalog); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := catalog.DeepCopy()
	status, err := memberStatus(ctx, r.Client, catalog.Namespace, catalog.Spec.ProgramRef.Name, render.ObjectRef{Kind: "RewardCatalog", Name: catalog.Name})
	if err != nil {
		return ctrl.Result{}, err
	}
	status.apply(&catalog.Status.Conditions, catalog.Generation)
	catalog.Status.ObservedGeneration = catalog.Generation
	return ctrl.Result{}, patchStatus(ctx, r.Client, &catalog, before)
}

// SetupWithManager watches RewardCatalogs, their program, sibling catalogs
// (reward ids are unique per program) and Tiers (a reward's minimum tier).
func (r *RewardCatalogReconciler) SetupWithManager(mgr ctrl.Manager) error {
	catalogsOfProgram := enqueueMembers(mgr.GetClient(), func() client.ObjectList { return &loyaltyv1alpha1.RewardCatalogList{} })
	return ctrl.NewControllerManagedBy(mgr).
		For(&loyaltyv1alpha1.RewardCatalog{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&loyaltyv1alpha1.RewardCatalog{}, catalogsOfProgram, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&loyaltyv1alpha1.Tier{}, catalogsOfProgram, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&loyaltyv1alpha1.LoyaltyProgram{}, catalogsOfProgram, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(r)
}
