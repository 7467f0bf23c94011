package controllers

import (
	"context"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
	"github.com/loyaltyops/loyalty-operator/controllers/render"
)

// The optional NetworkPolicy is created and patched while spec.networkPolicy
// is enabled, and deleted when it is turned off.
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;patch;delete

// ensureNetworkPolicy keeps the engine's NetworkPolicy while the program
// enables it and removes it otherwise.
func (r *LoyaltyProgramReconciler) ensureNetworkPolicy(ctx context.Context, p *loyaltyv1alpha1.LoyaltyProgram) error {
	desired := render.NetworkPolicy(p)
	np := &networkingv1.NetworkPolicy{ObjectMeta: named(p, desired.Name)}
	if !render.NetworkPolicyEnabled(p) {
		return r.deleteOwned(ctx, p, np)
	}
	return r.ensure(ctx, p, np, func() error {
		// DeepEqual rather than DeepDerivative: a client removed from the
		// list must be removed from the policy, and the API server defaults
		// nothing in what is rendered.
		if !equality.Semantic.DeepEqual(desired.Spec, np.Spec) {
			np.Spec = desired.Spec
		}
		return nil
	})
}
