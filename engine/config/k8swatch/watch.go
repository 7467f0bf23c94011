// Package k8swatch loads the engine's configuration snapshot from a single
// ConfigMap through the Kubernetes API and re-applies it on every change.
// It is kept apart from package config so that the configuration contract
// itself does not depend on client-go.
package k8swatch

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/loyaltyops/loyalty-operator/contract"
	"github.com/loyaltyops/loyalty-operator/engine/config"
)

// Watch watches the ConfigMap namespace/name and applies its data[key] to h
// on every change (the operator writes it under contract.SnapshotKey), until ctx ends. It returns once the first list has been
// processed; a ConfigMap that does not exist yet is recorded as an error in h
// (the engine stays not ready) and applied as soon as it is created. Deleting
// the ConfigMap keeps the last good snapshot. The watch is restricted to the
// one object by a field selector, so the engine needs get, list and watch on
// ConfigMaps in its namespace only.
func Watch(ctx context.Context, client kubernetes.Interface, h *config.Holder, namespace, name, key string) error {
	source := fmt.Sprintf("configmap %s/%s", namespace, name)
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
		}))
	inf := factory.Core().V1().ConfigMaps().Informer()
	apply := func(obj any) {
		cm, ok := obj.(*corev1.ConfigMap)
		if !ok || cm.Name != name {
			return
		}
		data, err := snapshotData(cm, key)
		if err != nil {
			h.Reject(source, err)
			return
		}
		_ = h.Apply(source, data) // a rejection is recorded and logged by the holder
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    apply,
		UpdateFunc: func(_, obj any) { apply(obj) },
		DeleteFunc: func(any) {
			h.Reject(source, errors.New("ConfigMap deleted; keeping the last good configuration"))
		},
	}); err != nil {
		return fmt.Errorf("watch %s: %w", source, err)
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return fmt.Errorf("watch %s: %w", source, context.Cause(ctx))
	}
	if _, exists, err := inf.GetStore().GetByKey(namespace + "/" + name); err == nil && !exists {
		h.Reject(source, errors.New("ConfigMap not found; waiting for it to be created"))
	}
	return nil
}

// snapshotData reads data[key], or binaryData[contract.GzipKey(key)] where
// the operator stores a snapshot too large for a ConfigMap uncompressed.
func snapshotData(cm *corev1.ConfigMap, key string) ([]byte, error) {
	if data, ok := cm.Data[key]; ok {
		return []byte(data), nil
	}
	gzipKey := contract.GzipKey(key)
	compressed, ok := cm.BinaryData[gzipKey]
	if !ok {
		return nil, fmt.Errorf("neither key %q nor binary key %q found in the ConfigMap", key, gzipKey)
	}
	zr, err := gzip.NewReader(bytes.NewReader(compressed))
	if err != nil {
		return nil, fmt.Errorf("binary key %q: %w", gzipKey, err)
	}
	data, err := io.ReadAll(io.LimitReader(zr, maxSnapshotBytes+1))
	if err != nil {
		return nil, fmt.Errorf("binary key %q: %w", gzipKey, err)
	}
	if len(data) > maxSnapshotBytes {
		return nil, fmt.Errorf("binary key %q: the snapshot exceeds %d bytes uncompressed", gzipKey, maxSnapshotBytes)
	}
	return data, nil
}

// maxSnapshotBytes bounds a decompressed snapshot, so a corrupt or hostile
// ConfigMap cannot exhaust the engine's memory.
const maxSnapshotBytes = 64 << 20
