// Package report tells the operator which configuration snapshot an engine
// replica has applied. Each replica keeps one Lease in the program's
// namespace, labelled with the program and annotated with the applied
// snapshot's hash, under the names of package contract that the operator
// reads. It is written when the hash changes and deleted on a clean
// shutdown, never on a timer, so a steady engine makes no API writes. The
// same mechanism works for a replica in a pod and for an engine run as a
// plain process against the cluster.
package report

import (
	"context"
	"errors"
	"fmt"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/loyaltyops/loyalty-operator/contract"
)

// Reporter writes one replica's report.
type Reporter struct {
	Client    kubernetes.Interface
	Namespace string
	Program   string
	// Identity names the replica: its pod name in a cluster, or a host-based name for a plain process.
	Identity string
	// Pod is the replica's pod name; empty outside a pod.
	Pod string
	// Owners become the Lease's owner references (not as controller), so the
	// report is garbage-collected with the program. The engine copies them
	// from the ConfigMap it reads.
	Owners []metav1.OwnerReference
}

// Applied records that the replica now runs the snapshot with this hash. It
// writes only when the Lease is missing or names another hash.
func (r *Reporter) Applied(ctx context.Context, hash string) error {
	leases := r.Client.CoordinationV1().Leases(r.Namespace)
	name := contract.ReportLeaseName(r.Program, r.Identity)
	existing, err := leases.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		lease := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: r.Namespace},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: &r.Identity},
		}
		r.stamp(&lease.ObjectMeta, hash)
		if _, err := leases.Create(ctx, lease, metav1.CreateOptions{FieldManager: "points-engine"}); err != nil {
			return fmt.Errorf("creating report lease %s/%s: %w", r.Namespace, name, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("reading report lease %s/%s: %w", r.Namespace, name, err)
	}
	if existing.Annotations[contract.AnnotationAppliedSnapshot] == hash && existing.Labels[contract.LabelProgram] == r.Program {
		return nil
	}
	r.stamp(&existing.ObjectMeta, hash)
	if _, err := leases.Update(ctx, existing, metav1.UpdateOptions{FieldManager: "points-engine"}); err != nil {
		return fmt.Errorf("updating report lease %s/%s: %w", r.Namespace, name, err)
	}
	return nil
}

// Exhausted records the campaigns whose budget is spent. It writes only when
// the list changes, and only once the replica has reported a snapshot: the
// Lease is created by Applied.
func (r *Reporter) Exhausted(ctx context.Context, campaigns []string) error {
	value := contract.FormatExhaustedCampaigns(campaigns)
	leases := r.Client.CoordinationV1().Leases(r.Namespace)
	name := contract.ReportLeaseName(r.Program, r.Identity)
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		lease, err := leases.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading report lease %s/%s: %w", r.Namespace, name, err)
		}
		if lease.Annotations[contract.AnnotationExhaustedCampaigns] == value {
			return nil
		}
		if value == "" {
			delete(lease.Annotations, contract.AnnotationExhaustedCampaigns)
		} else {
			lease.Annotations[contract.AnnotationExhaustedCampaigns] = value
		}
		if _, err := leases.Update(ctx, lease, metav1.UpdateOptions{FieldManager: "points-engine"}); err != nil {
			return fmt.Errorf("updating report lease %s/%s: %w", r.Namespace, name, err)
		}
		return nil
	})
}

// ErrNotReported is returned by Delivery before the replica's Lease exists:
// Applied creates it with the first snapshot.
var ErrNotReported = errors.New("the replica has not reported a snapshot yet")

// Delivery records the event sinks that fail (see contract.SinkHealth). It
// writes only when the list changes; an empty list removes the annotation.
func (r *Reporter) Delivery(ctx context.Context, failing []contract.SinkHealth) error {
	value := contract.FormatEventsHealth(failing)
	leases := r.Client.CoordinationV1().Leases(r.Namespace)
	name := contract.ReportLeaseName(r.Program, r.Identity)
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		lease, err := leases.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return ErrNotReported
		}
		if err != nil {
			return fmt.Errorf("reading report lease %s/%s: %w", r.Namespace, name, err)
		}
		if lease.Annotations[contract.AnnotationEventsHealth] == value {
			return nil
		}
		if value == "" {
			delete(lease.Annotations, contract.AnnotationEventsHealth)
		} else {
			if lease.Annotations == nil {
				lease.Annotations = map[string]string{}
			}
			lease.Annotations[contract.AnnotationEventsHealth] = value
		}
		if _, err := leases.Update(ctx, lease, metav1.UpdateOptions{FieldManager: "points-engine"}); err != nil {
			return fmt.Errorf("updating report lease %s/%s: %w", r.Namespace, name, err)
		}
		return nil
	})
}

// Withdraw deletes the replica's report, on a clean shutdown.
func (r *Reporter) Withdraw(ctx context.Context) error {
	name := contract.ReportLeaseName(r.Program, r.Identity)
	err := r.Client.CoordinationV1().Leases(r.Namespace).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting report lease %s/%s: %w", r.Namespace, name, err)
	}
	return nil
}

func (r *Reporter) stamp(m *metav1.ObjectMeta, hash string) {
	if m.Labels == nil {
		m.Labels = map[string]string{}
	}
	m.Labels[contract.LabelProgram] = r.Program
	m.Labels[contract.LabelReport] = contract.ReportTrue
	if r.Pod != "" {
		m.Labels[contract.LabelPod] = r.Pod
	}
	if m.Annotations == nil {
		m.Annotations = map[string]string{}
	}
	m.Annotations[contract.AnnotationAppliedSnapshot] = hash
	if len(r.Owners) > 0 {
		owners := make([]metav1.OwnerReference, len(r.Owners))
		for i, o := range r.Owners {
			o.Controller = nil
			o.BlockOwnerDeletion = nil
			owners[i] = o
		}
		m.OwnerReferences = owners
	}
}
