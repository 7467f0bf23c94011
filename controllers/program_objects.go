package controllers

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
	"github.com/loyaltyops/loyalty-operator/contract"
	"github.com/loyaltyops/loyalty-operator/controllers/render"
)

// programRefIndex indexes Tiers, RewardCatalogs and Campaigns by the program they name.
const programRefIndex = "spec.programRef.name"

// SetupIndexes registers the field indexes the controllers list by.
func SetupIndexes(ctx context.Context, mgr ctrl.Manager) error {
	indexer := mgr.GetFieldIndexer()
	for _, obj := range []client.Object{&loyaltyv1alpha1.Tier{}, &loyaltyv1alpha1.RewardCatalog{}, &loyaltyv1alpha1.Campaign{}} {
		if err := indexer.IndexField(ctx, obj, programRefIndex, func(o client.Object) []string { return []string{o.(programPart).ProgramName()} }); err != nil {
			return fmt.Errorf("indexing %T by program: %w", obj, err)
		}
	}
	return nil
}

// loadProgramObjects reads a program and every object that refers to it. The
// program is nil when it does not exist.
func loadProgramObjects(ctx context.Context, c client.Reader, namespace, program string) (render.ProgramObjects, error) {
	var objs render.ProgramObjects
	var p loyaltyv1alpha1.LoyaltyProgram
	switch err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: program}, &p); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return objs, fmt.Errorf("reading LoyaltyProgram %s: %w", program, err)
	default:
		objs.Program = &p
	}
	inProgram := []client.ListOption{client.InNamespace(namespace), client.MatchingFields{programRefIndex: program}}
	var tiers loyaltyv1alpha1.TierList
	if err := c.List(ctx, &tiers, inProgram...); err != nil {
		return objs, fmt.Errorf("listing Tiers of program %s: %w", program, err)
	}
	var catalogs loyaltyv1alpha1.RewardCatalogList
	if err := c.List(ctx, &catalogs, inProgram...); err != nil {
		return objs, fmt.Errorf("listing RewardCatalogs of program %s: %w", program, err)
	}
	var campaigns loyaltyv1alpha1.CampaignList
	if err := c.List(ctx, &campaigns, inProgram...); err != nil {
		return objs, fmt.Errorf("listing Campaigns of program %s: %w", program, err)
	}
	objs.Tiers, objs.Catalogs, objs.Campaigns = live(tiers.Items), live(catalogs.Items), live(campaigns.Items)
	return objs, nil
}

// live drops objects being deleted: they no longer take part in the program.
func live[T any, PT interface {
	*T
	client.Object
}](items []T) []T {
	kept := items[:0]
	for i := range items {
		if PT(&items[i]).GetDeletionTimestamp() == nil {
			kept = append(kept, items[i])
		}
	}
	return kept
}

// programOf maps a Tier, RewardCatalog or Campaign to the program it names,
// a program to itself, and anything else (an engine report) to its program label.
func programOf(o client.Object) string {
	switch obj := o.(type) {
	case programPart:
		return obj.ProgramName()
	case *loyaltyv1alpha1.LoyaltyProgram:
		return obj.Name
	}
	return o.GetLabels()[contract.LabelProgram]
}

// enqueueProgram maps an object of a program to the program itself.
func enqueueProgram() handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		name := programOf(o)
		if name == "" {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
	})
}

// enqueueParts maps any object of a program to every object of one kind in
// that program: a Tier's status depends on its sibling Tiers, a Campaign's on
// the Tiers its audience names, and all of them on the program existing.
func enqueueParts(c client.Reader, list func() client.ObjectList) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		name := programOf(o)
		if name == "" {
			return nil
		}
		parts := list()
		if err := c.List(ctx, parts, client.InNamespace(o.GetNamespace()), client.MatchingFields{programRefIndex: name}); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "listing objects of program", "program", name)
			return nil
		}
		var requests []reconcile.Request
		_ = meta.EachListItem(parts, func(m runtime.Object) error {
			if obj, ok := m.(client.Object); ok {
				requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(obj)})
			}
			return nil
		})
		return requests
	})
}
