package controllers

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
	"github.com/loyaltyops/loyalty-operator/controllers/render"
)

// dataFinalizer guards the one deletion garbage collection cannot do: the
// program's rows in PostgreSQL under retention policy Delete. The workloads
// and everything else go with their owner references, and the embedded
// store's volume claim with the StatefulSet's claim retention policy.
const dataFinalizer = "loyaltyops.io/member-data"

func needsDataFinalizer(p *loyaltyv1alpha1.LoyaltyProgram) bool {
	return render.UsesPostgres(p) && p.Spec.RetentionPolicy == loyaltyv1alpha1.RetentionDelete
}

// syncFinalizer adds the finalizer when the program's data must be deleted
// with it, and removes it when the retention policy no longer asks for that.
func (r *LoyaltyProgramReconciler) syncFinalizer(ctx context.Context, p *loyaltyv1alpha1.LoyaltyProgram) error {
	want := needsDataFinalizer(p)
	if want == controllerutil.ContainsFinalizer(p, dataFinalizer) {
		return nil
	}
	patch := client.MergeFrom(p.DeepCopy())
	if want {
		controllerutil.AddFinalizer(p, dataFinalizer)
	} else {
		controllerutil.RemoveFinalizer(p, dataFinalizer)
	}
	if err := r.Patch(ctx, p, patch); err != nil {
		return fmt.Errorf("updating finalizers: %w", err)
	}
	return nil
}

// finalize drops the program's PostgreSQL schema, then lets the program go.
func (r *LoyaltyProgramReconciler) finalize(ctx context.Context, p *loyaltyv1alpha1.LoyaltyProgram) error {
	if !controllerutil.ContainsFinalizer(p, dataFinalizer) {
		return nil
	}
	if needsDataFinalizer(p) {
		if err := r.dropPostgresSchema(ctx, p); err != nil {
			return fmt.Errorf("deleting member data (retentionPolicy Delete): %w", err)
		}
	}
	patch := client.MergeFrom(p.DeepCopy())
	controllerutil.RemoveFinalizer(p, dataFinalizer)
	if err := r.Patch(ctx, p, patch); err != nil {
		return fmt.Errorf("removing finalizer: %w", err)
	}
	return nil
}

func (r *LoyaltyProgramReconciler) dropPostgresSchema(ctx context.Context, p *loyaltyv1alpha1.LoyaltyProgram) error {
	ref := p.Spec.Engine.Storage.Postgres.URISecretRef
	key := ref.Key
	if key == "" {
		key = "uri"
	}
	var secret corev1.Secret
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: ref.Name}, &secret); err != nil {
		return fmt.Errorf("reading Secret %s for the connection URI: %w", ref.Name, err)
	}
	uri, ok := secret.Data[key]
	if !ok {
		return fmt.Errorf("secret %s has no key %q", ref.Name, key)
	}
	conn, err := pgx.Connect(ctx, string(uri))
	if err != nil {
		return fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	defer func() { _ = conn.Close(ctx) }()
	schema := render.PostgresSchema(p)
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		return fmt.Errorf("dropping schema %s: %w", schema, err)
	}
	return nil
}
