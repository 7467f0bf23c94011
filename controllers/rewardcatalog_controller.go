package controllers

import (
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
)

// setupRewardCatalogController: a catalog's standing also depends on Tiers
// (a reward's minimum tier); siblings matter because reward ids are unique per program.
func setupRewardCatalogController(mgr ctrl.Manager, c client.Client) error {
	r := &partReconciler[loyaltyv1alpha1.RewardCatalog, *loyaltyv1alpha1.RewardCatalog]{Client: c, kind: "RewardCatalog"}
	return setupPartController(mgr, r, &loyaltyv1alpha1.RewardCatalog{}, func() client.ObjectList { return &loyaltyv1alpha1.RewardCatalogList{} }, &loyaltyv1alpha1.Tier{})
}
