package controllers

import (
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
)

// setupTierController: a Tier's standing depends on its program and sibling Tiers (ranks).
func setupTierController(mgr ctrl.Manager, c client.Client) error {
	r := &partReconciler[loyaltyv1alpha1.Tier, *loyaltyv1alpha1.Tier]{Client: c, kind: "Tier"}
	return setupPartController(mgr, r, &loyaltyv1alpha1.Tier{}, func() client.ObjectList { return &loyaltyv1alpha1.TierList{} })
}
