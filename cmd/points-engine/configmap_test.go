package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/loyaltyops/loyalty-operator/contract"
	"github.com/loyaltyops/loyalty-operator/engine/config"
)

// TestConfigMapSource runs the binary against a real API server (envtest):
// it loads its snapshot from a ConfigMap, reports the applied hash in its
// Lease, follows an update, and withdraws the report on SIGTERM.
func TestConfigMapSource(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run `export KUBEBUILDER_ASSETS=$(hack/envtest-assets.sh)` or use `make test`")
	}
	testEnv := &envtest.Environment{}
	cfg, err := testEnv.Start()
	if err != nil {
		t.Fatalf("start envtest: %v", err)
	}
	t.Cleanup(func() { _ = testEnv.Stop() })
	client := kubernetes.NewForConfigOrDie(cfg)
	ctx := t.Context()

	dir := engineDir(t, "")
	kubeconfig := filepath.Join(dir, "kubeconfig")
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["envtest"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "envtest"}
	kc.CurrentContext = "envtest"
	if err := clientcmd.WriteToFile(*kc, kubeconfig); err != nil {
		t.Fatal(err)
	}

	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "club-engine", Namespace: "default"},
		Data:       map[string]string{contract.SnapshotKey: testSnapshot},
	}
	if cm, err = client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	snap, err := config.Parse([]byte(testSnapshot))
	if err != nil {
		t.Fatal(err)
	}

	t.Setenv(contract.EnvPodName, "club-engine-0")
	e := startEngineWith(t, buildEngine(t), dir, "--config-configmap=default/club-engine", "--kubeconfig="+kubeconfig)
	leases := client.CoordinationV1().Leases("default")
	leaseName := contract.ReportLeaseName("club", "club-engine-0")
	reported := func() string {
		l, err := leases.Get(ctx, leaseName, metav1.GetOptions{})
		if err != nil {
			return ""
		}
		return l.Annotations[contract.AnnotationAppliedSnapshot]
	}
	waitUntil(t, 10*time.Second, func() bool { return reported() == snap.Hash() })

	cm.Data[contract.SnapshotKey] = strings.Replace(testSnapshot, `"earnRate": "2"`, `"earnRate": "3"`, 1)
	if _, err := client.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	updated, _ := config.Parse([]byte(cm.Data[contract.SnapshotKey]))
	waitUntil(t, 10*time.Second, func() bool { return reported() == updated.Hash() })

	if err := e.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-e.exited:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, e.logText())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("engine did not stop")
	}
	if _, err := leases.Get(ctx, leaseName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("report not withdrawn on shutdown: %v", err)
	}
}
