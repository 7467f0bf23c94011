package controllers

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
	"github.com/loyaltyops/loyalty-operator/contract"
	"github.com/loyaltyops/loyalty-operator/controllers/render"
)

// Options configure the controllers.
type Options struct {
	// EngineImage is the engine image of programs that do not name one.
	EngineImage string
	// Clock is "now" for campaign phases; the real clock when nil.
	Clock clock.PassiveClock
	// Random generates API keys; crypto/rand when nil.
	Random io.Reader
}

// CacheOptions keep only the operator's own children and the engines'
// reports in the manager's cache, not every Secret and ConfigMap of the cluster.
func CacheOptions() cache.Options {
	ours := cache.ByObject{Label: labels.SelectorFromSet(labels.Set{render.LabelManagedBy: render.ManagerName})}
	return cache.Options{ByObject: map[client.Object]cache.ByObject{
		&corev1.Secret{}:                ours,
		&corev1.ConfigMap{}:             ours,
		&corev1.ServiceAccount{}:        ours,
		&corev1.Service{}:               ours,
		&rbacv1.Role{}:                  ours,
		&rbacv1.RoleBinding{}:           ours,
		&appsv1.StatefulSet{}:           ours,
		&appsv1.Deployment{}:            ours,
		&policyv1.PodDisruptionBudget{}: ours,
		&networkingv1.NetworkPolicy{}:   ours,
		&coordinationv1.Lease{}:         {Label: labels.SelectorFromSet(labels.Set{contract.LabelReport: contract.ReportTrue})},
	}}
}

// Setup registers the field indexes and every controller with the manager.
func Setup(ctx context.Context, mgr ctrl.Manager, opts Options) error {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Random == nil {
		opts.Random = rand.Reader
	}
	if err := SetupIndexes(ctx, mgr); err != nil {
		return err
	}
	writer := client.WithFieldOwner(mgr.GetClient(), FieldOwner)
	programs := &LoyaltyProgramReconciler{
		Client:      writer,
		Scheme:      mgr.GetScheme(),
		APIReader:   mgr.GetAPIReader(),
		EngineImage: opts.EngineImage,
		Random:      opts.Random,
	}
	if err := programs.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the LoyaltyProgram controller: %w", err)
	}
	if err := setupTierController(mgr, writer); err != nil {
		return fmt.Errorf("setting up the Tier controller: %w", err)
	}
	if err := setupRewardCatalogController(mgr, writer); err != nil {
		return fmt.Errorf("setting up the RewardCatalog controller: %w", err)
	}
	campaigns := &CampaignReconciler{Client: writer, Clock: opts.Clock, Recorder: mgr.GetEventRecorder(ManagerName)}
	// Engine reports matter to campaigns: they carry spent budgets.
	if err := setupPartController(mgr, campaigns, &loyaltyv1alpha1.Campaign{},
		func() client.ObjectList { return &loyaltyv1alpha1.CampaignList{} }, &loyaltyv1alpha1.Tier{}, &coordinationv1.Lease{}); err != nil {
		return fmt.Errorf("setting up the Campaign controller: %w", err)
	}
	return nil
}

// ManagerName names the operator in events.
const ManagerName = "loyalty-operator"
