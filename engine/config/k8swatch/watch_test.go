package k8swatch

import (
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/loyaltyops/loyalty-operator/contract"
	"github.com/loyaltyops/loyalty-operator/engine/config"
)

// TestWatchConfigMap runs against a real API server (envtest): `make test`
// exports KUBEBUILDER_ASSETS from hack/envtest-assets.sh.
func TestWatchConfigMap(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run `export KUBEBUILDER_ASSETS=$(hack/envtest-assets.sh)` or use `make test`")
	}
	env := &envtest.Environment{}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start envtest: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	client := kubernetes.NewForConfigOrDie(cfg)
	ctx := t.Context()

	good, err := os.ReadFile("../testdata/snapshot.json")
	if err != nil {
		t.Fatal(err)
	}
	h := config.NewHolder(nil)
	if err := Watch(ctx, client, h, "default", "engine-config", contract.SnapshotKey); err != nil {
		t.Fatal(err)
	}
	if h.Current() != nil || !strings.Contains(h.Status().LastError, "ConfigMap not found") {
		t.Fatalf("before creation: current %v, status %+v", h.Current(), h.Status())
	}

	cms := client.CoreV1().ConfigMaps("default")
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "engine-config", Namespace: "default"},
		Data:       map[string]string{contract.SnapshotKey: string(good)},
	}
	// Another ConfigMap in the namespace must be ignored.
	other := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "default"}, Data: map[string]string{contract.SnapshotKey: "{}"}}
	if _, err := cms.Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if cm, err = cms.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return h.Current() != nil })
	first := h.Status()
	if first.Source != "configmap default/engine-config" || first.LastError != "" {
		t.Errorf("status after create = %+v", first)
	}

	cm.Data[contract.SnapshotKey] = strings.Replace(string(good), `"Europe/Berlin"`, `"Mars/Base"`, 1)
	if cm, err = cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return h.Status().LastError != "" })
	want := `configmap default/engine-config: invalid snapshot: campaigns[happy-hour].schedule.timeZone: unknown IANA time zone "Mars/Base"`
	if st := h.Status(); st.LastError != want || st.Hash != first.Hash {
		t.Errorf("after bad update: %+v, want error %q and hash %s kept", st, want, first.Hash)
	}

	cm.Data[contract.SnapshotKey] = strings.Replace(string(good), `"earnRate": "2.5"`, `"earnRate": "4"`, 1)
	if cm, err = cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return h.Status().Hash != first.Hash })
	if got := h.Current().Points.EarnRate.String(); got != "4" || h.Status().LastError != "" {
		t.Errorf("after good update: earn rate %s, status %+v", got, h.Status())
	}

	if err := cms.Delete(ctx, cm.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(h.Status().LastError, "ConfigMap deleted") })
	if h.Current() == nil || h.Current().Points.EarnRate.String() != "4" {
		t.Error("deleting the ConfigMap dropped the configuration")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
