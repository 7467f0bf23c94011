package render_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
	"github.com/loyaltyops/loyalty-operator/contract"
	"github.com/loyaltyops/loyalty-operator/controllers/render"
	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/config/k8swatch"
)

func TestConfigMapSizes(t *testing.T) {
	p := &loyaltyv1alpha1.LoyaltyProgram{ObjectMeta: metav1.ObjectMeta{Name: "beans", Namespace: "shop"}}

	small := []byte(`{"version":"loyaltyops.io/snapshot/v1"}`)
	cm, err := render.ConfigMap(p, small, "h1")
	if err != nil || cm.Data[contract.SnapshotKey] != string(small) || cm.BinaryData != nil {
		t.Fatalf("a small snapshot is stored as text: %v %v", err, cm)
	}

	large := []byte(`{"rewards":[` + strings.Repeat(`{"id":"reward","displayName":"A reward members like","cost":100},`, 20000) + `{}]}`)
	cm, err = render.ConfigMap(p, large, "h2")
	if err != nil {
		t.Fatalf("a large but compressible snapshot must fit: %v", err)
	}
	if _, ok := cm.Data[contract.SnapshotKey]; ok {
		t.Fatal("the uncompressed copy must not be kept next to the compressed one")
	}
	zr, err := gzip.NewReader(bytes.NewReader(cm.BinaryData[contract.SnapshotGzipKey]))
	if err != nil {
		t.Fatal(err)
	}
	round, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(round, large) {
		t.Fatalf("the compressed snapshot does not round-trip: %v", err)
	}
	if cm.Data[contract.SnapshotHashKey] != "h2" {
		t.Error("the hash must stay readable as text")
	}

	noise := make([]byte, render.MaxSnapshotBytes)
	if _, err := rand.Read(noise); err != nil {
		t.Fatal(err)
	}
	_, err = render.ConfigMap(p, []byte(base64.StdEncoding.EncodeToString(noise)), "h3")
	var tooLarge *render.SnapshotTooLargeError
	if !errors.As(err, &tooLarge) {
		t.Fatalf("an incompressible oversized snapshot must be refused, not truncated; got %v", err)
	}
}

// TestEngineLoadsTheRenderedConfigMap hands the ConfigMap the operator
// renders to the engine's ConfigMap watch, through a fake API server, with
// the key the engine uses unless told otherwise: the engine must apply the
// very snapshot the operator rendered, stored as text and compressed alike.
func TestEngineLoadsTheRenderedConfigMap(t *testing.T) {
	tests := []struct {
		name       string
		catalogs   int
		compressed bool
	}{
		{name: "text", catalogs: 1},
		{name: "compressed", catalogs: 10, compressed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := program()
			objs := render.ProgramObjects{Program: p, Tiers: []loyaltyv1alpha1.Tier{tier("bronze", 0, epoch)}}
			for c := range tt.catalogs {
				objs.Catalogs = append(objs.Catalogs, catalog(fmt.Sprintf("catalog-%d", c), epoch, bulkyRewards(c, 500)...))
			}
			res := render.Resolve(objs)
			if res.Snapshot == nil {
				t.Fatalf("no snapshot: %+v", res)
			}
			data, err := res.Snapshot.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			cm, err := render.ConfigMap(p, data, res.Snapshot.Hash())
			if err != nil {
				t.Fatal(err)
			}
			if got := cm.BinaryData != nil; got != tt.compressed {
				t.Fatalf("compressed = %v for %d bytes, want %v", got, len(data), tt.compressed)
			}

			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			h := config.NewHolder(nil)
			if err := k8swatch.Watch(ctx, fake.NewClientset(cm), h, p.Namespace, render.ConfigMapName(p.Name), contract.SnapshotKey); err != nil {
				t.Fatal(err)
			}
			// The watch's handler may apply the first list just after Watch returns.
			deadline := time.Now().Add(10 * time.Second)
			for h.Status().Hash != res.Snapshot.Hash() && h.Status().LastError == "" && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if st := h.Status(); st.Hash != res.Snapshot.Hash() || st.LastError != "" {
				t.Fatalf("the engine holds %+v, want snapshot %s", st, res.Snapshot.Hash())
			}
		})
	}
}

// bulkyRewards are n rewards with the longest names the API allows, so that
// ten catalogs of them exceed what a ConfigMap holds uncompressed.
func bulkyRewards(catalog, n int) []loyaltyv1alpha1.Reward {
	rewards := make([]loyaltyv1alpha1.Reward, n)
	for i := range rewards {
		rewards[i] = reward(fmt.Sprintf("reward-%d-%d-%s", catalog, i, strings.Repeat("x", 40)), "")
		rewards[i].DisplayName = strings.Repeat("A reward members like. ", 5)
	}
	return rewards
}
