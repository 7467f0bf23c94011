package controllers

import (
	"context"
	"fmt"
	"sort"
	"strings"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
	"github.com/loyaltyops/loyalty-operator/contract"
	"github.com/loyaltyops/loyalty-operator/controllers/render"
	"github.com/loyaltyops/loyalty-operator/engine/config"
)

// ensureConfigMap writes the rendered snapshot and its hash. Without a valid
// snapshot the ConfigMap keeps the last good one, so engines keep serving.
func (r *LoyaltyProgramReconciler) ensureConfigMap(ctx context.Context, p *loyaltyv1alpha1.LoyaltyProgram, snap *config.Snapshot) error {
	if snap == nil {
		return nil
	}
	data, err := snap.Marshal()
	if err != nil {
		return fmt.Errorf("marshalling the snapshot: %w", err)
	}
	hash := snap.Hash()
	desired, err := render.ConfigMap(p, data, hash)
	if err != nil {
		return err
	}
	cm := &corev1.ConfigMap{ObjectMeta: named(p, desired.Name)}
	err = r.ensure(ctx, p, cm, func() error {
		if !equality.Semantic.DeepEqual(cm.Data, desired.Data) {
			cm.Data = desired.Data
		}
		if !equality.Semantic.DeepEqual(cm.BinaryData, desired.BinaryData) {
			cm.BinaryData = desired.BinaryData
		}
		return nil
	})
	if err != nil {
		return err
	}
	p.Status.SnapshotHash = hash
	return nil
}

func (r *LoyaltyProgramReconciler) ensureAPIKeys(ctx context.Context, p *loyaltyv1alpha1.LoyaltyProgram) error {
	secret := &corev1.Secret{ObjectMeta: named(p, render.APIKeySecretName(p.Name))}
	return r.ensure(ctx, p, secret, func() error {
		if secret.Data == nil {
			secret.Data = map[string][]byte{}
		}
		_, err := render.FillAPIKeys(secret.Data, r.Random)
		return err
	})
}

type configApplied struct {
	ok      bool
	message string
	// reports are the live replicas' reports.
	reports []coordinationv1.Lease
}

// observeConfigApplied reads the engine replicas' reports, drops those of
// pods that are gone, and sets ConfigApplied.
func (r *LoyaltyProgramReconciler) observeConfigApplied(ctx context.Context, p *loyaltyv1alpha1.LoyaltyProgram) (configApplied, error) {
	var leases coordinationv1.LeaseList
	if err := r.List(ctx, &leases, client.InNamespace(p.Namespace), client.MatchingLabels{contract.LabelProgram: p.Name, contract.LabelReport: contract.ReportTrue}); err != nil {
		return configApplied{}, fmt.Errorf("listing engine reports: %w", err)
	}
	want := p.Spec.Engine.Replicas
	if want < 1 {
		want = 1
	}
	var applied int32
	var behind []string
	var live []coordinationv1.Lease
	for i := range leases.Items {
		lease := &leases.Items[i]
		if gone, err := r.reportOrphaned(ctx, lease); err != nil {
			return configApplied{}, err
		} else if gone {
			continue
		}
		live = append(live, *lease)
		if lease.Annotations[contract.AnnotationAppliedSnapshot] == p.Status.SnapshotHash {
			applied++
		} else {
			behind = append(behind, fmt.Sprintf("%s runs %s", holder(lease), short(lease.Annotations[contract.AnnotationAppliedSnapshot])))
		}
	}
	sort.Strings(behind)
	p.Status.AppliedReplicas = applied
	result := configApplied{ok: len(behind) == 0 && applied >= want, reports: live}
	switch {
	case result.ok:
		result.message = fmt.Sprintf("%s run snapshot %s", replicasText(applied), short(p.Status.SnapshotHash))
	case len(behind) > 0:
		result.message = fmt.Sprintf("%d of %d engine replicas run snapshot %s; %s", applied, want, short(p.Status.SnapshotHash), strings.Join(behind, ", "))
	default:
		result.message = fmt.Sprintf("%d of %d engine replicas report snapshot %s", applied, want, short(p.Status.SnapshotHash))
	}
	status, reason := metav1.ConditionFalse, ReasonConfigPending
	if result.ok {
		status, reason = metav1.ConditionTrue, ReasonConfigApplied
	}
	meta.SetStatusCondition(&p.Status.Conditions, metav1.Condition{
		Type: ConditionConfigApplied, Status: status, Reason: reason, Message: result.message, ObservedGeneration: p.Generation,
	})
	return result, nil
}

// reportOrphaned deletes the report of a replica whose pod no longer exists:
// a replica killed without a clean shutdown cannot withdraw its own.
func (r *LoyaltyProgramReconciler) reportOrphaned(ctx context.Context, lease *coordinationv1.Lease) (bool, error) {
	pod := lease.Labels[contract.LabelPod]
	if pod == "" {
		return false, nil
	}
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: lease.Namespace, Name: pod}, &corev1.Pod{})
	if !apierrors.IsNotFound(err) {
		return false, client.IgnoreNotFound(err)
	}
	if err := r.Delete(ctx, lease); err != nil && !apierrors.IsNotFound(err) {
		return false, fmt.Errorf("deleting the report of pod %s: %w", pod, err)
	}
	return true, nil
}

func replicasText(n int32) string {
	if n == 1 {
		return "1 engine replica"
	}
	return fmt.Sprintf("%d engine replicas", n)
}

func holder(l *coordinationv1.Lease) string {
	if l.Spec.HolderIdentity != nil {
		return *l.Spec.HolderIdentity
	}
	return l.Name
}

func short(hash string) string {
	if hash == "" {
		return "(none)"
	}
	if len(hash) > 12 {
		return hash[:12]
	}
	return hash
}
