package controllers

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
	"github.com/loyaltyops/loyalty-operator/controllers/render"
)

// Each ensure function changes only the fields the operator renders, and only
// when they differ from what is there (DeepDerivative ignores fields the API
// server defaulted), so a steady program makes no writes.

func named(p *loyaltyv1alpha1.LoyaltyProgram, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: p.Namespace}
}

func (r *LoyaltyProgramReconciler) ensureServiceAccount(ctx context.Context, p *loyaltyv1alpha1.LoyaltyProgram) error {
	desired := render.ServiceAccount(p)
	sa := &corev1.ServiceAccount{ObjectMeta: named(p, desired.Name)}
	return r.ensure(ctx, p, sa, func() error {
		sa.AutomountServiceAccountToken = desired.AutomountServiceAccountToken
		return nil
	})
}

func (r *LoyaltyProgramReconciler) ensureRole(ctx context.Context, p *loyaltyv1alpha1.LoyaltyProgram) error {
	desired := render.Role(p)
	role := &rbacv1.Role{ObjectMeta: named(p, desired.Name)}
	return r.ensure(ctx, p, role, func() error {
		if !equality.Semantic.DeepEqual(role.Rules, desired.Rules) {
			role.Rules = desired.Rules
		}
		return nil
	})
}

func (r *LoyaltyProgramReconciler) ensureRoleBinding(ctx context.Context, p *loyaltyv1alpha1.LoyaltyProgram) error {
	desired := render.RoleBinding(p)
	binding := &rbacv1.RoleBinding{ObjectMeta: named(p, desired.Name)}
	return r.ensure(ctx, p, binding, func() error {
		binding.RoleRef = desired.RoleRef
		if !equality.Semantic.DeepEqual(binding.Subjects, desired.Subjects) {
			binding.Subjects = desired.Subjects
		}
		return nil
	})
}

func (r *LoyaltyProgramReconciler) ensureService(ctx context.Context, p *loyaltyv1alpha1.LoyaltyProgram) error {
	desired := render.Service(p)
	svc := &corev1.Service{ObjectMeta: named(p, desired.Name)}
	return r.ensure(ctx, p, svc, func() error {
		// Only selector and ports: the cluster IP and other defaults belong to the API server.
		if !equality.Semantic.DeepDerivative(desired.Spec.Selector, svc.Spec.Selector) {
			svc.Spec.Selector = desired.Spec.Selector
		}
		if !equality.Semantic.DeepDerivative(desired.Spec.Ports, svc.Spec.Ports) {
			svc.Spec.Ports = desired.Spec.Ports
		}
		return nil
	})
}

// ensureWorkload runs the engine as a StatefulSet on the embedded store or a
// Deployment on PostgreSQL, and removes the other kind after a storage switch.
func (r *LoyaltyProgramReconciler) ensureWorkload(ctx context.Context, p *loyaltyv1alpha1.LoyaltyProgram) error {
	name := render.EngineName(p.Name)
	if render.UsesPostgres(p) {
		if err := r.deleteOwned(ctx, p, &appsv1.StatefulSet{ObjectMeta: named(p, name)}); err != nil {
			return err
		}
		desired := render.Deployment(p, r.EngineImage)
		deploy := &appsv1.Deployment{ObjectMeta: named(p, name)}
		return r.ensure(ctx, p, deploy, func() error {
			if deploy.Spec.Selector != nil {
				desired.Spec.Selector = deploy.Spec.Selector // immutable once created
			}
			if !equality.Semantic.DeepDerivative(desired.Spec, deploy.Spec) {
				deploy.Spec = desired.Spec
			}
			return nil
		})
	}
	if err := r.deleteOwned(ctx, p, &appsv1.Deployment{ObjectMeta: named(p, name)}); err != nil {
		return err
	}
	desired := render.StatefulSet(p, r.EngineImage)
	sts := &appsv1.StatefulSet{ObjectMeta: named(p, name)}
	return r.ensure(ctx, p, sts, func() error {
		if !sts.CreationTimestamp.IsZero() {
			// Selector, service name and claim templates cannot change after
			// creation; a new volume size needs the claim expanded by hand.
			desired.Spec.Selector = sts.Spec.Selector
			desired.Spec.ServiceName = sts.Spec.ServiceName
			desired.Spec.VolumeClaimTemplates = sts.Spec.VolumeClaimTemplates
		}
		if !equality.Semantic.DeepDerivative(desired.Spec, sts.Spec) {
			sts.Spec = desired.Spec
		}
		return nil
	})
}

// ensureDisruptionBudget keeps a PodDisruptionBudget while the engine has more than one replica.
func (r *LoyaltyProgramReconciler) ensureDisruptionBudget(ctx context.Context, p *loyaltyv1alpha1.LoyaltyProgram) error {
	desired := render.PodDisruptionBudget(p)
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: named(p, desired.Name)}
	if !render.UsesPostgres(p) || p.Spec.Engine.Replicas <= 1 {
		return r.deleteOwned(ctx, p, pdb)
	}
	return r.ensure(ctx, p, pdb, func() error {
		if !equality.Semantic.DeepDerivative(desired.Spec, pdb.Spec) {
			pdb.Spec = desired.Spec
		}
		return nil
	})
}

// deleteOwned deletes obj if it exists and this program controls it.
func (r *LoyaltyProgramReconciler) deleteOwned(ctx context.Context, p *loyaltyv1alpha1.LoyaltyProgram, obj client.Object) error {
	if err := r.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		return client.IgnoreNotFound(err)
	}
	if !metav1.IsControlledBy(obj, p) {
		return nil
	}
	if err := r.Delete(ctx, obj, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting %T %s: %w", obj, obj.GetName(), err)
	}
	return nil
}

// engineAvailable reports whether every engine replica is up and running the current pod template.
func (r *LoyaltyProgramReconciler) engineAvailable(ctx context.Context, p *loyaltyv1alpha1.LoyaltyProgram) (bool, string, error) {
	name := render.EngineName(p.Name)
	want := p.Spec.Engine.Replicas
	if want < 1 {
		want = 1
	}
	var observed, current bool
	var available int32
	if render.UsesPostgres(p) {
		var d appsv1.Deployment
		if err := r.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: name}, &d); err != nil {
			return false, "", fmt.Errorf("reading Deployment %s: %w", name, err)
		}
		observed = d.Status.ObservedGeneration >= d.Generation
		current = d.Status.UpdatedReplicas >= want
		available = d.Status.AvailableReplicas
	} else {
		var s appsv1.StatefulSet
		if err := r.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: name}, &s); err != nil {
			return false, "", fmt.Errorf("reading StatefulSet %s: %w", name, err)
		}
		observed = s.Status.ObservedGeneration >= s.Generation
		current = s.Status.UpdatedReplicas >= want || s.Status.CurrentRevision == s.Status.UpdateRevision
		available = s.Status.AvailableReplicas
	}
	if !observed || !current || available < want {
		return false, fmt.Sprintf("waiting for the engine: %d of %d replicas available", available, want), nil
	}
	return true, fmt.Sprintf("%d of %d engine replicas available", available, want), nil
}
