package main

import (
	"context"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/loyaltyops/loyalty-operator/contract"
	"github.com/loyaltyops/loyalty-operator/controllers/render"
	"github.com/loyaltyops/loyalty-operator/engine/report"
)

// standInIdentity names the engine replicas the bench stands in for.
const standInIdentity = "bench-stand-in"

// standIn works off a queue of object keys with a few workers. The queue
// never hands out one key to two workers at once, and each worker reads the
// newest state from the cache, so a burst of changes to one object ends in
// exactly the last one being acted on.
type standIn struct {
	queue   workqueue.TypedInterface[string]
	handle  func(ctx context.Context, key string) error
	workers int
	name    string
}

func newStandIn(name string, workers int, handle func(context.Context, string) error) *standIn {
	return &standIn{queue: workqueue.NewTyped[string](), handle: handle, workers: workers, name: name}
}

func (s *standIn) enqueue(obj any) {
	if key, ok := objectKeyOf(obj); ok {
		s.queue.Add(key)
	}
}

func (s *standIn) run(ctx context.Context, wg *sync.WaitGroup) {
	for w := 0; w < s.workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				key, shutdown := s.queue.Get()
				if shutdown {
					return
				}
				if err := s.handle(ctx, key); err != nil && ctx.Err() == nil {
					logf("%s: %s: %v; retrying", s.name, key, err)
					s.queue.Done(key)
					s.queue.Add(key)
					continue
				}
				s.queue.Done(key)
			}
		}()
	}
	go func() {
		<-ctx.Done()
		s.queue.ShutDown()
	}()
}

// kubeletStandIn sets an engine StatefulSet's status the way the StatefulSet
// controller does once its pods run and are ready: every replica available
// and updated, the current generation observed. It writes only when the
// status says otherwise, so it is silent while nothing changes.
func kubeletStandIn(c client.Client, reader cache.Cache) func(context.Context, string) error {
	return func(ctx context.Context, key string) error {
		var sts appsv1.StatefulSet
		if err := reader.Get(ctx, keyOf(key), &sts); err != nil {
			return client.IgnoreNotFound(err)
		}
		want := int32(1)
		if sts.Spec.Replicas != nil {
			want = *sts.Spec.Replicas
		}
		revision := sts.Name + "-bench"
		s := sts.Status
		if s.ObservedGeneration == sts.Generation && s.Replicas == want && s.ReadyReplicas == want && s.AvailableReplicas == want &&
			s.UpdatedReplicas == want && s.CurrentRevision == revision && s.UpdateRevision == revision {
			return nil
		}
		before := sts.DeepCopy()
		sts.Status = appsv1.StatefulSetStatus{
			ObservedGeneration: sts.Generation, Replicas: want, ReadyReplicas: want, AvailableReplicas: want,
			UpdatedReplicas: want, CurrentReplicas: want, CurrentRevision: revision, UpdateRevision: revision,
		}
		return c.Status().Patch(ctx, &sts, client.MergeFrom(before), client.FieldOwner(benchUser))
	}
}

// engineStandIn reports, for the programs without a real engine, that their
// one replica applied the snapshot now in the ConfigMap, through the same
// report Lease and code a real engine uses. A real engine also parses and
// swaps in the snapshot first; that cost is measured on the real engine.
func engineStandIn(clientset kubernetes.Interface, reader cache.Cache, realEngine func(namespace string) bool) func(context.Context, string) error {
	var mu sync.Mutex
	reported := map[string]string{}
	return func(ctx context.Context, key string) error {
		var cm corev1.ConfigMap
		if err := reader.Get(ctx, keyOf(key), &cm); err != nil {
			return client.IgnoreNotFound(err)
		}
		if cm.Name != render.ConfigMapName(programName) || realEngine(cm.Namespace) {
			return nil
		}
		hash := cm.Data[contract.SnapshotHashKey]
		mu.Lock()
		done := reported[key] == hash
		mu.Unlock()
		if done || hash == "" {
			return nil
		}
		r := &report.Reporter{Client: clientset, Namespace: cm.Namespace, Program: programName, Identity: standInIdentity, Owners: cm.OwnerReferences}
		if err := r.Applied(ctx, hash); err != nil {
			return err
		}
		mu.Lock()
		reported[key] = hash
		mu.Unlock()
		return nil
	}
}

func keyOf(key string) client.ObjectKey {
	ns, name, _ := toolscache.SplitMetaNamespaceKey(key)
	return client.ObjectKey{Namespace: ns, Name: name}
}
